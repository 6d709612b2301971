package model

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// newTrainStep is the example of docs/model.md: one SFT step (forward,
// backward, AdamW) compiled once per input shape.
func newTrainStep(m *Model, lr float64) *gmodel.Exec {
	opt := optimizer.Adam().LearningRate(lr).WeightDecay(0.01).Done()
	return gmodel.MustNewExec(testBackend(), m.Store,
		func(scope *gmodel.Scope, tokens, mask, lossMask *Node) *Node {
			logits, _ := m.Forward(tokens, mask)
			loss := CausalLMLoss(logits, tokens, lossMask)
			opt.UpdateGraph(scope, tokens.Graph(), loss)
			return loss
		})
}

func TestTrainStepReducesLoss(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchBloom} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			step := newTrainStep(m, 1e-2)
			tokens := tensors.FromValue([][]int32{{0, 3, 4, 5, 6, 7}, {0, 0, 8, 9, 10, 11}})
			mask := tensors.FromValue([][]int32{{1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1}})
			lossMask := tensors.FromValue([][]int32{{0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1}})
			var first, last float32
			for i := range 8 {
				loss := step.MustExec1(tokens, mask, lossMask).Value().(float32)
				if i == 0 {
					first = loss
				}
				last = loss
			}
			if !(last < first*0.8) {
				t.Fatalf("loss went from %v to %v in 8 steps", first, last)
			}
			// Optimizer state stays out of the checkpoint.
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}
