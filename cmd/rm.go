package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/plan"
	"github.com/rlhf-project/rlhf/train"
)

func init() { register(func() *cobra.Command { return newRMCmd(nil) }) }

// newRMCmd binds the flags of `rlhf rm`; runF, when not nil, replaces
// train.RunRM (tests check the flag mapping with it).
func newRMCmd(runF func(context.Context, train.RMOptions) error) *cobra.Command {
	o := train.RMDefaults()
	var fc fitCheck
	c := &cobra.Command{
		Use:   "rm --model DIR --data DATASET --out DIR",
		Short: "Train a reward model on comparisons (K-wise groups averaged per prompt)",
		Long: `Train a reward model from a checkpoint (usually the SFT one): a scalar
score head read at the last token, loss -log σ(r(chosen) - r(rejected)).
Rows sharing a group_id (one prompt ranked among K answers) are kept in the
same batch and their C(K,2) pairs averaged, so every prompt weighs the same;
rows without group_id are plain pairs. Validates pairwise accuracy and mean
margin per task. At the end, the mean and std of the reward on reference
responses (the val split of --sft-data, or the chosen responses) are
recorded in rlhf.json (reward_mean, reward_std) for PPO to normalise with.

With disjoint prompt pools (build-prompts --pools), --data holds comparisons
made on the rm pool's prompts (OUT/rm/prompts, OUT/rm/sft).`,
		Example: `  rlhf rm --model ckpt/sft --data data/comparisons --out ckpt/rm --epochs 1 --lr 5e-6 --sft-data data/instruct/sft`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := fc.check(c, "--model", o.Backend, supervisedPlan(plan.StepRM, o.Model, o.CommonOptions)); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			_, err := train.RunRM(c.Context(), o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Model, "model", "", "checkpoint to start from (usually the SFT one)")
	f.StringVar(&o.Data, "data", "", "comparison dataset: a folder with train/ and val/, one dataset, or a .parquet/.jsonl file")
	f.StringVar(&o.Val, "val", "", "validation comparisons (default: the val/ split of --data)")
	f.StringVar(&o.SFTData, "sft-data", "", "sft dataset whose val split's reference responses centre the reward (default: the chosen responses)")
	f.IntVar(&o.StopAfter, "stop-after", 0, "stop after this many updates of this invocation, with a checkpoint (continue with --resume)")
	bindCommonTrainFlags(f, &o.CommonOptions)
	bindFitFlags(f, &fc)
	limits(f, map[string]numRange{"stop-after": atLeast(0)})
	return nameFlags(c, &o)
}
