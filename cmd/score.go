package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/infer"
)

func init() { register(func() *cobra.Command { return newScoreCmd(nil) }) }

// newScoreCmd binds the command's flags; runF, when not nil, replaces
// infer.RunScore (tests check the flag mapping with it).
func newScoreCmd(runF func(context.Context, infer.ScoreOptions) error) *cobra.Command {
	opts := infer.ScoreOptions{}
	c := &cobra.Command{
		Use:   "score --model DIR --data DATASET_OR_JSONL --out DIR",
		Short: "Score prompt/response rows: summed response log-prob and token count, or reward for reward models",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return infer.RunScore(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Model, "model", "", "model folder, or LoRA adapter folder (required)")
	f.StringVar(&opts.Base, "base", "", "base model folder of an adapter --model (default: its adapter_config.json's base_model_name_or_path)")
	f.StringSliceVar(&opts.Data, "data", nil, "response or sft datasets, or JSONL with prompt and response fields (required, repeatable)")
	f.StringVar(&opts.Out, "out", "", "dataset to write: id, prompt, response and logprob+num_tokens or reward (required)")
	f.BoolVar(&opts.Raw, "raw", false, "score tokens(response) after tokens(prompt): no template, no special tokens")
	f.StringVar(&opts.Template, "template", "", "prompt template overriding rlhf.json's: none, model (the tokenizer's chat template; the default unless rlhf.json says otherwise) or a text with {prompt}")
	f.IntVar(&opts.BatchSize, "batch-size", 8, "rows per forward pass")
	dtypeVar(f, &opts.DType, "compute dtype: float32, or bfloat16 (GPU; float32 norms, softmax and log-probs)")
	f.StringVar(&opts.Backend, "backend", "", "compute backend: go, xla:cuda or xla:/abs/path/plugin.so (default $RLHF_BACKEND or go)")
	bindEncodingFlag(f, &opts.Encoding, "JSONL --data")
	limits(f, map[string]numRange{"batch-size": atLeast(1)})
	return nameFlags(c, &opts)
}
