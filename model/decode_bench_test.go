package model

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkDecodeStep times one KV-cache Step (tiny shape: gpt2 2x128, vocab
// 257, batch 8, 16 prompt + 64 cache slots) without the host-side sampling.
func BenchmarkDecodeStep(b *testing.B) {
	cfg, err := NewConfig(ArchGPT2, 257, 2, 128, 4, 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := NewDecoder(testBackend(), m)
	if err != nil {
		b.Fatal(err)
	}
	const B, P, S = 8, 16, 80
	tokens, mask := make([][]int32, B), make([][]int32, B)
	for i := range B {
		tokens[i], mask[i] = make([]int32, P), make([]int32, P)
		for j := range P {
			tokens[i][j], mask[i][j] = int32((i*13+j*5)%257), 1
		}
	}
	next := make([]int32, B)
	b.ResetTimer()
	steps := 0
	for range b.N {
		b.StopTimer()
		st, _, err := dec.Start(tokens, mask, S)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for st.Slot() < S {
			if _, err := st.Step(next, nil); err != nil {
				b.Fatal(err)
			}
			steps++
		}
		st.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(steps), "µs/step")
}

// BenchmarkExp times graph Exp (and Neg, as the baseline of a call with the
// same copies) on float32 [8,257] and [8,50257] (the logits of one decode
// step at the tiny and gpt2 vocabularies) on the test backend. Run with and
// without GOEXPERIMENT=simd to compare.
func BenchmarkExp(b *testing.B) {
	for _, op := range []struct {
		name string
		fn   func(*Node) *Node
	}{{"Exp", Exp}, {"Neg", Neg}} { // Neg: the cost of the call and copies alone
		for _, v := range []int{257, 50257} {
			b.Run(fmt.Sprintf("%s/8x%d", op.name, v), func(b *testing.B) {
				benchUnary(b, op.fn, v)
			})
		}
	}
}

func benchUnary(b *testing.B, fn func(*Node) *Node, v int) {
	exec := MustNewExec(testBackend(), fn)
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 8, v))
	tensors.MutableFlatData(x, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(i%97)/10 - 5
		}
	})
	exec.MustExec1(x).FinalizeAll() // compile
	b.ResetTimer()
	for range b.N {
		exec.MustExec1(x).FinalizeAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8*v), "ns/elem")
}

// TestGenerateDump writes the tokens and log-probs of a few Generate calls
// (bit-exact %x of the float64s) to $RLHF_GEN_DUMP, so two versions of the
// decoder can be compared with cmp. Skipped when the variable is unset.
func TestGenerateDump(t *testing.T) {
	path := os.Getenv("RLHF_GEN_DUMP")
	if path == "" {
		t.Skip("RLHF_GEN_DUMP not set")
	}
	var sb strings.Builder
	for _, arch := range []string{ArchGPT2, ArchLlama} {
		cfg, err := NewConfig(arch, 257, 2, 128, 4, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := NewDecoder(testBackend(), m)
		if err != nil {
			t.Fatal(err)
		}
		prompts := make([][]int, 11)
		for i := range prompts {
			for j := range 3 + i*2 {
				prompts[i] = append(prompts[i], (i*13+j*5)%257)
			}
		}
		for _, o := range []SampleOptions{
			{MaxNewTokens: 64, Temperature: 1, Seed: 1, EOS: []int{-1}},
			{MaxNewTokens: 20, Seed: 2, EOS: []int{7}},
			{MaxNewTokens: 20, Temperature: 0.7, TopP: 0.9, TopK: 50, Seed: 3, EOS: []int{3}, BatchSize: 4},
			{MaxNewTokens: 30, Temperature: 1.3, Seed: 4, EOS: []int{5}, BatchSize: 16},
			{MaxNewTokens: 10, Temperature: 0.5, TopK: 5, Seed: 5, EOS: []int{-1}, BatchSize: 3},
		} {
			out, err := dec.Generate(context.Background(), prompts, o)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range out {
				fmt.Fprintf(&sb, "%s %d finished=%v lp=%x:", arch, i, s.Finished, s.LogProb)
				for j, tok := range s.Tokens {
					fmt.Fprintf(&sb, " %d/%x", tok, s.LogProbs[j])
				}
				sb.WriteString("\n")
			}
		}
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
