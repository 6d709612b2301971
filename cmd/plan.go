package cmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/plan"
	"github.com/rlhf-project/rlhf/train"
)

func init() { register(func() *cobra.Command { return newPlanCmd(nil) }) }

// newPlanCmd binds the flags of `rlhf plan`; runF, when not nil, replaces
// runPlan (tests check the flag mapping with it).
func newPlanCmd(runF func(context.Context, io.Writer, plan.CommandOptions) error) *cobra.Command {
	var o plan.CommandOptions
	var loraRank, criticLoRARank int
	c := &cobra.Command{
		Use:   "plan --step sft|rm|dpo|ppo --policy MODEL [--reward MODEL] [--device-memory 40GiB|A100-40G]",
		Short: "Estimate the memory a training step needs per device, and what makes it fit",
		Long: `Print the memory a training step needs on each device, by component:
weights (per model, in its dtype), gradients (the micro-batch's and the
accumulator), AdamW state (two float32 moments per trained weight),
activations of the training pass (less with --grad-checkpoint) and, for
ppo, the rollout's KV cache and scoring. Models are folders, LoRA adapter
folders or bare config.json files; nothing is loaded but their configs.
With --device-memory (sizes or GPU names: A100-40G, A100-80G, H100, H200,
L4, ...; several devices separated by commas, or 2xA100-40G) it says
whether the run fits and, when it does not, lists the settings that make
it fit, least effect on training first, each with its estimate. ppo's
models are spread over the devices (actor first). See docs/memory.md.`,
		Example: `  rlhf plan --step sft --policy models/qwen2-0.5b --batch-size 8 --max-seq-len 512 --device-memory A100-40G
  rlhf plan --step ppo --policy ckpt/sft --reward ckpt/rm --critic ckpt/rm-350m --mini-batch 16 --device-memory A100-40G
  rlhf plan --step rm --policy testdata/plan/llama-1.3b.json --lora-rank 16 --device-memory 2xA100-40G`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.LoRA.Rank, o.CriticLoRA.Rank = loraRank, criticLoRARank
			if runF != nil {
				return runF(c.Context(), c.OutOrStdout(), o)
			}
			return runPlan(c.OutOrStdout(), o)
		},
	}
	f := c.Flags()
	enumVar(f, &o.Step, "step", plan.StepSFT, plan.Steps, "training step: sft, rm, dpo or ppo")
	enumVar(f, &o.Algo, "algo", train.AlgoPPO, train.PPOAlgos, "ppo's algorithm: ppo trains a critic; grpo, rloo and reinforce++ do not")
	f.StringVar(&o.PolicyPath, "policy", "", "the trained model (sft, rm, dpo: --model; ppo: the actor): model folder, adapter folder or config.json (required)")
	f.StringVar(&o.RewardPath, "reward", "", "ppo's reward model: folder or config.json (required for ppo)")
	f.StringVar(&o.CriticPath, "critic", "", "ppo's critic: folder or config.json (default --reward)")
	f.IntVar(&o.BatchSize, "batch-size", 8, "sequences (sft) or comparison pairs (rm, dpo) per micro-batch")
	f.IntVar(&o.GradAccum, "grad-accum", 1, "micro-batches per optimizer update (no effect on memory)")
	f.IntVar(&o.MaxSeqLen, "max-seq-len", 0, "sequence length in tokens (sft, rm, dpo; default: min(512, the model's context), as the trainers)")
	f.IntVar(&o.MiniBatch, "mini-batch", 16, "ppo: sequences per update and per generation/scoring batch")
	f.IntVar(&o.MaxPromptLen, "max-prompt-len", 256, "ppo: prompt length in tokens")
	f.IntVar(&o.MaxNewTokens, "max-new-tokens", 128, "ppo: response length in tokens")
	f.IntVar(&loraRank, "lora-rank", 0, "LoRA rank of the trained model (0: train every weight)")
	f.StringVar(&o.LoRATargets, "lora-targets", model.AllLinear, "LoRA target modules (PEFT names) or all-linear")
	f.IntVar(&criticLoRARank, "critic-lora-rank", 0, "ppo: LoRA rank of the critic (0: train every weight)")
	f.StringVar(&o.CriticLoRATargets, "critic-lora-targets", model.AllLinear, "ppo: the critic's LoRA target modules or all-linear")
	f.BoolVar(&o.GradCheckpoint, "grad-checkpoint", false, "recompute each block's activations in the backward pass")
	dtypeVar(f, &o.DType, "compute dtype: float32, or bfloat16 (float32 master weights)")
	optDTypeVar(f, &o.RefDType, "ref-dtype", "dtype of the frozen reference (ppo, dpo; default: --dtype when 16-bit, else float32)")
	optDTypeVar(f, &o.RewardDType, "reward-dtype", "dtype of ppo's frozen reward model (default: --dtype when 16-bit, else float32)")
	f.StringVar(&o.DeviceMemory, "device-memory", "", "memory of each device: sizes or GPU names separated by commas (40GiB,40GiB; A100-80G; 2xA100-40G)")
	limits(f, map[string]numRange{
		"batch-size": atLeast(1), "grad-accum": atLeast(1), "max-seq-len": atLeast(0), "mini-batch": atLeast(1),
		"max-prompt-len": atLeast(1), "max-new-tokens": atLeast(1), "lora-rank": atLeast(0), "critic-lora-rank": atLeast(0),
	})
	return nameFlags(c, &o)
}

// runPlan resolves o and prints its estimate and suggestions.
func runPlan(w io.Writer, o plan.CommandOptions) error {
	if err := o.Resolve("--policy"); err != nil {
		return err
	}
	if o.Step != plan.StepPPO && (o.RewardPath != "" || o.CriticPath != "") {
		return fmt.Errorf("--reward and --critic: --step %s trains one model (--policy); they apply to --step ppo", o.Step)
	}
	_, _, err := plan.Report(w, o.Options)
	return err
}
