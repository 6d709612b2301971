package cmd

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/plan"
	"github.com/rlhf-project/rlhf/train"
)

func init() { register(func() *cobra.Command { return newSFTCmd(nil) }) }

// bindCommonTrainFlags binds the flags shared by sft and rm to o, with o's
// values (the trainer's defaults) as the flags' defaults.
func bindCommonTrainFlags(f *pflag.FlagSet, o *train.CommonOptions) {
	f.StringVar(&o.Out, "out", o.Out, "output folder: final model, checkpoints/, metrics.jsonl and PNG plots (required)")
	f.IntVar(&o.Epochs, "epochs", o.Epochs, "passes over the training data")
	f.IntVar(&o.MaxSteps, "max-steps", o.MaxSteps, "optimizer updates to run; overrides --epochs when > 0")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the data order and of new heads")
	f.Float64Var(&o.LR, "lr", o.LR, "peak learning rate")
	f.Float64Var(&o.MinLRRatio, "min-lr-ratio", o.MinLRRatio, "final learning rate after cosine decay, as a fraction of --lr")
	f.IntVar(&o.Warmup, "warmup", o.Warmup, "linear warm-up steps")
	f.IntVar(&o.BatchSize, "batch-size", o.BatchSize, "sequences (sft) or comparison groups (rm) per micro-batch")
	f.IntVar(&o.GradAccum, "grad-accum", o.GradAccum, "micro-batches per optimizer update")
	f.IntVar(&o.MaxSeqLen, "max-seq-len", 0, "maximum sequence length in tokens (default: min(512, the model's context))")
	enumVar(f, &o.Truncate, "truncate", o.Truncate, []string{infer.TruncateLeft, infer.TruncateDrop}, "longer rows: left (cut the prompt's start, then the response's end) or drop")
	f.Float64Var(&o.WeightDecay, "weight-decay", o.WeightDecay, "AdamW decoupled weight decay")
	f.Float64Var(&o.ClipGrad, "clip-grad", o.ClipGrad, "maximum global gradient norm (0: no clipping)")
	f.IntVar(&o.EvalEvery, "eval-every", o.EvalEvery, "steps between validations and checkpoints (0: once per epoch)")
	f.Float64Var(&o.ValFrac, "val-frac", o.ValFrac, "share of the --data prompts held out for validation when it has no val/ split and no --val is given (whole prompts or comparison groups, the same on every run; 0: none)")
	f.IntVar(&o.LogEvery, "log-every", o.LogEvery, "steps between metrics.jsonl lines")
	f.IntVar(&o.Keep, "keep", o.Keep, "newest checkpoints kept besides the best one (0: all)")
	f.BoolVar(&o.Resume, "resume", o.Resume, "continue from the newest checkpoint in --out")
	f.IntVar(&o.SkipNonFinite, "skip-nonfinite", o.SkipNonFinite, "updates with a NaN/Inf loss or gradient that may be skipped before stopping")
	f.StringVar(&o.Backend, "backend", o.Backend, "compute backend: go, xla:cuda or xla:/abs/path/plugin.so (default $RLHF_BACKEND or go)")
	dtypeVar(f, &o.DType, "compute dtype: float32, or bfloat16 (GPU; float32 master weights, norms, softmax and log-probs)")
	f.StringVar(&o.Template, "template", o.Template, "prompt template overriding the checkpoint's: none, model (the tokenizer's chat template; the default unless rlhf.json says otherwise) or a text with {prompt}")
	bindEncodingFlag(f, &o.Encoding, "JSONL data")
	limits(f, map[string]numRange{
		"epochs": atLeast(1), "max-steps": atLeast(0), "seed": nonZero(), "lr": above(0),
		"min-lr-ratio": between(0, 1), "warmup": atLeast(0), "batch-size": atLeast(1), "grad-accum": atLeast(1),
		"max-seq-len": atLeast(2), "weight-decay": atLeast(0), "clip-grad": atLeast(0), "eval-every": atLeast(0),
		"val-frac": valFrac(), "log-every": atLeast(1), "keep": atLeast(0), "skip-nonfinite": atLeast(0),
	})
	bindMemoryFlags(f, &o.LoRA, &o.GradCheckpoint)
	f.StringVar(&o.Base, "base", o.Base, "base model folder of a LoRA adapter --model (default: its adapter_config.json's base_model_name_or_path)")
}

// newSFTCmd binds the flags of `rlhf sft`; runF, when not nil, replaces
// train.RunSFT (tests check the flag mapping with it).
func newSFTCmd(runF func(context.Context, train.SFTOptions) error) *cobra.Command {
	o := train.SFTDefaults()
	var fc fitCheck
	c := &cobra.Command{
		Use:   "sft --model DIR --data DATASET --out DIR",
		Short: "Supervised fine-tuning on demonstrations (loss on response tokens only)",
		Long: `Fine-tune a causal LM on an sft dataset: teacher forcing on
template(prompt) + response + EOS with the loss on response tokens, AdamW
with warm-up and cosine decay, gradient clipping and accumulation.
Validates on the val split every --eval-every steps (loss, perplexity),
keeps the best and last checkpoints, and publishes the best model in --out.

With disjoint prompt pools (build-prompts --pools), --data is the sft pool's
sft folder (OUT/sft/sft).`,
		Example: `  rlhf sft --model base/ --data data/instruct/sft --out ckpt/sft --epochs 2 --lr 1e-5 --batch-size 16 --max-seq-len 512`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := fc.check(c, "--model", o.Backend, supervisedPlan(plan.StepSFT, o.Model, o.CommonOptions)); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			_, err := train.RunSFT(c.Context(), o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Model, "model", "", "model folder to fine-tune (HF layout with tokenizer.json)")
	f.StringVar(&o.Data, "data", "", "sft dataset: a folder with train/ and val/, one dataset, or a .parquet/.jsonl file")
	f.StringVar(&o.Val, "val", "", "validation dataset (default: the val/ split of --data)")
	f.BoolVar(&o.Pack, "pack", false, "pack several examples per row (examples in a row can attend to each other)")
	f.IntVar(&o.StopAfter, "stop-after", 0, "stop after this many updates of this invocation, with a checkpoint (continue with --resume)")
	bindCommonTrainFlags(f, &o.CommonOptions)
	bindFitFlags(f, &fc)
	limits(f, map[string]numRange{"stop-after": atLeast(0)})
	return nameFlags(c, &o)
}
