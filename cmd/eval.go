package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/infer"
)

func init() { register(func() *cobra.Command { return newEvalCmd(nil) }) }

// newEvalCmd binds the command's flags; runF, when not nil, replaces
// infer.RunEval (tests check the flag mapping with it).
func newEvalCmd(runF func(context.Context, infer.EvalOptions) error) *cobra.Command {
	o := infer.EvalOptions{}
	c := &cobra.Command{
		Use:   "eval --policy DIR --baseline DIR --reward RM --prompts DATASET --out DIR",
		Short: "Compare a policy with a baseline under a reward model (win rate, reward, rule rewards, KL, length, per task)",
		Long: `Sample the policy and the baseline on the same prompts, score both responses
with the reward model and report, overall and per task: the mean reward of each,
the win rate of the policy over the baseline (ties count half) with a 95%
Wilson interval, the KL of the policy to the baseline (Monte-Carlo, nats per
response) and mean response lengths; with --reward-fn, also the mean rule reward
of each side (over the prompts with a reference answer for the rules that
compare with one). --gold-fn names an independent gold judge (a rule, as
--reward-fn takes): eval.json then gives the win rate under it (wins, ties,
losses, Wilson interval) next to the RM's (proxy) win rate on the same
prompts, and eval warns when the proxy's exceeds the gold one by more than
15 points, a sign of reward hacking. Any two language-model checkpoints can be compared, whatever
trained them (sft, dpo, ppo, grpo, ...). Writes --out/eval.json and the response
datasets --out/policy and --out/baseline (kind response) for reading and labelling.

With disjoint prompt pools (build-prompts --pools), --prompts is the held-out
eval pool (OUT/eval/prompts), never a pool a model trained on.`,
		Example: `  rlhf eval --policy ckpt/ppo --baseline ckpt/sft --reward ckpt/rm --prompts data/instruct/prompts/val --out eval/ppo-vs-sft
  rlhf eval --policy ckpt/grpo --baseline ckpt/ppo --reward ckpt/rm --reward-fn exact-match --reward-fn contains \
      --prompts data/instruct/prompts/val --out eval/grpo-vs-ppo`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			_, err := infer.RunEval(c.Context(), o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Policy, "policy", "", "policy checkpoint (e.g. the PPO output) (required)")
	f.StringVar(&o.Baseline, "baseline", "", "baseline checkpoint (e.g. the SFT model) (required)")
	f.StringVar(&o.Reward, "reward", "", "reward-model checkpoint that judges (required)")
	f.StringVar(&o.Prompts, "prompts", "", "prompt dataset (a folder with splits uses val/) (required)")
	f.StringVar(&o.Out, "out", "", "output folder for eval.json and the response datasets (required)")
	f.IntVar(&o.MaxPrompts, "max-prompts", 0, "evaluate only the first N prompts (0: all)")
	f.IntVar(&o.MaxNewTokens, "max-new-tokens", 0, "maximum response length in tokens (default: 128, less when 256 + 128 do not fit the models' context)")
	f.IntVar(&o.MaxPromptLen, "max-prompt-len", 0, "maximum prompt length in tokens (default: 256, or what fits the models' context: not below half of it)")
	f.Float64Var(&o.Temperature, "temperature", 1, "sampling temperature (0: greedy)")
	f.Float64Var(&o.TopP, "top-p", 1, "nucleus mass (1: off)")
	f.IntVar(&o.TopK, "top-k", 0, "top-k (0: off)")
	f.IntVar(&o.BatchSize, "batch-size", 8, "sequences generated and scored together")
	f.Uint64Var(&o.Seed, "seed", 1, "sampling seed (the baseline uses a stream derived from it)")
	f.StringVar(&o.Backend, "backend", "", "compute backend: go, xla:cuda or xla:/abs/path/plugin.so (default $RLHF_BACKEND or go)")
	dtypeVar(f, &o.DType, "compute dtype: float32, or bfloat16 (GPU; float32 master weights, norms, softmax and log-probs)")
	f.StringVar(&o.Template, "template", "", "prompt template overriding the checkpoints': none, model (the tokenizer's chat template; the default unless rlhf.json says otherwise) or a text with {prompt}")
	f.StringVar(&o.GoldFn, "gold-fn", "", "gold judge, one rule as --reward-fn takes: the win rate under it is reported next to the RM's (proxy), with a warning when the proxy's exceeds it by more than 15 points")
	f.StringArrayVar(&o.RewardFns, "reward-fn", nil, "rule reward to report, repeatable: exact-match, contains, regex:PATTERN, length-penalty (against each prompt's reference) or cmd:PROG")
	f.DurationVar(&o.RewardTimeout, "reward-timeout", infer.DefaultRewardTimeout, "time limit of each call of a cmd: reward program")
	bindEncodingFlag(f, &o.Encoding, "JSONL --prompts")
	limits(f, map[string]numRange{
		"max-prompts": atLeast(0), "max-new-tokens": atLeast(1), "max-prompt-len": atLeast(1), "temperature": atLeast(0),
		"top-p": between(0, 1), "top-k": atLeast(0), "batch-size": atLeast(1), "seed": nonZero(),
		"reward-timeout": above(0),
	})
	return nameFlags(c, &o)
}
