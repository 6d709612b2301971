// Package bench holds rlhf's throughput and parity measurements: the
// training step (forward, backward, gradient clipping and AdamW, exactly as
// `rlhf sft` runs it) and KV-cache generation at named model shapes, and the
// logits of a set of golden models on one backend against the go backend.
//
// `rlhf bench`, `make bench-compare` (beside plain PyTorch, bench/torch_cpu.py)
// and scripts/gpu-check.sh (beside PyTorch + transformers on a GPU) print
// what it measures. Throughput is reported in tokens per second and, given
// the device's peak FLOP/s, as model FLOPs utilisation (MFU = 6·N·tokens/s
// over the peak, N the parameter count, as in the PaLM paper's appendix B
// without the attention term).
package bench

import (
	"context"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/train"
)

// Shape is a decoder model shape and the batch it is measured at.
type Shape struct {
	Name                  string
	Arch                  string // gpt2, llama, qwen2, mistral or bloom
	Layers, Hidden, Heads int
	KVHeads               int // 0: = Heads
	Intermediate          int // 0: the architecture's default
	Vocab                 int
	Tie                   bool // tie the LM head to the embedding (gpt2, qwen2 and bloom always do)
	// Batch and Seq are the training batch, in sequences of Seq tokens.
	Batch, Seq int
	// GenBatch prompts of GenPrompt tokens each get GenNew new tokens.
	GenBatch, GenPrompt, GenNew int
}

// Shapes are the named shapes of `rlhf bench --shape`, `make bench-compare`
// and the GPU check. bench/torch_cpu.py mirrors the CPU ones.
var Shapes = []Shape{
	{Name: "tiny", Arch: model.ArchGPT2, Layers: 2, Hidden: 128, Heads: 4, Vocab: 257, Batch: 8, Seq: 128, GenBatch: 8, GenPrompt: 16, GenNew: 64},
	{Name: "mid", Arch: model.ArchGPT2, Layers: 6, Hidden: 512, Heads: 8, Vocab: 257, Batch: 4, Seq: 128, GenBatch: 8, GenPrompt: 16, GenNew: 64},
	{Name: "gpt2-small-1x256", Arch: model.ArchGPT2, Layers: 12, Hidden: 768, Heads: 12, Vocab: 50257, Batch: 1, Seq: 256, GenBatch: 8, GenPrompt: 16, GenNew: 32},
	{Name: "gpt2-small-4x256", Arch: model.ArchGPT2, Layers: 12, Hidden: 768, Heads: 12, Vocab: 50257, Batch: 4, Seq: 256, GenBatch: 8, GenPrompt: 16, GenNew: 32},
	{Name: "qwen2-100m", Arch: model.ArchQwen2, Layers: 12, Hidden: 768, Heads: 12, KVHeads: 2, Intermediate: 2048, Vocab: 32000, Batch: 4, Seq: 256, GenBatch: 8, GenPrompt: 16, GenNew: 32},
	// GPU shapes (batch 8×512 as in the GPU check).
	// GPU shapes, at batch 8×512 and 8 prompts of 64 tokens + 128 new ones,
	// as ../shared/gpu/torch_baseline.py measures them (llama-1b is
	// Llama-3.2-1B's shape, 1.24B parameters).
	{Name: "gpt2-small", Arch: model.ArchGPT2, Layers: 12, Hidden: 768, Heads: 12, Vocab: 50257, Batch: 8, Seq: 512, GenBatch: 8, GenPrompt: 64, GenNew: 128},
	{Name: "qwen2-0.5b", Arch: model.ArchQwen2, Layers: 24, Hidden: 896, Heads: 14, KVHeads: 2, Intermediate: 4864, Vocab: 151936, Batch: 8, Seq: 512, GenBatch: 8, GenPrompt: 64, GenNew: 128},
	{Name: "llama-1b", Arch: model.ArchLlama, Layers: 16, Hidden: 2048, Heads: 32, KVHeads: 8, Intermediate: 8192, Vocab: 128256, Tie: true, Batch: 8, Seq: 512, GenBatch: 8, GenPrompt: 64, GenNew: 128},
}

// ShapeNames lists the names of Shapes.
func ShapeNames() []string {
	names := make([]string, len(Shapes))
	for i, s := range Shapes {
		names[i] = s.Name
	}
	return names
}

// FindShape returns the shape called name.
func FindShape(name string) (Shape, error) {
	for _, s := range Shapes {
		if s.Name == name {
			return s, nil
		}
	}
	return Shape{}, option.Errorf("{Shapes} %q: want one of %s", name, strings.Join(ShapeNames(), ", "))
}

// NewModel returns a randomly initialised model of shape s.
func (s Shape) NewModel(seed uint64) (*model.Model, error) {
	cfg, err := model.NewConfig(s.Arch, s.Vocab, s.Layers, s.Hidden, s.Heads, s.KVHeads)
	if err != nil {
		return nil, err
	}
	if s.Intermediate > 0 {
		cfg.Intermediate = s.Intermediate
	}
	cfg.TieEmbeddings = cfg.TieEmbeddings || s.Tie
	cfg.MaxPositions = max(cfg.MaxPositions, s.Seq, s.GenPrompt+s.GenNew+16)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return model.New(cfg, seed)
}

// newModel is NewModel(1) computing in dtype.
func (s Shape) newModel(dtype string) (*model.Model, error) {
	m, err := s.NewModel(1)
	if err != nil {
		return nil, err
	}
	return m, m.SetComputeDType(dtype)
}

