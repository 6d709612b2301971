package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/bench"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	o := bench.RunOptions{}
	c := &cobra.Command{
		Use:   "bench train|generate|both|parity|matmul [--shape NAME,...] [--backend SPEC]",
		Short: "Measure training and generation tokens/s at named model shapes, their matrix products, or backend parity on golden models",
		Long: `Measure the engine on random weights, without data:

  train     rlhf sft's update (forward, backward, clipping, AdamW) on --shape's batch
  generate  KV-cache sampling of --shape's generation batch (prefill included)
  both      train, then generate
  parity    logits of the golden models under --models on --backend against the go
            backend (exit 1 when any differs by more than the tolerance)
  matmul    each matrix product of --shape's training step (forward, input gradient,
            weight gradient of every weight matrix) timed alone, in GFLOP/s
            (--steps timed runs each, median)

Shapes: ` + strings.Join(bench.ShapeNames(), ", ") + `.
The first step (graph compilation) is reported apart and not timed. With
--peak-tflops (the device's dense peak in --dtype) training also reports MFU,
6·parameters·tokens/s over the peak. make bench-compare and scripts/gpu-check.sh
put these figures beside PyTorch's; scripts/matmul-compare.sh the matmul ones.`,
		Example: `  rlhf bench train --shape tiny,mid
  rlhf bench both --shape qwen2-0.5b --backend xla:cuda --dtype bfloat16 --peak-tflops 989 --json
  rlhf bench parity --backend xla:cuda --models testdata/models
  rlhf bench matmul --shape qwen2-100m`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: bench.Modes,
		RunE: func(c *cobra.Command, args []string) error {
			o.Mode = args[0]
			return bench.Run(c.Context(), c.OutOrStdout(), o)
		},
	}
	f := c.Flags()
	f.StringSliceVar(&o.Shapes, "shape", []string{"tiny"}, "model shapes, comma-separated: "+strings.Join(bench.ShapeNames(), ", "))
	f.StringVar(&o.Backend, "backend", "", "compute backend: go, xla:cuda or xla:/abs/path/plugin.so (default $RLHF_BACKEND or go)")
	dtypeVar(f, &o.DType, "compute dtype: float32 or bfloat16 (float32 master weights)")
	f.IntVar(&o.Steps, "steps", 3, "timed steps (training updates or generation runs) after the untimed first one")
	f.Float64Var(&o.PeakTFLOPs, "peak-tflops", 0, "device peak dense TFLOP/s in --dtype, for MFU (e.g. 989 for an H100/H200 in bf16, 312 for an A100; 0: no MFU)")
	f.StringVar(&o.Models, "models", "testdata/models", "parity: folder of golden model folders (config.json, model.safetensors, expected.json)")
	f.StringVar(&o.CPUProfile, "cpu-profile", "", "write a pprof CPU profile of the timed steps to this file, one per shape and mode when there are several (go tool pprof -top rlhf FILE)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object per measurement instead of a table")
	limits(f, map[string]numRange{"steps": atLeast(1), "peak-tflops": atLeast(0)})
	return nameFlags(c, &o)
}
