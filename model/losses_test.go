package model

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestLogProbsEntropyLoss(t *testing.T) {
	logits := [][][]float32{{{1, 2, 3}, {0, 0, 0}, {-1, 5, 2}}}
	tokens := [][]int32{{2, 1, 0}}
	lossMask := [][]int32{{0, 1, 1}}
	exec := MustNewExec(testBackend(), func(lg, tok, lm *Node) []*Node {
		return []*Node{TokenLogProbs(lg, tok), Entropy(lg), CausalLMLoss(lg, tok, lm), NextTokenLogProbs(lg, tok)}
	})
	out := exec.MustExec(tensors.FromValue(logits), tensors.FromValue(tokens), tensors.FromValue(lossMask))
	lsm := func(row []float32, i int) float64 {
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v))
		}
		return float64(row[i]) - math.Log(s)
	}
	lp := out[0].Value().([][]float32)
	for ti, tok := range tokens[0] {
		if want := lsm(logits[0][ti], int(tok)); math.Abs(float64(lp[0][ti])-want) > 1e-5 {
			t.Errorf("logprob[%d] = %v, want %v", ti, lp[0][ti], want)
		}
	}
	ent := out[1].Value().([][]float32)
	if math.Abs(float64(ent[0][1])-math.Log(3)) > 1e-5 {
		t.Errorf("entropy of uniform = %v, want ln 3", ent[0][1])
	}
	wantLoss := -(lsm(logits[0][0], 1) + lsm(logits[0][1], 0)) / 2
	if got := out[2].Value().(float32); math.Abs(float64(got)-wantLoss) > 1e-5 {
		t.Errorf("loss = %v, want %v", got, wantLoss)
	}
	next := out[3].Value().([][]float32)
	if len(next[0]) != 2 || math.Abs(float64(next[0][1])-lsm(logits[0][1], 0)) > 1e-5 {
		t.Errorf("next-token logprobs = %v", next)
	}
}
