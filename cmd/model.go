package cmd

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/model"
)

func init() { register(newModelCmd) }

func newModelCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "model",
		Short: "Create and inspect Hugging Face-layout models",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newModelInitCmd(), newModelInspectCmd(), newModelMergeLoRACmd())
	return c
}

func newModelInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect DIR...",
		Short: "Show a model folder: architecture, parameters, dtype, context, vocab, sizes, heads, tokenizer and rlhf.json",
		Long: `inspect reads config.json, the safetensors headers (shapes and dtypes; no weight
is loaded), tokenizer.json and rlhf.json of each model folder and shows the
architecture, parameter count and dtype, context (max positions), vocabulary,
layers/hidden/heads, the tokenizer (vocabulary, EOS, BOS), the LM and score
heads, and rlhf.json (stage, base model, prompt template, reward mean/std).
What would stop rlhf from loading the folder (weights that do not match
config.json, no tokenizer.json) is listed as a problem.`,
		Example: "  rlhf model inspect ckpt/sft\n  rlhf model inspect --json ckpt/rm ckpt/ppo",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return model.RunInspect(c.OutOrStdout(), args, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return c
}

func newModelInitCmd() *cobra.Command {
	opts := model.InitOptions{}
	c := &cobra.Command{
		Use:   "init --arch gpt2|llama|qwen2|mistral|bloom --out DIR",
		Short: "Write a small randomly initialized model (config.json, model.safetensors, tokenizer.json, rlhf.json)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.Out == "" {
				return errors.New("--out is required")
			}
			return model.RunInit(opts)
		},
	}
	f := c.Flags()
	enumVar(f, &opts.Arch, "arch", model.ArchGPT2, []string{model.ArchGPT2, model.ArchLlama, model.ArchQwen2, model.ArchMistral, model.ArchBloom}, "architecture: gpt2, llama, qwen2, mistral or bloom")
	f.IntVar(&opts.Layers, "layers", 2, "transformer blocks")
	f.IntVar(&opts.Hidden, "hidden", 64, "hidden size")
	f.IntVar(&opts.Heads, "heads", 4, "attention heads")
	f.IntVar(&opts.KVHeads, "kv-heads", 0, "key/value heads for llama/qwen2/mistral (0: same as --heads)")
	f.IntVar(&opts.Intermediate, "intermediate", 0, "MLP inner size (0: 4×hidden for gpt2/bloom, ≈8/3×hidden rounded to 64 otherwise)")
	f.IntVar(&opts.MaxPositions, "max-positions", 1024, "context length (gpt2's learned position table)")
	f.StringVar(&opts.Tokenizer, "tokenizer", "", "tokenizer.json to use (default: a byte-level tokenizer, 256 bytes + <|endoftext|>)")
	f.StringVar(&opts.Out, "out", "", "output folder (required)")
	f.Uint64Var(&opts.Seed, "seed", 0, "random initialization seed")
	f.BoolVar(&opts.ScoreHead, "score-head", false, "add a randomly initialised scalar score head (a reward-model or critic skeleton, for tests and benchmarks)")
	limits(f, map[string]numRange{
		"layers": atLeast(1), "hidden": atLeast(1), "heads": atLeast(1), "kv-heads": atLeast(0),
		"intermediate": atLeast(0), "max-positions": atLeast(1), "seed": anyValue(),
	})
	f.StringVar(&opts.Template, "template", "", "prompt template stored in rlhf.json: model (default: the tokenizer's chat template, else \"Human: {prompt}\\n\\nAssistant: \"), none, or a text with {prompt}")
	return nameFlags(c, &opts)
}
