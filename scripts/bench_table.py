#!/usr/bin/env python3
"""Reads JSON lines of `rlhf bench --json` and bench/torch_cpu.py (same fields) on stdin and prints
one Markdown table: tokens/s of each (the best of its runs), the ratio rlhf / PyTorch and whether
the target of issue "Engine" is met (training >= 1.2x, generation >= 1.0x). Standard library only."""
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
    side = "rlhf" if r["impl"] == "rlhf" else "torch"
    cur = best.setdefault(key, {})
    if side not in cur or r["tokens_per_s"] > cur[side]["tokens_per_s"]:
        cur[side] = r

print("| shape | mode | params | batch×seq | rlhf tok/s | PyTorch tok/s | ratio | target | met |")
print("|---|---|---|---|---|---|---|---|---|")
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
    print("| " + " | ".join(cells) + " |")
print(f"\n{missed} of {len(order)} measurements below target." if missed else "\nEvery measurement meets its target.")
