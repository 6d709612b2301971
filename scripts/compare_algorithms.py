#!/usr/bin/env python3
"""Compare PPO, GRPO, RLOO, REINFORCE++ and DPO on the demo's tiny task.

Usage: scripts/compare_algorithms.py [--rlhf bin/rlhf] [--demo demo-out] [--out compare-out]

Runs after `make demo`: every algorithm starts from the demo's SFT model
(demo-out/ckpt/sft), the RL ones against its reward model and prompts'
train split, DPO on its comparisons; then `rlhf eval` compares each
result with the SFT start on the held-out eval prompts, judged by the
demo's reward model (the proxy) and its gold judge. Prints one Markdown
table: wall time and peak RSS of each training run (from the child's
rusage), held-out win rates against SFT under the RM and the gold judge
with their 95% intervals, mean rewards and KL to SFT. Standard library
only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def run(cmd, log):
    """Runs cmd, appending its output to log; returns (seconds, peak RSS MiB)."""
    t0 = time.monotonic()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{cmd[1]} failed with exit {code}; see {log}")
    return secs, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rlhf", default="bin/rlhf")
    ap.add_argument("--demo", default="demo-out")
    ap.add_argument("--out", default="compare-out")
    ap.add_argument("--iterations", type=int, default=20, help="RL iterations (32 sequences each)")
    ap.add_argument("--dpo-steps", type=int, default=100)
    ap.add_argument("--backend", default="go")
    a = ap.parse_args()
    d = a.demo
    for need in ["ckpt/sft", "ckpt/rm", "instruct/ppo/prompts", "instruct/eval/prompts", "comparisons"]:
        if not os.path.exists(os.path.join(d, need)):
            sys.exit(f"{d}/{need} is missing: run `make demo` first (or pass --demo)")
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    log = os.path.join(a.out, "log.txt")
    common_rl = ["--policy", f"{d}/ckpt/sft", "--reward", f"{d}/ckpt/rm", "--prompts", f"{d}/instruct/ppo/prompts",
                 "--ptx", f"{d}/instruct/sft/sft/train", "--ptx-coef", "0.1", "--iterations", str(a.iterations),
                 "--mini-batch", "16", "--max-new-tokens", "24", "--max-prompt-len", "40", "--kl-coef", "0.2",
                 "--lr", "3e-4", "--seed", "1", "--log-samples", "0", "--backend", a.backend]
    runs = {
        # 32 sequences an iteration for every algorithm, as the demo's PPO.
        "ppo": ["ppo", "--algo", "ppo", "--rollout-batch", "32", "--critic-lr", "1e-3"] + common_rl,
        "grpo": ["ppo", "--algo", "grpo", "--rollout-batch", "8", "--num-samples", "4"] + common_rl,
        "rloo": ["ppo", "--algo", "rloo", "--rollout-batch", "8", "--num-samples", "4"] + common_rl,
        "reinforce++": ["ppo", "--algo", "reinforce++", "--rollout-batch", "32"] + common_rl,
        "dpo": ["dpo", "--model", f"{d}/ckpt/sft", "--data", f"{d}/comparisons", "--max-steps", str(a.dpo_steps),
                "--batch-size", "8", "--lr", "1e-4", "--max-seq-len", "64", "--seed", "1", "--backend", a.backend],
    }
    # The demo's gold judge (its pipeline.yaml): recall of the reference's
    # words plus a polite closing line.
    gold = ["--gold-fn", "recall", "--gold-fn", r"regex:(Hope this helps|Happy to help|Thank you for asking)!\s*$"]
    rows = []
    for name, args in runs.items():
        out = os.path.join(a.out, name.replace("+", "p"))
        secs, rss = run([a.rlhf, "--no-progress"] + args + ["--out", out], log)
        ev = out + "-eval"
        run([a.rlhf, "--no-progress", "eval", "--policy", out, "--baseline", f"{d}/ckpt/sft", "--reward", f"{d}/ckpt/rm",
             "--prompts", f"{d}/instruct/eval/prompts", "--max-new-tokens", "24", "--temperature", "0.7", "--seed", "1",
             "--out", ev, "--backend", a.backend] + gold, log)
        with open(os.path.join(ev, "eval.json")) as f:
            r = json.load(f)["all"]
        rows.append((name, secs, rss, r))
        print(f"{name}: {secs:.1f} s, {rss:.0f} MiB, win rate {r['win_rate']:.3f}, gold {r['gold']['win_rate']:.3f}", file=sys.stderr)
    print(f"| algorithm | train wall (s) | train peak RSS (MiB) | RM win rate vs SFT [95% CI] (n) | gold win rate vs SFT [95% CI] | reward policy / SFT | KL to SFT (nats) |")
    print("|---|---|---|---|---|---|---|")
    for name, secs, rss, r in rows:
        g = r["gold"]
        print(f"| {name} | {secs:.1f} | {rss:.0f} | {r['win_rate']:.3f} [{r['win_rate_ci_low']:.2f}, {r['win_rate_ci_high']:.2f}] ({r['n']}) "
              f"| {g['win_rate']:.3f} [{g['win_rate_ci_low']:.2f}, {g['win_rate_ci_high']:.2f}] "
              f"| {r['reward_policy']:.3f} / {r['reward_baseline']:.3f} | {r['kl_to_baseline']:.3f} |")


if __name__ == "__main__":
    main()
