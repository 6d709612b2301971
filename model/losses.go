package model

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// logSumExp over the last axis, keeping it: [...,V] → [...,1].
func logSumExp(logits *Node) *Node {
	mx := StopGradient(ReduceAndKeep(logits, ReduceMax, -1))
	return Add(mx, Log(ReduceAndKeep(Exp(Sub(logits, mx)), ReduceSum, -1)))
}

// TokenLogProbs returns log softmax(logits)[..., targets]: logits [B,T,V]
// (any float dtype, computed in float32), targets [B,T] int → [B,T] float32.
// It is not shifted: pair logits[:, t] with the token at t+1 yourself, or
// use NextTokenLogProbs.
func TokenLogProbs(logits, targets *Node) *Node {
	g := logits.Graph()
	logits = ConvertDType(logits, dtypes.Float32)
	B, T := targets.Shape().Dim(0), targets.Shape().Dim(1)
	b := Iota(g, shapes.Make(dtypes.Int32, B, T), 0)
	t := Iota(g, shapes.Make(dtypes.Int32, B, T), 1)
	idx := Stack([]*Node{b, t, ConvertDType(targets, dtypes.Int32)}, -1) // [B,T,3]
	chosen := Gather(logits, idx)                                        // [B,T]
	return Sub(chosen, Squeeze(logSumExp(logits), -1))
}

// NextTokenLogProbs returns log p(tokens[:, t+1] | tokens[:, ≤t]) for
// t = 0..T-2: logits [B,T,V], tokens [B,T] → [B,T-1]. Entry t scores
// token t+1.
func NextTokenLogProbs(logits, tokens *Node) *Node {
	T := tokens.Shape().Dim(1)
	return TokenLogProbs(SliceAxis(logits, 1, AxisRange(0, T-1)), SliceAxis(tokens, 1, AxisRange(1, T)))
}

// Entropy of softmax(logits) over the last axis: [B,T,V] → [B,T] float32 (nats).
func Entropy(logits *Node) *Node {
	logits = ConvertDType(logits, dtypes.Float32)
	lse := logSumExp(logits)
	p := Exp(Sub(logits, lse))
	return Squeeze(Sub(lse, ReduceAndKeep(Mul(p, logits), ReduceSum, -1)), -1)
}

// CausalLMLoss is the mean negative log-likelihood of next tokens where
// lossMask is set: logits [B,T,V], tokens [B,T], lossMask [B,T] (1 marks a
// token to predict, e.g. response tokens for SFT; padding must be 0).
// Position t of logits predicts token t+1, so lossMask[:, 0] is ignored.
// Returns a float32 scalar (0 if nothing is masked in).
func CausalLMLoss(logits, tokens, lossMask *Node) *Node {
	T := tokens.Shape().Dim(1)
	lp := NextTokenLogProbs(logits, tokens) // [B,T-1]
	w := ConvertDType(toBool(SliceAxis(lossMask, 1, AxisRange(1, T))), dtypes.Float32)
	total := ReduceAllSum(Mul(lp, w))
	n := Max(ReduceAllSum(w), OnesLike(ReduceAllSum(w)))
	return Neg(Div(total, n))
}

// MaskedMean is sum(x*mask)/max(sum(mask),1) over all axes: a helper for
// per-token losses (PPO, KL penalties). x and mask [B,T].
func MaskedMean(x, mask *Node) *Node {
	w := ConvertDType(toBool(mask), x.DType())
	n := ReduceAllSum(w)
	return Div(ReduceAllSum(Mul(x, w)), Max(n, OnesLike(n)))
}
