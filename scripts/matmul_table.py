#!/usr/bin/env python3
"""Reads JSON lines of `rlhf bench matmul --json` and `bench/torch_cpu.py --mode matmul` on stdin
and prints one Markdown table per shape: each matrix product of a training step, GFLOP/s of
both and the ratio rlhf / PyTorch, then the step's products together (each timed alone, times
the number of times a step runs it). Standard library only."""
import json
import sys

rows, order = {}, []
for ln in sys.stdin:
    ln = ln.strip()
    if not ln.startswith("{"):
        continue
    r = json.loads(ln)
    if r.get("mode") != "matmul":
        continue
    key = (r["shape"], r["op"])
    if key not in rows:
        order.append(key)
    side = "rlhf" if r["impl"] == "rlhf" else "torch"
    cur = rows.setdefault(key, {})
    if side not in cur or r["seconds"] < cur[side]["seconds"]:
        cur[side] = r

shapes = []
for s, _ in order:
    if s not in shapes:
        shapes.append(s)
for s in shapes:
    print(f"\n{s}:\n")
    print("| product | M×K×N | per step | rlhf GFLOP/s | PyTorch GFLOP/s | ratio |")
    print("|---|---|---|---|---|---|")
    tot = {"rlhf": 0.0, "torch": 0.0}
    complete = True
    for key in order:
        if key[0] != s:
            continue
        c = rows[key]
        a, t = c.get("rlhf"), c.get("torch")
        ref = a or t
        for side in tot:
            if c.get(side):
                tot[side] += c[side]["seconds"] * c[side]["per_step"]
            else:
                complete = False
        g = lambda r: f"{r['gflops']:.1f}" if r else "–"
        ratio = f"{a['gflops'] / t['gflops']:.2f}×" if a and t else ""
        print(f"| {key[1]} | {'×'.join(str(d) for d in ref['mkn'])} | {ref['per_step']} | {g(a)} | {g(t)} | {ratio} |")
    if complete and tot["rlhf"] > 0:
        print(f"| **a step's products** | | | {tot['rlhf'] * 1e3:.0f} ms | {tot['torch'] * 1e3:.0f} ms | "
              f"**{tot['torch'] / tot['rlhf']:.2f}×** |")
