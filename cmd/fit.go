package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/plan"
	"github.com/rlhf-project/rlhf/train"
)

// fitCheck holds the training commands' --device-memory and --force: before
// a run, the memory estimate of `rlhf plan` is checked against the
// device's memory, and a run that cannot fit is refused with the table.
type fitCheck struct {
	deviceMemory string
	force        bool
}

func bindFitFlags(f *pflag.FlagSet, fc *fitCheck) {
	f.StringVar(&fc.deviceMemory, "device-memory", "", "memory of the device(s) (40GiB, A100-40G, 2xA100-40G): refuse a run whose estimate (rlhf plan) does not fit it (default: no check)")
	f.BoolVar(&fc.force, "force", false, "run even when the memory estimate says it does not fit --device-memory")
}

// queryGPUMemory finds the memory of the xla:cuda backend's GPUs (tests
// replace it).
var queryGPUMemory = plan.QueryCUDAMemory

// check runs the memory estimate of `rlhf plan` (plan.CheckFit) and
// refuses, printing the estimate and the settings that would fit to the
// command's stderr, a run that does not fit, unless --force.
func (fc fitCheck) check(c *cobra.Command, modelFlag, backend string, o plan.CommandOptions) error {
	o.DeviceMemory = fc.deviceMemory
	fit, err := plan.CheckFit(o, "--device-memory", modelFlag, backend, queryGPUMemory)
	if err != nil {
		return fmt.Errorf("memory check: %w", err)
	}
	if !fit.Checked || fit.Fits {
		return nil
	}
	c.PrintErr(fit.Table)
	if fc.force {
		c.PrintErrln("\n--force: running anyway")
		return nil
	}
	return fmt.Errorf("the memory estimate (above) does not fit %s: use the settings it lists, more devices, or --force to try anyway", fit.Against)
}

// supervisedPlan is the plan of sft, rm or dpo (step) training model.
func supervisedPlan(step, model string, o train.CommonOptions) plan.CommandOptions {
	return plan.CommandOptions{
		Options: plan.Options{Step: step, BatchSize: o.BatchSize, GradAccum: o.GradAccum, MaxSeqLen: o.MaxSeqLen,
			LoRA: plan.LoRA{Rank: o.LoRA.Rank}, GradCheckpoint: o.GradCheckpoint, DType: o.DType},
		PolicyPath: model, LoRATargets: o.LoRA.Targets,
	}
}

// ppoPlan is the plan of a ppo run.
func ppoPlan(o train.PPOOptions) plan.CommandOptions {
	return plan.CommandOptions{
		Options: plan.Options{Step: plan.StepPPO, Algo: o.Algo, MiniBatch: o.MiniBatch, MaxPromptLen: o.MaxPromptLen,
			MaxNewTokens: o.MaxNewTokens, LoRA: plan.LoRA{Rank: o.LoRA.Rank}, CriticLoRA: plan.LoRA{Rank: o.CriticLoRA.Rank},
			GradCheckpoint: o.GradCheckpoint, DType: o.DType, RefDType: o.RefDType, RewardDType: o.RewardDType},
		PolicyPath: o.Policy, RewardPath: o.Reward, CriticPath: o.Critic,
		LoRATargets: o.LoRA.Targets, CriticLoRATargets: o.CriticLoRA.Targets,
	}
}
