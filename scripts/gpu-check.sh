#!/usr/bin/env bash
# scripts/gpu-check.sh: rlhf's one-command GPU check, in well under 10 minutes.
#
# On a GPU machine with Python, PyTorch, transformers and JAX's CUDA PJRT
# plugin (no Go toolchain, no network needed), with the binary built where Go
# is (`make gpu-bundle` puts a stripped bin into gpu/rlhf beside
# ../shared/gpu's gpu-env.sh and torch_baseline.py):
#
#     scripts/gpu-check.sh            # on the GPU, bf16
#     scripts/gpu-check.sh --cpu      # the same parts on the go backend at tiny shapes (tested in CI)
#
# Parts, each with its own time limit so one stuck part does not hide the rest:
#   a. parity: logits of the golden gpt2/llama/qwen2/bloom models (testdata/models)
#      on the backend against the go backend (float32, and bfloat16 on the GPU);
#   b. train-step and KV-cache generation tokens/s and MFU (6·N·tokens/s over the
#      card's dense bf16 peak, $PEAK_TFLOPS, default 989 for H100/H200) at
#      gpt2-small, qwen2-0.5b and llama-1b (Llama-3.2-1B's shape), batch 8×512;
#   c. one PPO iteration (actor, critic, reference and RM of Qwen2-0.5B's body,
#      byte-level vocabulary) with the time of each phase;
#   d. the same shapes in PyTorch + transformers (gpu/torch_baseline.py), when
#      they and a CUDA device are there.
# Prints one table at the end; every raw result is kept in $OUT (or
# /tmp/gpu-check): parity.jsonl, bench.jsonl, ppo/metrics.jsonl, torch.txt, log.
# Environment: RLHF (binary, default gpu/rlhf, else bin/rlhf), PEAK_TFLOPS,
# DEADLINE (seconds for the whole check, default 540: later parts get less time or are
# skipped, and the table is always printed), SHAPES (space-separated), GPU_ENV (default gpu/gpu-env.sh), DTYPE (--cpu only, default float32).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=gpu
[ "${1:-}" = --cpu ] && mode=cpu
DEADLINE=${DEADLINE:-540}
RLHF=${RLHF:-}
if [ -z "$RLHF" ]; then
	if [ -x gpu/rlhf ]; then RLHF=gpu/rlhf; else RLHF=bin/rlhf; fi
fi
[ -x "$RLHF" ] || { echo "gpu-check: no rlhf binary at $RLHF (build it with: make gpu-bundle)" >&2; exit 1; }
RES=${OUT:-/tmp/gpu-check}
mkdir -p "$RES"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
: >"$RES/parity.jsonl"
: >"$RES/bench.jsonl"
: >"$RES/torch.txt"
: >"$RES/log"
log() { echo "gpu-check: $*" | tee -a "$RES/log" >&2; }
# part NAME SECONDS CMD...: runs CMD with a time limit, logging how it ended.
part() {
	local name=$1 limit=$2
	shift 2
	local left=$((DEADLINE - SECONDS - 15))
	if [ $left -lt 10 ]; then
		log "$name: skipped (the check's deadline of $DEADLINE s is near)"
		echo "$name skipped 0" >>"$RES/parts.txt"
		return 0
	fi
	[ "$limit" -gt $left ] && limit=$left
	local t0=$SECONDS
	log "$name: $*"
	timeout --kill-after=10 "$limit" "$@" 2>>"$RES/log"
	local rc=$?
	log "$name: rc=$rc after $((SECONDS - t0)) s"
	echo "$name $rc $((SECONDS - t0))" >>"$RES/parts.txt"
	return 0
}
: >"$RES/parts.txt"

if [ $mode = gpu ]; then
	# shellcheck source=/dev/null
	source "${GPU_ENV:-gpu/gpu-env.sh}" || { log "no CUDA PJRT plugin found"; exit 1; }
	BACKEND=$RLHF_BACKEND
	DTYPE=bfloat16
	PEAK=${PEAK_TFLOPS:-989}
	SHAPES=${SHAPES:-gpt2-small qwen2-0.5b llama-1b}
	PPO_ARCH=(--arch qwen2 --layers 24 --hidden 896 --heads 14 --kv-heads 2 --intermediate 4864)
	PPO_RUN=(--rollout-batch 16 --mini-batch 8 --max-new-tokens 128 --max-prompt-len 64)
	LIMIT_BENCH=150 LIMIT_PPO=240 STEPS=5
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$RES/gpu.txt" 2>/dev/null
else
	BACKEND=go
	DTYPE=${DTYPE:-float32}
	PEAK=${PEAK_TFLOPS:-0}
	SHAPES=${SHAPES:-tiny}
	PPO_ARCH=(--arch qwen2 --layers 2 --hidden 64 --heads 4 --kv-heads 2)
	PPO_RUN=(--rollout-batch 4 --mini-batch 4 --max-new-tokens 8 --max-prompt-len 32)
	LIMIT_BENCH=120 LIMIT_PPO=120 STEPS=1
	echo "cpu (go backend)" >"$RES/gpu.txt"
fi
log "mode=$mode backend=$BACKEND dtype=$DTYPE binary=$RLHF"

# a. parity
part parity-f32 120 sh -c "'$RLHF' bench parity --backend '$BACKEND' --json >>'$RES/parity.jsonl'"
if [ $mode = gpu ]; then
	part parity-bf16 120 sh -c "'$RLHF' bench parity --backend '$BACKEND' --dtype bfloat16 --json >>'$RES/parity.jsonl'"
fi

# b. throughput, one shape at a time (a shape that does not fit or hangs costs only its own part)
for s in $SHAPES; do
	part "bench-$s" $LIMIT_BENCH sh -c "'$RLHF' bench both --shape $s --backend '$BACKEND' --dtype $DTYPE --peak-tflops $PEAK --steps $STEPS --json >>'$RES/bench.jsonl'"
done

# d. PyTorch + transformers on the same card
if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
	for s in $SHAPES; do
		part "torch-$s" 90 sh -c "python3 '${TORCH_BASELINE:-gpu/torch_baseline.py}' $s 8 512 >>'$RES/torch.txt'"
	done
else
	log "torch: skipped (no PyTorch + transformers with a CUDA device here)"
fi

# c. one PPO iteration
"$RLHF" model init "${PPO_ARCH[@]}" --out "$W/actor" --no-progress 2>>"$RES/log" &&
	"$RLHF" model init "${PPO_ARCH[@]}" --score-head --seed 2 --out "$W/rm" --no-progress 2>>"$RES/log"
rm -rf "$RES/ppo"
part ppo $LIMIT_PPO "$RLHF" ppo --no-progress --policy "$W/actor" --reward "$W/rm" --prompts testdata/ppo/prompts.jsonl \
	--out "$RES/ppo" --iterations 1 --ppo-epochs 1 "${PPO_RUN[@]}" --backend "$BACKEND" --dtype $DTYPE --save-every 1000
for f in "$RES"/ppo/*; do case $f in *metrics.jsonl) ;; *) rm -rf "$f" ;; esac; done

python3 scripts/gpu_check_table.py "$RES" | tee "$RES/table.md"
