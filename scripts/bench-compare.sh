#!/usr/bin/env bash
# scripts/bench-compare.sh (make bench-compare): rlhf's training step and
# KV-cache generation beside the same shapes in plain PyTorch on this CPU, in
# one run, printed as one table of tokens/s and ratios (rlhf / PyTorch).
#
# PyTorch is Debian's python3-torch with libopenblas0-pthread (Debian's default
# BLAS is the slow reference one); run as root with apt-get, this installs them
# when missing and says so. Both sides use every core this process may use,
# fp32. Shapes: see bench/bench.go (Shapes) and bench/torch_cpu.py (SHAPES).
# A benchmark, not a test: CI does not run it. Targets (issue "Engine"):
# training >= 1.2x PyTorch at every shape, generation >= 1.0x.
# Environment: RLHF (default bin/rlhf), SHAPES, PY (default /usr/bin/python3),
# ROUNDS (default 1: each shape/mode pair measured this many times, sides
# alternating, best of each kept), AS_INSTALLED (default 1: also measure
# PyTorch with its own thread defaults, torch_cpu.py --as-installed, shown
# for reference in two more columns; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
RLHF=${RLHF:-bin/rlhf}
PY=${PY:-/usr/bin/python3}
SHAPES=${SHAPES:-tiny mid gpt2-small-1x256 gpt2-small-4x256 qwen2-100m}
ROUNDS=${ROUNDS:-1}
AS_INSTALLED=${AS_INSTALLED:-1}

need=()
"$PY" -c 'import torch' 2>/dev/null || need+=(python3-torch)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench-compare: installing ${need[*]} (Debian's PyTorch and the multi-threaded OpenBLAS it should use)" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "bench-compare: needs ${need[*]}: sudo apt-get install ${need[*]}" >&2
		exit 1
	fi
fi
[ -x "$RLHF" ] || { echo "bench-compare: no binary at $RLHF (make build)" >&2; exit 1; }

res=$(mktemp)
trap 'rm -f "$res"' EXIT
for s in $SHAPES; do
	steps=3
	case $s in gpt2-small* | qwen2-100m) steps=2 ;; esac
	for mode in train generate; do
		for _ in $(seq "$ROUNDS"); do
			echo "bench-compare: $s $mode" >&2
			"$RLHF" bench "$mode" --shape "$s" --steps $steps --json >>"$res"
			"$PY" bench/torch_cpu.py --shape "$s" --mode "$mode" --steps $steps >>"$res"
			if [ "$AS_INSTALLED" = 1 ]; then
				"$PY" bench/torch_cpu.py --shape "$s" --mode "$mode" --steps $steps --as-installed >>"$res"
			fi
		done
	done
done
"$PY" scripts/bench_table.py <"$res"
