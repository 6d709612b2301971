package model

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestGenerateGreedyMatchesForwardArgmax(t *testing.T) {
	m := tinyModel(t, ArchLlama)
	dec, err := NewDecoder(testBackend(), m)
	if err != nil {
		t.Fatal(err)
	}
	prompts := [][]int{{3, 4, 5, 6, 7}, {8, 9}}
	out, err := dec.Generate(context.Background(), prompts, SampleOptions{MaxNewTokens: 6, EOS: []int{-1}, BatchSize: 2, LengthBucket: 4})
	if err != nil {
		t.Fatal(err)
	}
	checkGreedy(t, m, prompts, out)
}

// checkGreedy checks greedy samples out of prompts against the argmax and
// log-probabilities of the full forward pass with m's current weights.
func checkGreedy(t *testing.T, m *Model, prompts [][]int, out []Sample) {
	t.Helper()
	for b, p := range prompts {
		if len(out[b].Tokens) != 6 || out[b].Finished {
			t.Fatalf("row %d: %+v", b, out[b])
		}
		seq := make([]int32, 0, len(p)+6)
		for _, x := range append(slices.Clone(p), out[b].Tokens...) {
			seq = append(seq, int32(x))
		}
		mask := make([]int32, len(seq))
		for i := range mask {
			mask[i] = 1
		}
		lg := runLogits(t, m, [][]int32{seq}, [][]int32{mask})[0]
		for i, tok := range out[b].Tokens {
			row := lg[len(p)-1+i]
			best := 0
			for v := range row {
				if row[v] > row[best] {
					best = v
				}
			}
			if best != tok {
				t.Fatalf("row %d step %d: generated %d, forward argmax %d", b, i, tok, best)
			}
			var z float64
			for _, l := range row {
				z += math.Exp(float64(l - row[best]))
			}
			if want := -math.Log(z); math.Abs(out[b].LogProbs[i]-want) > 1e-4 {
				t.Fatalf("row %d step %d: logprob %v, want %v", b, i, out[b].LogProbs[i], want)
			}
		}
	}
}

