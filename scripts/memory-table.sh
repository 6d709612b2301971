#!/usr/bin/env bash
# Prints docs/memory.md's fit tables from `rlhf plan`: for each step and
# model shape (testdata/plan/*.json), what it takes to fit 1× A100-40G,
# 1× A100-80G and 2× A100-40G at the commands' default batch and sequence
# sizes (sft: 8×512; rm: 8 pairs ×512; ppo: mini-batch 16, 256 + 128 tokens).
#   scripts/memory-table.sh [path/to/rlhf]
set -euo pipefail
rlhf=${1:-bin/rlhf}
fx=testdata/plan
cell() { # args: rlhf plan flags; prints one table cell
	local out
	out=$("$rlhf" plan "$@")
	if grep -q '^fits\.$' <<<"$out"; then
		echo "as given ($(grep 'total (peak)' <<<"$out" | head -1 | awk '{print $(NF-1), $NF}'))"
	elif grep -q 'no setting this plan knows' <<<"$out" || grep -q 'even with all of these' <<<"$out"; then
		echo "does not fit"
	else
		local flags peak
		flags=$(grep '^  + ' <<<"$out" | sed -E 's/^  \+ .{49}//; s/ +→.*$//; s/ +$//' | paste -sd' ')
		peak=$(grep '^  + ' <<<"$out" | tail -1 | sed -E 's/.*→ //')
		echo "\`$flags\` (${peak//, 0.0 GiB/})"
	fi
}
echo "| step | model | 1× A100-40G | 1× A100-80G | 2× A100-40G |"
echo "|---|---|---|---|---|"
rows=(
	"sft qwen2-0.5b" "sft gpt-1.3b" "sft llama-1.3b"
	"rm qwen2-0.5b" "rm gpt-350m" "rm gpt-1.3b" "rm llama-1.3b"
	"ppo qwen2-0.5b qwen2-0.5b" "ppo gpt-1.3b gpt-350m" "ppo gpt-1.3b gpt-1.3b"
)
for r in "${rows[@]}"; do
	read -r step m rw <<<"$r"
	{
		args=(--step "$step" --policy "$fx/$m.json")
		name=$m
		if [ "$step" = ppo ]; then
			args+=(--reward "$fx/$rw.json")
			name="$m actor + $rw critic and reward"
		fi
		row="| $step | $name"
		for dev in A100-40G A100-80G 2xA100-40G; do
			row+=" | $(cell "${args[@]}" --device-memory "$dev")"
		done
		echo "$row |"
	}
done
