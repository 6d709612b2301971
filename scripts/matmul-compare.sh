#!/usr/bin/env bash
# scripts/matmul-compare.sh: the matrix products of a training step, one by
# one, in rlhf (`rlhf bench matmul`, GoMLX's go backend) and in PyTorch
# (bench/torch_cpu.py --mode matmul, OpenBLAS), in one run, as one table per
# shape of GFLOP/s and ratios. It shows how much of `make bench-compare`'s
# training gap is the matrix-multiply kernels themselves. Needs what
# bench-compare needs (Debian's python3-torch, libopenblas0-pthread).
# Environment: RLHF (default bin/rlhf), SHAPES (default: bench-compare's
# training shapes), PY (default /usr/bin/python3), REPS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
RLHF=${RLHF:-bin/rlhf}
PY=${PY:-/usr/bin/python3}
SHAPES=${SHAPES:-tiny mid gpt2-small-1x256 gpt2-small-4x256 qwen2-100m}
REPS=${REPS:-5}
"$PY" -c 'import torch' 2>/dev/null || { echo "matmul-compare: needs python3-torch and libopenblas0-pthread (make bench-compare installs them)" >&2; exit 1; }
[ -x "$RLHF" ] || { echo "matmul-compare: no binary at $RLHF (make build)" >&2; exit 1; }
res=$(mktemp)
trap 'rm -f "$res"' EXIT
for s in $SHAPES; do
	echo "matmul-compare: $s" >&2
	"$RLHF" bench matmul --shape "$s" --steps "$REPS" --json >>"$res"
	"$PY" bench/torch_cpu.py --shape "$s" --mode matmul --steps "$REPS" >>"$res"
done
"$PY" scripts/matmul_table.py <"$res"