func TestGenerateDeterministicUnderSeed(t *testing.T) {
	m := tinyModel(t, ArchGPT2)
	dec, _ := NewDecoder(testBackend(), m)
	prompts := [][]int{{1, 2, 3}, {4}, {5, 6}}
	opts := SampleOptions{MaxNewTokens: 8, Temperature: 1.5, TopP: 0.9, TopK: 20, Seed: 42, EOS: []int{-1}, BatchSize: 2, LengthBucket: 8}
	a, err := dec.Generate(context.Background(), prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.BatchSize = 3 // different batching, same samples
	b, _ := dec.Generate(context.Background(), prompts, opts)
	for i := range a {
		if !reflect.DeepEqual(a[i].Tokens, b[i].Tokens) {
			t.Fatalf("prompt %d: %v vs %v with the same seed", i, a[i].Tokens, b[i].Tokens)
		}
	}
	opts.Seed = 43
	c, _ := dec.Generate(context.Background(), prompts, opts)
	if reflect.DeepEqual(a[0].Tokens, c[0].Tokens) && reflect.DeepEqual(a[1].Tokens, c[1].Tokens) && reflect.DeepEqual(a[2].Tokens, c[2].Tokens) {
		t.Fatal("a different seed gave the same samples")
	}
	for _, s := range a {
		for _, tok := range s.Tokens {
			if tok < 0 || tok >= m.Config.VocabSize {
				t.Fatalf("token %d out of range", tok)
			}
		}
	}
}

func TestGenerateStopsRowAtEOS(t *testing.T) {
	m, err := Load(goldenDir(ArchBloom))
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := NewDecoder(testBackend(), m)
	prompts := [][]int{{3, 4, 5}, {9, 8, 7, 6}}
	opts := SampleOptions{MaxNewTokens: 6, EOS: []int{-1}, BatchSize: 2, LengthBucket: 4}
	free, err := dec.Generate(context.Background(), prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Pick as EOS a token row 0 emits early that row 1 never emits.
	eos := -1
	for i, tok := range free[0].Tokens[:5] {
		if !slices.Contains(free[1].Tokens, tok) {
			eos, opts.EOS = i, []int{tok}
			break
		}
	}
	if eos < 0 {
		t.Fatalf("free runs %v and %v share every token: pick other prompts", free[0].Tokens, free[1].Tokens)
	}
	out, err := dec.Generate(context.Background(), prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Finished || len(out[0].Tokens) != eos+1 || !reflect.DeepEqual(out[0].Tokens, free[0].Tokens[:eos+1]) {
		t.Fatalf("row 0 should stop after its EOS at step %d: %+v (free run %v)", eos, out[0], free[0].Tokens)
	}
	if out[1].Finished || !reflect.DeepEqual(out[1].Tokens, free[1].Tokens) {
		t.Fatalf("row 1 should continue unchanged: %v vs %v", out[1].Tokens, free[1].Tokens)
	}
}

// The go backend's decoder steps with [in, out] copies of the [out, in]
// matrices; a Generate after the weights change (in place, as the host
// optimizer does, or replaced) samples with the new weights, not the copies'.
func TestGenerateSeesWeightChanges(t *testing.T) {
	for _, arch := range []string{ArchLlama, ArchGPT2} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			dec, err := NewDecoder(testBackend(), m)
			if err != nil {
				t.Fatal(err)
			}
			head := m.Config.arch().embedding()
			if !m.Config.TieEmbeddings {
				head = lmHeadWeight
			}
			if !slices.Contains(dec.inOut, head) || (arch == ArchLlama && !slices.Contains(dec.inOut, "model.layers.0.self_attn.q_proj.weight")) {
				t.Fatalf("decoder's [in, out] copies: %v", dec.inOut)
			}
			prompts := [][]int{{3, 4, 5, 6, 7}, {8, 9}}
			opts := SampleOptions{MaxNewTokens: 6, EOS: []int{-1}, BatchSize: 2, LengthBucket: 4}
			gen := func() []Sample {
				out, err := dec.Generate(context.Background(), prompts, opts)
				if err != nil {
					t.Fatal(err)
				}
				checkGreedy(t, m, prompts, out)
				return out
			}
			before := gen()
			// In place, as train's host AdamW writes.
			v := m.Variable(head)
			val, err := v.Value()
			if err != nil {
				t.Fatal(err)
			}
			if err := tensors.MutableFlatData(val, func(f []float32) {
				for i := range f {
					f[i] = -1.5*f[i] + 0.01*float32(i%7)
				}
			}); err != nil {
				t.Fatal(err)
			}
			inPlace := gen()
			if reflect.DeepEqual(inPlace, before) {
				t.Fatal("changing the LM head in place changed no sample: the test shows nothing")
			}
			// Replaced by a new tensor.
			q := m.Variable(m.Config.linears(false)[0].Name)
			qv, err := q.Value()
			if err != nil {
				t.Fatal(err)
			}
			nq, err := qv.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			if err := tensors.MutableFlatData(nq, func(f []float32) {
				for i := range f {
					f[i] = 3 * f[i]
				}
			}); err != nil {
				t.Fatal(err)
			}
			if err := q.SetValue(nq); err != nil {
				t.Fatal(err)
			}
			gen()
		})
	}
}

// The weight copies exist while a Generate runs or a Start's state is open,
// and are freed after.
func TestDecoderReleasesWeightCopies(t *testing.T) {
	m := tinyModel(t, ArchLlama)
	dec, err := NewDecoder(testBackend(), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Generate(context.Background(), [][]int{{3, 4, 5}}, SampleOptions{MaxNewTokens: 2, EOS: []int{-1}}); err != nil {
		t.Fatal(err)
	}
	if dec.inOutT != nil || dec.inOutUsers != 0 {
		t.Fatalf("after Generate: %d copies held by %d users", len(dec.inOutT), dec.inOutUsers)
	}
	a, _, err := dec.Start([][]int32{{3, 4}}, [][]int32{{1, 1}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := dec.Start([][]int32{{5, 6}}, [][]int32{{1, 1}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := b.Step([]int32{7}, nil); err != nil || dec.inOutT == nil {
		t.Fatalf("a state still open must keep the copies: %v", err)
	}
	b.Close()
	b.Close() // twice is harmless
	if dec.inOutT != nil || dec.inOutUsers != 0 {
		t.Fatalf("after both states closed: %d copies held by %d users", len(dec.inOutT), dec.inOutUsers)
	}
}