// Options tune a measurement.
type Options struct {
	// Steps is the number of timed training steps (or generation runs)
	// after one untimed warm-up that compiles the graphs. Default 3.
	Steps int
	// DType is the compute dtype: float32 (default) or bfloat16 (float32
	// master weights, as `rlhf sft --dtype bfloat16`).
	DType string
	// PeakTFLOPs is the device's peak dense FLOP/s in the compute dtype, in
	// TFLOP/s; MFU is reported when it is above 0. Default 0.
	PeakTFLOPs float64
	// Timed, when set, is called with true just before the timed steps
	// start and with false just after they end (run.go profiles only them).
	Timed func(start bool)
}

// timed calls o.Timed, if any.
func (o *Options) timed(start bool) {
	if o.Timed != nil {
		o.Timed(start)
	}
}

// Result is one measurement.
type Result struct {
	Impl        string  `json:"impl"` // "rlhf"
	Backend     string  `json:"backend"`
	Shape       string  `json:"shape"`
	Mode        string  `json:"mode"` // train or generate
	DType       string  `json:"dtype"`
	Params      int64   `json:"params"`
	Batch       int     `json:"batch"`
	Seq         int     `json:"seq"` // training sequence length, or new tokens per row
	Steps       int     `json:"steps"`
	Seconds     float64 `json:"seconds"`         // timed part
	CompileSecs float64 `json:"compile_seconds"` // the warm-up (graph compilation and first run)
	TokensPerS  float64 `json:"tokens_per_s"`
	MFU         float64 `json:"mfu,omitempty"` // 6·N·tokens/s / peak (train only)
}

func (o *Options) defaults() {
	if o.Steps <= 0 {
		o.Steps = 3
	}
	if o.DType == "" {
		o.DType = "float32"
	}
}

// TrainStep measures `rlhf sft`'s update (forward, backward, clipping at
// norm 1, AdamW) at s.Batch×s.Seq random tokens.
func TrainStep(ctx context.Context, backend compute.Backend, backendName string, s Shape, o Options) (Result, error) {
	o.defaults()
	m, err := s.newModel(o.DType)
	if err != nil {
		return Result{}, err
	}
	params := int64(m.Store.NumParameters()) // before the optimizer adds its moments
	opt := train.NewOptimizer(backend, m.Store, train.SFTLoss(m), train.OptimizerConfig{WeightDecay: 0.01, ClipGrad: 1})
	seqs := make([]infer.Encoded, s.Batch)
	for i := range seqs {
		toks := make([]int32, s.Seq)
		for j := range toks {
			toks[j] = int32((i*7919 + j*104729) % s.Vocab)
		}
		seqs[i] = infer.Encoded{Tokens: toks, PromptLen: 1}
	}
	bt := train.MakeBatch(seqs, s.Batch, s.Seq, 0)
	step := func() error {
		if _, err := opt.Micro(train.SFTInputs(bt)...); err != nil {
			return err
		}
		_, err := opt.Step(1e-5)
		return err
	}
	t0 := time.Now()
	if err := step(); err != nil {
		return Result{}, err
	}
	compile := time.Since(t0)
	o.timed(true)
	t0 = time.Now()
	for range o.Steps {
		if err := ctx.Err(); err != nil {
			o.timed(false)
			return Result{}, err
		}
		if err := step(); err != nil {
			o.timed(false)
			return Result{}, err
		}
	}
	el := time.Since(t0).Seconds()
	o.timed(false)
	r := Result{Impl: "rlhf", Backend: backendName, Shape: s.Name, Mode: "train", DType: o.DType,
		Params: params, Batch: s.Batch, Seq: bt.T, Steps: o.Steps,
		Seconds: el, CompileSecs: compile.Seconds(), TokensPerS: float64(s.Batch*bt.T*o.Steps) / el}
	if o.PeakTFLOPs > 0 {
		r.MFU = 6 * float64(r.Params) * r.TokensPerS / (o.PeakTFLOPs * 1e12)
	}
	return r, nil
}

// Generate measures KV-cache sampling (temperature 1, no EOS, so every row
// makes s.GenNew tokens) of s.GenBatch prompts of s.GenPrompt tokens; the
// prefill is part of the time.
func Generate(ctx context.Context, backend compute.Backend, backendName string, s Shape, o Options) (Result, error) {
	o.defaults()
	m, err := s.newModel(o.DType)
	if err != nil {
		return Result{}, err
	}
	dec, err := model.NewDecoder(backend, m)
	if err != nil {
		return Result{}, err
	}
	prompts := make([][]int, s.GenBatch)
	for i := range prompts {
		for j := range s.GenPrompt {
			prompts[i] = append(prompts[i], (i*13+j*5)%s.Vocab)
		}
	}
	opts := model.SampleOptions{MaxNewTokens: s.GenNew, Temperature: 1, Seed: 1, EOS: []int{-1}, BatchSize: s.GenBatch}
	t0 := time.Now()
	if _, err := dec.Generate(ctx, prompts, opts); err != nil {
		return Result{}, err
	}
	compile := time.Since(t0)
	o.timed(true)
	t0 = time.Now()
	n := 0
	for range o.Steps {
		out, err := dec.Generate(ctx, prompts, opts)
		if err != nil {
			o.timed(false)
			return Result{}, err
		}
		for _, smp := range out {
			n += len(smp.Tokens)
		}
	}
	el := time.Since(t0).Seconds()
	o.timed(false)
	return Result{Impl: "rlhf", Backend: backendName, Shape: s.Name, Mode: "generate", DType: o.DType,
		Params: int64(m.Store.NumParameters()), Batch: s.GenBatch, Seq: s.GenNew, Steps: o.Steps,
		Seconds: el, CompileSecs: compile.Seconds(), TokensPerS: float64(n) / el}, nil
}
