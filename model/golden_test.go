package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// golden is testdata/models/<arch>/expected.json, written by
// testdata/models/make_golden.py (an independent numpy implementation).
type golden struct {
	InputIDs      [][]int32     `json:"input_ids"`
	AttentionMask [][]int32     `json:"attention_mask"`
	DType         string        `json:"dtype"`
	Logits        [][][]float64 `json:"logits"`
	Scores        []float64     `json:"scores"`
}

func goldenDir(arch string) string { return filepath.Join("..", "testdata", "models", arch) }

func loadGolden(t *testing.T, arch string) (*Model, *golden) {
	t.Helper()
	m, err := Load(goldenDir(arch))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(goldenDir(arch), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return m, &g
}

func TestGoldenLogits(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchQwen2, ArchBloom} {
		t.Run(arch, func(t *testing.T) {
			m, g := loadGolden(t, arch)
			exec := gmodel.MustNewExec(testBackend(), m.Store, func(_ *gmodel.Scope, tok, msk *Node) []*Node {
				logits, hidden := m.Forward(tok, msk)
				out := []*Node{logits}
				if m.HasScoreHead() {
					out = append(out, m.Score(hidden, msk))
				}
				return out
			})
			out := exec.MustExec(tensors.FromValue(g.InputIDs), tensors.FromValue(g.AttentionMask))
			got := out[0].Value().([][][]float32)
			var maxDiff float64
			for b := range g.Logits {
				for ti := range g.Logits[b] {
					if g.AttentionMask[b][ti] == 0 {
						continue
					}
					for v, want := range g.Logits[b][ti] {
						maxDiff = math.Max(maxDiff, math.Abs(float64(got[b][ti][v])-want))
					}
				}
			}
			if maxDiff > 1e-4 {
				t.Fatalf("%s (%s weights): max |logit - reference| = %g > 1e-4", arch, g.DType, maxDiff)
			}
			t.Logf("%s: max |Δlogit| = %.2g", arch, maxDiff)
			if len(g.Scores) > 0 {
				if !m.HasScoreHead() {
					t.Fatal("score.weight not loaded")
				}
				scores := out[1].Value().([]float32)
				for b, want := range g.Scores {
					if math.Abs(float64(scores[b])-want) > 1e-4 {
						t.Errorf("score[%d] = %v, reference %v", b, scores[b], want)
					}
				}
			}
		})
	}
}

// TestGoldenLogitsBF16Compute runs the golden models with bfloat16 weights
// and activations: logits stay close to the float32 reference.
func TestGoldenLogitsBF16Compute(t *testing.T) {
	for _, arch := range []string{ArchLlama, ArchBloom} {
		m, g := loadGolden(t, arch)
		if err := m.SetComputeDType("bfloat16"); err != nil {
			t.Fatal(err)
		}
		got := runLogits(t, m, g.InputIDs, g.AttentionMask)
		var maxDiff float64
		for b := range g.Logits {
			for ti := range g.Logits[b] {
				if g.AttentionMask[b][ti] == 0 {
					continue
				}
				for v, want := range g.Logits[b][ti] {
					maxDiff = math.Max(maxDiff, math.Abs(float64(got[b][ti][v])-want))
				}
			}
		}
		if maxDiff > 0.25 || math.IsNaN(maxDiff) {
			t.Fatalf("%s in bfloat16: max |Δlogit| = %g", arch, maxDiff)
		}
		t.Logf("%s bf16: max |Δlogit| = %.3g", arch, maxDiff)
	}
}
