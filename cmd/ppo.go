package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/train"
)

func init() { register(func() *cobra.Command { return newPPOCmd(nil) }) }

// newPPOCmd binds the flags of `rlhf ppo`; runF, when not nil, replaces
// train.RunPPO (tests check the flag mapping with it).
func newPPOCmd(runF func(context.Context, train.PPOOptions) error) *cobra.Command {
	o := train.PPODefaults()
	var fc fitCheck
	c := &cobra.Command{
		Use:   "ppo --policy SFT --reward RM --prompts DATASET --out DIR",
		Short: "PPO (optionally PPO-ptx), GRPO, RLOO or REINFORCE++ of an SFT policy against a reward model or rule rewards",
		Long: `Optimise the SFT policy against a frozen reward model with PPO, as InstructGPT did.
Each iteration samples --rollout-batch prompts, scores the responses (actor and
reference log-probs, critic values, RM score), rewards each token with
−β·(log π − log π_ref) plus the normalised RM score on the last token,
computes GAE advantages (whitened) and returns, and updates actor and critic
for --ppo-epochs passes in mini-batches (clipped surrogate, clipped value
loss, entropy bonus, gradient clipping). With --ptx-coef > 0 each actor
update also adds γ_ptx × the LM loss of a --ptx batch (PPO-ptx).

--algo grpo, rloo or reinforce++ train no critic (one model less): GRPO
samples --num-samples responses per prompt and normalises their scores
within the group, with the KL to the reference as a loss term (--kl-coef);
RLOO subtracts the mean reward of the other responses to the same prompt;
REINFORCE++ whitens the returns of per-token KL-penalised rewards over the
rollout. --reward-fn adds rule rewards (exact-match, contains,
regex:PATTERN, length-penalty against each prompt's reference answer, or
cmd:PROG, a program reading JSON lines and writing one number per line),
instead of or weighted with the RM (--reward-weights).

The actor starts from --policy, the frozen reference is --policy, the critic
(PPO) starts from --critic (default --reward) and the reward model stays frozen.
--actor-device, --critic-device, --ref-device and --reward-device take a
backend spec each (default --backend): with one device everything runs on it.

Writes the final actor to --out (HF layout) and the critic to --out/critic,
checkpoints (actor, critic, optimizer states, KL controller, data position)
for --resume, metrics.jsonl, samples.jsonl and PNG plots. See docs/ppo.md.

With disjoint prompt pools (build-prompts --pools), --prompts is the ppo pool
(OUT/ppo/prompts).`,
		Example: `  rlhf ppo --policy ckpt/sft --reward ckpt/rm --prompts data/instruct/prompts --ptx data/pretrain --out ckpt/ppo \
      --kl-coef 0.02 --ptx-coef 27.8 --rollout-batch 64 --mini-batch 16 --ppo-epochs 1 --max-new-tokens 128
  rlhf ppo --algo grpo --num-samples 8 --policy ckpt/sft --reward ckpt/rm --reward-fn exact-match \
      --reward-weights 1,2 --prompts data/instruct/prompts --out ckpt/grpo --kl-coef 0.04`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Algo != train.AlgoPPO {
				// The library cannot tell these from their defaults.
				for _, name := range []string{"critic-lr", "value-clip", "lambda"} {
					if c.Flags().Changed(name) {
						return fmt.Errorf("--%s: --algo %s trains no critic; it applies to --algo ppo only", name, o.Algo)
					}
				}
				if c.Flags().Changed("gamma") && o.Algo != train.AlgoREINFORCEPP {
					return fmt.Errorf("--gamma: --algo %s rewards whole responses (γ = 1); it applies to ppo and reinforce++", o.Algo)
				}
			}
			if err := fc.check(c, "--policy", o.Backend, ppoPlan(o)); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			_, err := train.RunPPO(c.Context(), o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Policy, "policy", "", "SFT checkpoint: the actor's start and the frozen reference (required)")
	f.StringVar(&o.Reward, "reward", "", "reward-model checkpoint (frozen; its rlhf.json reward_mean/std normalise scores) (required without --reward-fn)")
	f.StringVar(&o.Critic, "critic", "", "checkpoint the critic starts from (default --reward; --algo ppo only)")
	enumVar(f, &o.Algo, "algo", o.Algo, train.PPOAlgos, "algorithm: ppo (with a critic), or the critic-free grpo, rloo, reinforce++")
	f.IntVar(&o.NumSamples, "num-samples", 0, "responses sampled per prompt (default: 4 for grpo and rloo, 1 for ppo and reinforce++)")
	f.StringArrayVar(&o.RewardFns, "reward-fn", nil, "rule reward, repeatable: exact-match, contains, recall, regex:PATTERN, length-penalty (against each prompt's reference) or cmd:PROG")
	f.Float64SliceVar(&o.RewardWeights, "reward-weights", nil, "weights of the reward sources, in order: the RM (with --reward), then each --reward-fn (default 1 each)")
	f.DurationVar(&o.RewardTimeout, "reward-timeout", o.RewardTimeout, "time limit of each call of a cmd: reward program (once per iteration)")
	f.StringVar(&o.Prompts, "prompts", "", "prompt dataset: a folder with train/ (used) and val/, one dataset, or .parquet/.jsonl (required)")
	f.StringVar(&o.Ptx, "ptx", "", "pre-training data for PPO-ptx: an sft or qa dataset or JSONL")
	f.StringVar(&o.Out, "out", "", "output folder (required)")

	f.IntVar(&o.MaxNewTokens, "max-new-tokens", 0, "maximum response length in tokens (default: 128, less when 256 + 128 do not fit the models' context)")
	f.IntVar(&o.MaxPromptLen, "max-prompt-len", 0, "maximum prompt length in tokens; longer prompts lose their start (default: 256, or what fits the models' context: not below half of it)")
	f.Float64Var(&o.Temperature, "temperature", o.Temperature, "rollout sampling temperature")
	f.Float64Var(&o.TopP, "top-p", o.TopP, "rollout nucleus mass (1: off)")
	f.IntVar(&o.TopK, "top-k", o.TopK, "rollout top-k (0: off)")

	f.IntVar(&o.Iterations, "iterations", 0, "rollouts to run (0: --epochs passes over the prompts)")
	f.IntVar(&o.Epochs, "epochs", o.Epochs, "passes over the prompts when --iterations is 0")
	f.IntVar(&o.RolloutBatch, "rollout-batch", o.RolloutBatch, "prompts sampled per iteration (each --num-samples times)")
	f.IntVar(&o.MiniBatch, "mini-batch", o.MiniBatch, "sequences per update and per generation/scoring batch (divides --rollout-batch × --num-samples)")
	f.IntVar(&o.PPOEpochs, "ppo-epochs", o.PPOEpochs, "passes over each rollout")
	f.Float64Var(&o.LR, "lr", o.LR, "actor learning rate (constant)")
	f.Float64Var(&o.CriticLR, "critic-lr", o.CriticLR, "critic learning rate (constant)")
	f.Float64Var(&o.WeightDecay, "weight-decay", 0, "AdamW decoupled weight decay")
	f.Float64Var(&o.ClipGrad, "clip-grad", o.ClipGrad, "maximum global gradient norm per update (0: off)")

	f.Float64Var(&o.KLCoef, "kl-coef", o.KLCoef, "β: weight of the per-token KL penalty (grpo: of the KL loss term; initial value with --target-kl)")
	f.Float64Var(&o.TargetKL, "target-kl", 0, "adaptive KL controller target, nats per response (0: fixed β)")
	f.Float64Var(&o.KLHorizon, "kl-horizon", o.KLHorizon, "adaptive KL controller horizon, in sequences")
	f.Float64Var(&o.Gamma, "gamma", o.Gamma, "GAE discount γ")
	f.Float64Var(&o.Lambda, "lambda", o.Lambda, "GAE λ")
	f.Float64Var(&o.Clip, "clip", o.Clip, "policy ratio clip ε")
	f.Float64Var(&o.ValueClip, "value-clip", o.ValueClip, "value clip ε around the rollout values (0: off)")
	f.Float64Var(&o.EntropyCoef, "entropy-coef", 0, "entropy bonus weight")
	f.Float64Var(&o.RewardClip, "reward-clip", 0, "clip the normalised RM score to ±this (0: off)")
	f.BoolVar(&o.NoWhiten, "no-whiten", false, "do not whiten advantages per rollout")
	f.Float64Var(&o.PtxCoef, "ptx-coef", 0, "γ_ptx: weight of the --ptx LM loss in the actor loss (0: plain PPO; InstructGPT: 27.8)")
	f.IntVar(&o.PtxBatch, "ptx-batch", 0, "ptx sequences per update (default --mini-batch)")
	f.IntVar(&o.PtxMaxLen, "ptx-max-len", 0, "maximum ptx sequence length (default --max-prompt-len + --max-new-tokens)")

	f.Float64Var(&o.MaxKL, "max-kl", 0, "mean KL per response (nats) above which to stop or warn (0: off)")
	enumVar(f, &o.OnMaxKL, "on-max-kl", o.OnMaxKL, []string{"stop", "warn"}, "what --max-kl does: stop (checkpoint and exit with an error) or warn")
	f.IntVar(&o.CriticWarmup, "critic-warmup-steps", 0, "first iterations in which only the critic trains")
	f.IntVar(&o.SkipNonFinite, "skip-nonfinite", 0, "updates with NaN/Inf loss or gradient that may be skipped before stopping")
	f.IntVar(&o.SaveEvery, "save-every", o.SaveEvery, "iterations between checkpoints")
	f.IntVar(&o.Keep, "keep", o.Keep, "newest checkpoints kept (0: all)")
	f.BoolVar(&o.Resume, "resume", false, "continue from the newest checkpoint in --out")
	f.IntVar(&o.LogSamples, "log-samples", o.LogSamples, "iterations between sample tables (0: off)")
	f.IntVar(&o.StopAfter, "stop-after", 0, "stop after this many iterations of this invocation, with a checkpoint (continue with --resume)")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of prompt order, sampling and mini-batch order")

	f.StringVar(&o.Backend, "backend", "", "compute backend: go, xla:cuda or xla:/abs/path/plugin.so (default $RLHF_BACKEND or go)")
	dtypeVar(f, &o.DType, "compute dtype: float32, or bfloat16 (GPU; float32 master weights, norms, softmax and log-probs)")
	f.StringVar(&o.ActorDevice, "actor-device", "", "backend of the actor (default --backend)")
	f.StringVar(&o.CriticDevice, "critic-device", "", "backend of the critic (default --backend)")
	f.StringVar(&o.RefDevice, "ref-device", "", "backend of the reference policy (default --backend)")
	f.StringVar(&o.RewardDevice, "reward-device", "", "backend of the reward model (default --backend)")
	f.StringVar(&o.Template, "template", "", "prompt template overriding the policy's: none, model (the tokenizer's chat template; the default unless rlhf.json says otherwise) or a text with {prompt}")
	bindEncodingFlag(f, &o.Encoding, "JSONL --prompts and --ptx")
	limits(f, map[string]numRange{
		"max-new-tokens": atLeast(1), "max-prompt-len": atLeast(1),
		// 0 would mean the default (1), not greedy: rollouts sample the policy.
		"temperature": above(0), "top-p": aboveUpTo(0, 1), "top-k": atLeast(0),
		"iterations": atLeast(0), "epochs": atLeast(1), "rollout-batch": atLeast(1), "mini-batch": atLeast(1),
		"ppo-epochs": atLeast(1), "lr": above(0), "critic-lr": above(0), "weight-decay": atLeast(0), "clip-grad": atLeast(0),
		"kl-coef": atLeast(0), "target-kl": atLeast(0), "kl-horizon": above(0), "gamma": between(0, 1), "lambda": between(0, 1),
		"clip": above(0), "value-clip": atLeast(0), "entropy-coef": atLeast(0), "reward-clip": atLeast(0),
		"ptx-coef": atLeast(0), "ptx-batch": atLeast(1), "ptx-max-len": atLeast(2),
		"max-kl": atLeast(0), "critic-warmup-steps": atLeast(0), "skip-nonfinite": atLeast(0), "save-every": atLeast(1),
		"keep": atLeast(0), "log-samples": atLeast(0), "stop-after": atLeast(0), "seed": nonZero(),
		"num-samples": atLeast(1), "reward-timeout": above(0),
	})
	bindMemoryFlags(f, &o.LoRA, &o.GradCheckpoint)
	bindFitFlags(f, &fc)
	bindLoRAFlags(f, &o.CriticLoRA, "critic-", "the critic")
	optDTypeVar(f, &o.RefDType, "ref-dtype", "dtype the frozen reference policy is stored and computed in: float32, bfloat16 or float16 (default: --dtype when bfloat16/float16, else float32); with --lora-rank the reference is the actor's frozen base")
	optDTypeVar(f, &o.RewardDType, "reward-dtype", "dtype the frozen reward model is stored and computed in (default as --ref-dtype)")
	return nameFlags(c, &o)
}
