package model

import (
	"context"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// Benchmarks of the two hot paths on the default (go) backend, reported as
// tokens/s: a training step (forward + backward + AdamW, as in docs/model.md)
// and KV-cache generation. `make bench` runs each once (-benchtime 1x); the
// first call, which compiles the graphs, is excluded.

type benchShape struct {
	name                   string
	layers, hidden, heads  int
	vocab, batch, seq      int
	genBatch, genPrompt, N int
}

var benchShapes = []benchShape{
	{name: "tiny-2x128", layers: 2, hidden: 128, heads: 4, vocab: 257, batch: 8, seq: 128, genBatch: 8, genPrompt: 16, N: 64},
	{name: "gpt2-small-12x768", layers: 12, hidden: 768, heads: 12, vocab: 50257, batch: 1, seq: 256, genBatch: 4, genPrompt: 16, N: 32},
}

func benchModel(b *testing.B, s benchShape) *Model {
	cfg, err := NewConfig(ArchGPT2, s.vocab, s.layers, s.hidden, s.heads, 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkTrainStep(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			m := benchModel(b, s)
			step := newTrainStep(m, 1e-4)
			toks := make([][]int32, s.batch)
			mask := make([][]int32, s.batch)
			for i := range toks {
				toks[i], mask[i] = make([]int32, s.seq), make([]int32, s.seq)
				for j := range toks[i] {
					toks[i][j], mask[i][j] = int32((i*31+j*7)%s.vocab), 1
				}
			}
			tt, mt := tensors.FromValue(toks), tensors.FromValue(mask)
			step.MustExec1(tt, mt, mt) // compile
			b.ResetTimer()
			for range b.N {
				step.MustExec1(tt, mt, mt)
			}
			b.ReportMetric(float64(b.N*s.batch*s.seq)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			m := benchModel(b, s)
			dec, err := NewDecoder(testBackend(), m)
			if err != nil {
				b.Fatal(err)
			}
			prompts := make([][]int, s.genBatch)
			for i := range prompts {
				for j := range s.genPrompt {
					prompts[i] = append(prompts[i], (i*13+j*5)%s.vocab)
				}
			}
			opts := SampleOptions{MaxNewTokens: s.N, Temperature: 1, Seed: 1, EOS: []int{-1}, BatchSize: s.genBatch}
			if _, err := dec.Generate(context.Background(), prompts, opts); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := dec.Generate(context.Background(), prompts, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*s.genBatch*s.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
