#!/usr/bin/env python3
"""Reads JSON lines of `rlhf bench --json` and bench/torch_cpu.py (same fields) on stdin and prints
one Markdown table: tokens/s of each (the best of its runs), the ratio rlhf / PyTorch and whether
the target of issue "Engine" is met (training >= 1.2x, generation >= 1.0x). The target is judged
against the tuned PyTorch run ("torch"); rows of `torch_cpu.py --as-installed` ("torch-as-installed",
PyTorch's own thread defaults), when present, get two more columns for reference. Standard library
only."""
import json
import sys

TARGET = {"train": 1.2, "generate": 1.0}
best, order = {}, []
for ln in sys.stdin:
    ln = ln.strip()
    if not ln.startswith("{"):
        continue
    r = json.loads(ln)
    key = (r["shape"], r["mode"])
    if key not in order:
        order.append(key)
    side = r["impl"] if r["impl"] in ("rlhf", "torch-as-installed") else "torch"
    cur = best.setdefault(key, {})
    if side not in cur or r["tokens_per_s"] > cur[side]["tokens_per_s"]:
        cur[side] = r

plain = any("torch-as-installed" in c for c in best.values())
head = ["shape", "mode", "params", "batch×seq", "rlhf tok/s", "PyTorch tok/s", "ratio", "target", "met"]
if plain:
    head += ["PyTorch as installed tok/s", "ratio"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
missed = 0
for key in order:
    c = best[key]
    a, t = c.get("rlhf"), c.get("torch")
    ref = a or t
    ratio = a["tokens_per_s"] / t["tokens_per_s"] if a and t else None
    met = "" if ratio is None else ("yes" if ratio >= TARGET[key[1]] else "**no**")
    missed += met == "**no**"
    tps = lambda r: f"{r['tokens_per_s']:,.1f}" if r else "–"
    cells = [key[0], key[1], f"{ref['params'] / 1e6:.1f}M", f"{ref['batch']}×{ref['seq']}", tps(a), tps(t),
             f"{ratio:.2f}×" if ratio is not None else "", f"≥ {TARGET[key[1]]}×", met]
    if plain:
        p = c.get("torch-as-installed")
        cells += [tps(p), f"{a['tokens_per_s'] / p['tokens_per_s']:.2f}×" if a and p else ""]
    print("| " + " | ".join(cells) + " |")
print(f"\n{missed} of {len(order)} measurements below target." if missed else "\nEvery measurement meets its target.")
