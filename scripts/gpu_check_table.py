#!/usr/bin/env python3
"""Prints scripts/gpu-check.sh's results as one Markdown table.

usage: gpu_check_table.py DIR   (DIR holds parity.jsonl, bench.jsonl, ppo/metrics.jsonl,
torch.txt, parts.txt and gpu.txt as gpu-check.sh writes them). Standard library only.
Targets (issue "Engine"): SFT >= 45% MFU and >= 1.2x PyTorch+transformers tokens/s."""
import json
import os
import re
import sys

d = sys.argv[1]


def lines(name):
    p = os.path.join(d, name)
    return open(p, encoding="utf-8").read().splitlines() if os.path.exists(p) else []


def jsonl(name):
    out = []
    for ln in lines(name):
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                out.append(json.loads(ln))
            except json.JSONDecodeError:
                pass
    return out


gpu = " ".join(lines("gpu.txt")) or "unknown device"
print(f"### rlhf GPU check: {gpu}\n")

parts = [ln.split() for ln in lines("parts.txt") if ln.strip()]
failed = [p for p in parts if p[1] != "0"]  # skipped parts count as failed

print("| part | what | rlhf | PyTorch+transformers | ratio | notes |")
print("|---|---|---|---|---|---|")
for r in jsonl("parity.jsonl"):
    ok = "ok" if r.get("ok") else "**FAIL**"
    print(f"| parity {r['dtype']} | {r['model']} max abs dlogit vs go | {r['max_diff_vs_go']:.3g} | | | "
          f"{ok} (tolerance {r['tolerance']:g} x max logit {r['max_abs_logit']:.3g}; vs reference {r['max_diff_vs_reference']:.3g}) |")

torch = {}
for ln in lines("torch.txt"):
    m = re.match(r"(\S+): params (\d+)M\s+train ([\d,.]+) tok/s", ln)
    if m:
        torch[(m.group(1), "train")] = float(m.group(3).replace(",", ""))
    m = re.match(r"(\S+): generate batch \d+, \d+ new tokens: ([\d,.]+) tok/s", ln)
    if m:
        torch[(m.group(1), "generate")] = float(m.group(2).replace(",", ""))

for r in jsonl("bench.jsonl"):
    t = torch.get((r["shape"], r["mode"]))
    ratio = f"{r['tokens_per_s'] / t:.2f}x" if t else ""
    mfu = f"MFU {100 * r['mfu']:.1f}%; " if r.get("mfu") else ""
    print(f"| {r['mode']} {r['dtype']} | {r['shape']} ({r['params'] / 1e6:.0f}M), {r['batch']}x{r['seq']} | "
          f"{r['tokens_per_s']:,.0f} tok/s | {f'{t:,.0f} tok/s' if t else ''} | {ratio} | "
          f"{mfu}first step (compile) {r['compile_seconds']:.1f} s |")

ppo = jsonl("ppo/metrics.jsonl")
if ppo:
    m = ppo[-1]
    total = sum(m.get(k, 0) for k in ("time_gen_s", "time_score_s", "time_train_s"))
    print(f"| ppo iteration | generate / score / train | {m.get('time_gen_s', 0):.1f} / {m.get('time_score_s', 0):.1f} / "
          f"{m.get('time_train_s', 0):.1f} s (total {total:.1f} s) | | | reward_mean {m.get('reward_mean', float('nan')):.3g}, "
          f"kl {m.get('kl', m.get('kl_mean', float('nan'))):.3g} |")

for p in parts:
    note = "ok" if p[1] == "0" else "skipped (deadline)" if p[1] == "skipped" else ("**TIMED OUT**" if p[1] in ("124", "137") else f"**FAILED rc={p[1]}**")
    print(f"| run | {p[0]} | {p[2]} s | | | {note} |")
sys.exit(1 if failed or any(not r.get("ok") for r in jsonl("parity.jsonl")) else 0)
