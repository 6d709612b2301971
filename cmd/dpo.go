package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/plan"
	"github.com/rlhf-project/rlhf/train"
)

func init() { register(func() *cobra.Command { return newDPOCmd(nil) }) }

// newDPOCmd binds the flags of `rlhf dpo`; runF, when not nil, replaces
// train.RunDPO (tests check the flag mapping with it).
func newDPOCmd(runF func(context.Context, train.DPOOptions) error) *cobra.Command {
	o := train.DPODefaults()
	var fc fitCheck
	c := &cobra.Command{
		Use:   "dpo --model DIR --data DATASET --out DIR",
		Short: "Train a policy directly on comparisons (DPO, IPO or SimPO): no reward model, no sampling",
		Long: `Direct preference optimisation from a checkpoint (usually the SFT one) on a
comparison dataset, as TRL's DPOTrainer defines the losses:

  dpo    -log σ(β·((πc - rc) - (πr - rr)))  on summed response log-probs;
         --label-smoothing ε: -(1-ε)·log σ(βh) - ε·log σ(-βh) (conservative DPO)
  ipo    (h - 1/(2β))²                       on length-averaged log-probs
  simpo  -log σ(β·(avg πc - avg πr) - γ)     no reference model (--simpo-gamma γ)

π is the policy, r the reference: --ref-model, by default the starting
weights of --model. Its log-probs are computed once, before the first step,
and cached in --out (ref_logps.json), so --resume does not recompute them.
--sft-coef adds the chosen answer's mean NLL. Rows sharing a group_id (one
prompt ranked among K answers) are kept in one batch and their pairs
averaged, as rm does; ties are dropped. Logs TRL's metrics (rewards/chosen,
rewards/rejected, rewards/accuracies, rewards/margins, logps/chosen,
logps/rejected), validates them with a val_ prefix plus val_acc/TASK, keeps
the best checkpoint by val_loss and publishes it in --out.`,
		Example: `  rlhf dpo --model ckpt/sft --data data/comparisons --out ckpt/dpo --beta 0.1 --lr 1e-6 --epochs 1
  rlhf dpo --model ckpt/sft --data data/comparisons --out ckpt/simpo --loss simpo --beta 2 --simpo-gamma 0.5`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := fc.check(c, "--model", o.Backend, supervisedPlan(plan.StepDPO, o.Model, o.CommonOptions)); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			_, err := train.RunDPO(c.Context(), o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Model, "model", "", "policy checkpoint to start from (usually the SFT one)")
	f.StringVar(&o.Ref, "ref-model", "", "reference model (default: the starting weights of --model; not with simpo)")
	f.StringVar(&o.Data, "data", "", "comparison dataset: a folder with train/ and val/, one dataset, or a .parquet/.jsonl file")
	f.StringVar(&o.Val, "val", "", "validation comparisons (default: the val/ split of --data)")
	enumVar(f, &o.Loss, "loss", o.Loss, train.DPOLosses, "preference loss: dpo, ipo or simpo")
	f.Float64Var(&o.Beta, "beta", o.Beta, "β: the loss's inverse temperature (DPO's KL weight, IPO's τ, SimPO's reward scale)")
	f.Float64Var(&o.LabelSmoothing, "label-smoothing", o.LabelSmoothing, "assumed probability that a preference label is flipped, in [0, 0.5) (conservative DPO; dpo and simpo)")
	f.Float64Var(&o.SimPOGamma, "simpo-gamma", o.SimPOGamma, "SimPO's target reward margin γ (simpo only)")
	f.Float64Var(&o.SFTCoef, "sft-coef", o.SFTCoef, "weight of the chosen answer's mean NLL added to the loss (0: off)")
	f.IntVar(&o.StopAfter, "stop-after", 0, "stop after this many updates of this invocation, with a checkpoint (continue with --resume)")
	limits(f, map[string]numRange{"beta": above(0), "label-smoothing": between(0, 0.5), "simpo-gamma": atLeast(0),
		"sft-coef": atLeast(0), "stop-after": atLeast(0)})
	bindCommonTrainFlags(f, &o.CommonOptions)
	bindFitFlags(f, &fc)
	return nameFlags(c, &o)
}
