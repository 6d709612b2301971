package model

import (
	"math"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

var testBackend = sync.OnceValue(func() compute.Backend {
	b, err := NewBackend("go")
	if err != nil {
		panic(err)
	}
	return b
})

func tinyModel(t testing.TB, arch string) *Model {
	t.Helper()
	kv := 0
	if arch == ArchLlama || arch == ArchQwen2 {
		kv = 2
	}
	cfg, err := NewConfig(arch, 50, 2, 32, 4, kv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxPositions = 64
	cfg.InitRange = 0.2
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runLogits returns logits [B][T][V] for tokens/mask.
func runLogits(t testing.TB, m *Model, tokens, mask [][]int32) [][][]float32 {
	t.Helper()
	exec, err := gmodel.NewExec(testBackend(), m.Store, func(_ *gmodel.Scope, tok, msk *Node) *Node {
		logits, _ := m.Forward(tok, msk)
		return toF32(logits)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec1(tensors.FromValue(tokens), tensors.FromValue(mask))
	if err != nil {
		t.Fatal(err)
	}
	return out.Value().([][][]float32)
}

func TestPaddingLeftRightSameLogits(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchQwen2, ArchBloom} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			// Row 0: 3 real tokens right-padded; row 1: same tokens left-padded.
			tokens := [][]int32{{5, 9, 2, 0, 0}, {0, 0, 5, 9, 2}}
			mask := [][]int32{{1, 1, 1, 0, 0}, {0, 0, 1, 1, 1}}
			lg := runLogits(t, m, tokens, mask)
			for i := range 3 {
				for v := range lg[0][i] {
					a, b := lg[0][i][v], lg[1][i+2][v]
					if math.IsNaN(float64(a)) || math.Abs(float64(a-b)) > 1e-4 {
						t.Fatalf("token %d vocab %d: right-padded %v, left-padded %v", i, v, a, b)
					}
				}
			}
		})
	}
}

// TestPackedSegmentsAreIsolated: in a packed row (mask = segment ids), each
// example gives the logits it gives alone: no attention across examples and
// positions restart per segment.
func TestPackedSegmentsAreIsolated(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchQwen2, ArchBloom} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			tokens := [][]int32{{5, 9, 2, 7, 3, 0}, {7, 3, 0, 0, 0, 0}, {5, 9, 2, 0, 0, 0}}
			mask := [][]int32{{1, 1, 1, 2, 2, 0}, {1, 1, 0, 0, 0, 0}, {1, 1, 1, 0, 0, 0}}
			lg := runLogits(t, m, tokens, mask)
			check := func(packedAt, aloneRow, aloneAt int) {
				for v := range lg[0][packedAt] {
					a, b := lg[0][packedAt][v], lg[aloneRow][aloneAt][v]
					if math.IsNaN(float64(a)) || math.Abs(float64(a-b)) > 1e-4 {
						t.Fatalf("packed token %d vocab %d: %v, alone %v", packedAt, v, a, b)
					}
				}
			}
			for i := range 3 {
				check(i, 2, i) // first segment
			}
			for i := range 2 {
				check(3+i, 1, i) // second segment, as if it started the row
			}
		})
	}
}
