package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/label/judge"
	"github.com/rlhf-project/rlhf/reward"
)

func init() { register(func() *cobra.Command { return newEvalCmd(nil) }) }

// newEvalCmd binds the command's flags; runF, when not nil, replaces
// infer.RunEval (tests check the flag mapping with it).
func newEvalCmd(runF func(context.Context, infer.EvalOptions) error) *cobra.Command {
	o := infer.EvalOptions{}
	jo := judge.Options{}
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
--reward-fn takes, or several summed with --gold-weights): eval.json then gives the win rate under it (wins, ties,
losses, Wilson interval) next to the RM's (proxy) win rate on the same
prompts, and eval warns when the proxy's exceeds the gold one by more than
15 points, a sign of reward hacking. Instead of a rule, --judge-url and
--judge-model make an AI judge the gold judge: rlhf judge's client asks the
chat model (any OpenAI-compatible endpoint) which of the two answers of each
prompt is better, once with the policy's shown first and once with the
baseline's; the policy wins when both verdicts prefer it, loses when both
prefer the baseline, and ties when they disagree (position bias). Replies are
cached next to --out (OUT.judge-cache), so a rerun asks nothing; a prompt the
judge fails on after the retries is an error naming it. Any two language-model checkpoints can be compared, whatever
trained them (sft, dpo, ppo, grpo, ...). Writes --out/eval.json and the response
datasets --out/policy and --out/baseline (kind response) for reading and labelling.

With disjoint prompt pools (build-prompts --pools), --prompts is the held-out
eval pool (OUT/eval/prompts), never a pool a model trained on.`,
		Example: `  rlhf eval --policy ckpt/ppo --baseline ckpt/sft --reward ckpt/rm --prompts data/instruct/prompts/val --out eval/ppo-vs-sft
  rlhf eval --policy ckpt/grpo --baseline ckpt/ppo --reward ckpt/rm --reward-fn exact-match --reward-fn contains \
      --prompts data/instruct/prompts/val --out eval/grpo-vs-ppo
  rlhf eval --policy ckpt/ppo --baseline ckpt/sft --reward ckpt/rm --prompts data/instruct/eval/prompts \
      --judge-url https://api.openai.com/v1 --judge-model gpt-4o-mini --out eval/ppo-vs-sft`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var judgeFlags []string
			c.Flags().Visit(func(fl *pflag.Flag) {
				if strings.HasPrefix(fl.Name, "judge-") {
					judgeFlags = append(judgeFlags, "--"+fl.Name)
				}
			})
			switch {
			case jo.BaseURL != "" && len(o.GoldFns) > 0:
				return fmt.Errorf("--gold-fn and --judge-url together: one gold judge, a rule or an AI judge, not both")
			case jo.BaseURL != "" && jo.Model == "":
				return fmt.Errorf("--judge-url without --judge-model: the AI gold judge needs both")
			case jo.BaseURL != "":
				if jo.MaxRetries == 0 {
					jo.MaxRetries = -1 // the library's 0 means its default
				}
				o.Judge = &jo
			case len(judgeFlags) > 0:
				return fmt.Errorf("%s without --judge-url: the AI gold judge needs --judge-url and --judge-model", strings.Join(judgeFlags, ", "))
			}
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
	f.StringArrayVar(&o.GoldFns, "gold-fn", nil, "gold judge: a rule as --reward-fn takes, repeatable (the judge is their weighted sum); the win rate under it is reported next to the RM's (proxy), with a warning when the proxy's exceeds it by more than 15 points")
	f.Float64SliceVar(&o.GoldWeights, "gold-weights", nil, "weights of the --gold-fn rules, in order (default 1 each)")
	f.StringVar(&jo.BaseURL, "judge-url", "", "AI gold judge instead of --gold-fn: the API root of an OpenAI-compatible chat model (e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1), as rlhf judge --base-url")
	f.StringVar(&jo.Model, "judge-model", "", "model name of the AI gold judge (required with --judge-url)")
	f.StringVar(&jo.APIKeyEnv, "judge-api-key-env", "OPENAI_API_KEY", "environment variable holding the AI judge's API key (unset: no key)")
	f.StringVar(&jo.Rubric, "judge-rubric", "", "text/template file for the AI judge's request (default: rlhf judge's built-in rubric; see rlhf judge --print-rubric)")
	enumVar(f, &jo.Lang, "judge-lang", "auto", []string{"auto", "en", "zh"}, "built-in rubric language of the AI judge: auto (by prompt), en or zh")
	f.IntVar(&jo.Concurrency, "judge-concurrency", 4, "AI judge requests in flight")
	f.Float64Var(&jo.RequestsPerSecond, "judge-rps", 0, "AI judge request rate limit per second (0: none)")
	f.IntVar(&jo.MaxRetries, "judge-max-retries", 5, "retries of an AI judge request failing with a network error, 429 or 5xx (0: none)")
	f.DurationVar(&jo.Timeout, "judge-timeout", 2*time.Minute, "limit per AI judge request")
	f.StringVar(&jo.CacheDir, "judge-cache", "", "AI judge reply cache folder (default OUT.judge-cache, next to --out)")
	f.BoolVar(&jo.NoCache, "judge-no-cache", false, "neither read nor write the AI judge's reply cache")
	f.StringArrayVar(&o.RewardFns, "reward-fn", nil, "rule reward to report, repeatable: exact-match, contains, recall, regex:PATTERN, length-penalty (against each prompt's reference) or cmd:PROG")
	f.DurationVar(&o.RewardTimeout, "reward-timeout", reward.DefaultTimeout, "time limit of each call of a cmd: reward program")
	bindEncodingFlag(f, &o.Encoding, "JSONL --prompts")
	limits(f, map[string]numRange{
		"max-prompts": atLeast(0), "max-new-tokens": atLeast(1), "max-prompt-len": atLeast(1), "temperature": atLeast(0),
		"top-p": between(0, 1), "top-k": atLeast(0), "batch-size": atLeast(1), "seed": nonZero(),
		"reward-timeout": above(0), "judge-concurrency": atLeast(1), "judge-rps": atLeast(0), "judge-max-retries": atLeast(0),
		"judge-timeout": above(0),
	})
	return nameFlags(c, &o)
}
