package cmd

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/train"
)

// bindLoRAFlags binds --PREFIXlora-rank, -alpha, -dropout and -targets to
// l, with l's values as defaults; what names the trained model in help.
func bindLoRAFlags(f *pflag.FlagSet, l *train.LoRAOptions, prefix, what string) {
	f.IntVar(&l.Rank, prefix+"lora-rank", l.Rank, "LoRA rank r: train low-rank adapters of "+what+" over its frozen weights, saved in PEFT's layout (0: train every weight)")
	f.Float64Var(&l.Alpha, prefix+"lora-alpha", l.Alpha, "LoRA alpha: the adapters' update is scaled by alpha/r")
	f.Float64Var(&l.Dropout, prefix+"lora-dropout", l.Dropout, "dropout on the LoRA adapters' input while training")
	limits(f, map[string]numRange{prefix + "lora-rank": atLeast(0), prefix + "lora-alpha": above(0), prefix + "lora-dropout": valFrac()})
	f.StringVar(&l.Targets, prefix+"lora-targets", l.Targets, "modules LoRA adapts, PEFT names matched at the end of module names: q_proj,v_proj (llama/qwen2/mistral), c_attn,attn.c_proj (gpt2), query_key_value (bloom), lm_head; or all-linear (every linear map of the blocks)")
}

// bindMemoryFlags binds the flags that trade compute for memory shared by
// the training commands: LoRA and gradient checkpointing.
func bindMemoryFlags(f *pflag.FlagSet, l *train.LoRAOptions, gradCheckpoint *bool) {
	bindLoRAFlags(f, l, "", "the model")
	f.BoolVar(gradCheckpoint, "grad-checkpoint", *gradCheckpoint, "recompute each block's activations in the backward pass instead of keeping them (less memory, about a third more compute)")
}

// optDTypeVar binds a dtype flag whose empty default means "derived from
// --dtype" (float32, bfloat16 or float16; f32, bf16, f16 too).
func optDTypeVar(f *pflag.FlagSet, p *string, name, usage string) {
	*p = ""
	f.Var(&enumValue{target: p, allowed: []string{"float32", "bfloat16", "float16"},
		aliases: map[string]string{"f32": "float32", "bf16": "bfloat16", "f16": "float16"}}, name, usage)
}

func newModelMergeLoRACmd() *cobra.Command {
	var o model.MergeLoRAOptions
	c := &cobra.Command{
		Use:   "merge-lora --adapter DIR [--base DIR] --out DIR",
		Short: "Merge a PEFT LoRA adapter into its base model: a full HF model folder",
		Long: `Write base + adapter as one model in HF layout (config.json, model.safetensors,
tokenizer, rlhf.json): every adapted matrix becomes W + (alpha/r)·B·A (transposed
for gpt2's Conv1D), and a SEQ_CLS adapter's score head (a reward model or
critic) goes along. The base is --base, or the folder the adapter's
adapter_config.json names (base_model_name_or_path, relative to the adapter
folder). --out must be a new or empty folder.`,
		Example: `  rlhf model merge-lora --adapter ckpt/sft-lora --out ckpt/sft-merged
  rlhf model merge-lora --base models/qwen2-0.5b --adapter ckpt/rm-lora --out ckpt/rm-merged`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Adapter == "" || o.Out == "" {
				return errors.New("--adapter and --out are required")
			}
			return model.RunMergeLoRA(o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Base, "base", "", "base model folder (default: the adapter's base_model_name_or_path)")
	f.StringVar(&o.Adapter, "adapter", "", "PEFT LoRA adapter folder: adapter_config.json and adapter_model.safetensors (required)")
	f.StringVar(&o.Out, "out", "", "folder to write the merged model to: new or empty (required)")
	return nameFlags(c, &o)
}
