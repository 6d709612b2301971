package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/infer"
)

func init() { register(func() *cobra.Command { return newGenerateCmd(nil) }) }

// newGenerateCmd binds the command's flags; runF, when not nil, replaces
// infer.RunGenerate (tests check the flag mapping with it).
func newGenerateCmd(runF func(context.Context, infer.GenerateOptions) error) *cobra.Command {
	opts := infer.GenerateOptions{}
	c := &cobra.Command{
		Use:   "generate --model DIR --prompts DATASET --out DIR",
		Short: "Sample responses to prompts (batched, KV cache) into a response dataset",
		Long: `Sample responses to prompts (batched, KV cache) into a response dataset.

With disjoint prompt pools (build-prompts --pools), sample the rm pool's prompts
(OUT/rm/prompts) for the comparisons the reward model trains on.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return infer.RunGenerate(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Model, "model", "", "model folder, or LoRA adapter folder (required)")
	f.StringVar(&opts.Base, "base", "", "base model folder of an adapter --model (default: its adapter_config.json's base_model_name_or_path)")
	f.StringSliceVar(&opts.Prompts, "prompts", nil, "prompt datasets or JSONL files with a prompt field (required, repeatable)")
	f.StringVar(&opts.Out, "out", "", "response dataset to write (required)")
	f.IntVar(&opts.NumSamples, "num-samples", 1, "samples per prompt")
	f.IntVar(&opts.MaxNewTokens, "max-new-tokens", 0, "most tokens generated per sample (default: 128, or half the model's context when that is below 256)")
	f.Float64Var(&opts.Temperature, "temperature", 1, "sampling temperature; 0 means greedy")
	f.Float64Var(&opts.TopP, "top-p", 1, "nucleus sampling mass (1: off)")
	f.IntVar(&opts.TopK, "top-k", 0, "sample among the K most likely tokens (0: off)")
	f.Uint64Var(&opts.Seed, "seed", 0, "random seed; the same seed gives the same outputs")
	f.IntVar(&opts.BatchSize, "batch-size", 8, "sequences decoded together")
	f.IntVar(&opts.MaxPromptLen, "max-prompt-len", 0, "longest prompt in tokens; longer ones lose their start (0: the model's context minus --max-new-tokens)")
	f.IntVar(&opts.MaxPrompts, "max-prompts", 0, "sample only the first N prompts (0: all)")
	f.StringVar(&opts.Template, "template", "", "prompt template overriding rlhf.json's: none, model (the tokenizer's chat template; the default unless rlhf.json says otherwise) or a text with {prompt}")
	f.BoolVar(&opts.Raw, "raw", false, "feed prompts as they are: no template, no BOS")
	dtypeVar(f, &opts.DType, "compute dtype: float32, or bfloat16 (GPU; float32 norms, softmax and log-probs)")
	f.StringVar(&opts.Backend, "backend", "", "compute backend: go, xla:cuda or xla:/abs/path/plugin.so (default $RLHF_BACKEND or go)")
	bindEncodingFlag(f, &opts.Encoding, "JSONL --prompts")
	limits(f, map[string]numRange{
		"num-samples": atLeast(1), "max-new-tokens": atLeast(1), "temperature": atLeast(0), "top-p": between(0, 1),
		"top-k": atLeast(0), "seed": anyValue(), "batch-size": atLeast(1), "max-prompt-len": atLeast(1), "max-prompts": atLeast(0),
	})
	return nameFlags(c, &opts)
}
