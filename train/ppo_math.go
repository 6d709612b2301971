package train

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/rlhf-project/rlhf/model"
)

// The PPO arithmetic, kept apart from the loop so it can be tested against
// hand-computed values. Per-sequence slices are indexed by response token:
// entry t is the t-th generated token (its log-prob, the value of the state
// before it, its reward); n is the response length (EOS included).

// KLRewards returns the per-token rewards of one response: −beta·(logp[t] −
// refLogp[t]) at every token, plus score on the last one (InstructGPT,
// Ziegler et al. 2019). It also returns the summed KL estimate Σ(logp−refLogp).
func KLRewards(logp, refLogp []float64, score, beta float64) (rewards []float64, kl float64) {
	n := len(logp)
	rewards = make([]float64, n)
	for t := range n {
		d := logp[t] - refLogp[t]
		kl += d
		rewards[t] = -beta * d
	}
	if n > 0 {
		rewards[n-1] += score
	}
	return rewards, kl
}

// GAE computes generalised advantage estimates (Schulman et al. 2016) for
// one response: δ_t = r_t + γ·V_{t+1} − V_t (V_n = 0: the episode ends with
// the response), A_t = δ_t + γλ·A_{t+1}; returns R_t = A_t + V_t are the
// critic's targets.
func GAE(rewards, values []float64, gamma, lambda float64) (adv, returns []float64) {
	n := len(rewards)
	adv = make([]float64, n)
	returns = make([]float64, n)
	last := 0.0
	for t := n - 1; t >= 0; t-- {
		next := 0.0
		if t+1 < n {
			next = values[t+1]
		}
		delta := rewards[t] + gamma*next - values[t]
		last = delta + gamma*lambda*last
		adv[t] = last
		returns[t] = adv[t] + values[t]
	}
	return adv, returns
}

// Whiten normalises, in place, every value of xs (all sequences together)
// to mean 0 and standard deviation 1 (population std, +1e-8), as PPO
// implementations do with advantages per rollout batch. A batch with a
// single value is only centred.
func Whiten(xs [][]float64) {
	var n, sum, sq float64
	for _, row := range xs {
		for _, x := range row {
			n++
			sum += x
		}
	}
	if n == 0 {
		return
	}
	mean := sum / n
	for _, row := range xs {
		for _, x := range row {
			sq += (x - mean) * (x - mean)
		}
	}
	std := math.Sqrt(sq / n)
	for _, row := range xs {
		for i := range row {
			if n > 1 {
				row[i] = (row[i] - mean) / (std + 1e-8)
			} else {
				row[i] -= mean
			}
		}
	}
}

// KLController holds β, the weight of the KL penalty. With Target 0 it is
// fixed; otherwise it is the adaptive controller of Ziegler et al. (2019):
// after each rollout of n sequences with mean KL kl,
// β ← β·(1 + clip(kl/Target − 1, −0.2, 0.2)·n/Horizon).
type KLController struct {
	// Beta is the current coefficient.
	Beta float64
	// Target is the desired KL per sequence in nats (0: fixed Beta).
	Target float64
	// Horizon is the number of sequences over which the error is corrected.
	Horizon float64
}

// Update adapts Beta after a rollout of n sequences with mean KL kl.
func (c *KLController) Update(kl float64, n int) {
	if c.Target <= 0 || c.Horizon <= 0 || !finite(kl) {
		return
	}
	e := math.Max(-0.2, math.Min(0.2, kl/c.Target-1))
	c.Beta *= 1 + e*float64(n)/c.Horizon
}

// PolicyLoss is PPO's clipped surrogate over the masked tokens:
// ppoMean(max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε))) with ρ = exp(logp − oldLogp). It
// also returns the fraction of tokens where the clipped term was chosen and
// the approximate KL ppoMean(½(logp − oldLogp)²) between the new and the
// rollout policy. All inputs are [B,R] float32 (mask 1 on response
// tokens); clip is a scalar node.
func PolicyLoss(logp, oldLogp, adv, mask, clip *Node) (loss, clipFrac, approxKL *Node) {
	logRatio := Sub(logp, oldLogp)
	ratio := Exp(logRatio)
	one := OnesLike(clip)
	unclipped := Neg(Mul(adv, ratio))
	clipped := Neg(Mul(adv, ppoClamp(ratio, Sub(one, clip), Add(one, clip))))
	loss = model.MaskedMean(Max(unclipped, clipped), mask)
	clipFrac = model.MaskedMean(ConvertDType(GreaterThan(clipped, unclipped), dtypes.Float32), mask)
	approxKL = model.MaskedMean(MulScalar(Square(logRatio), 0.5), mask)
	return loss, StopGradient(clipFrac), StopGradient(approxKL)
}

// ValueLoss is PPO's clipped value loss over the masked tokens:
// ½·ppoMean(max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²)), and the
// fraction of tokens where the clipped term was larger. values, oldValues,
// returns, mask [B,R]; clip is a scalar node (≤ 0 disables clipping).
func ValueLoss(values, oldValues, returns, mask, clip *Node) (loss, clipFrac *Node) {
	unclipped := Square(Sub(values, returns))
	// clip ≤ 0 means no clipping: use a huge range instead.
	eps := Where(GreaterThan(clip, ZerosLike(clip)), clip, AddScalar(ZerosLike(clip), 1e30))
	vc := Add(oldValues, ppoClamp(Sub(values, oldValues), Neg(eps), eps))
	clipped := Square(Sub(vc, returns))
	loss = MulScalar(model.MaskedMean(Max(unclipped, clipped), mask), 0.5)
	clipFrac = StopGradient(model.MaskedMean(ConvertDType(GreaterThan(clipped, unclipped), dtypes.Float32), mask))
	return loss, clipFrac
}

// KLLoss is GRPO's KL penalty to the reference policy: the masked mean
// over response tokens of Schulman's k3 estimator e^d − d − 1 with d =
// refLogp − logp (unbiased for KL(π‖π_ref), never negative), d clamped to
// ±10 as OpenRLHF does so that one token cannot overflow the loss. Inputs
// [B,R] float32 (mask 1 on response tokens).
func KLLoss(logp, refLogp, mask *Node) *Node {
	d := Sub(refLogp, logp)
	lim := Scalar(d.Graph(), d.DType(), 10)
	d = ppoClamp(d, Neg(lim), lim)
	return model.MaskedMean(Sub(Sub(Exp(d), d), OnesLike(d)), mask)
}

// ActorLoss combines the policy loss, the entropy bonus and PPO-ptx's
// pre-training term: pg − entCoef·entropy + ptxCoef·ptx (InstructGPT's
// objective; ptx is the mean LM loss of a pre-training batch, and ptxCoef
// 0 gives plain PPO).
func ActorLoss(pg, entropy, ptx, entCoef, ptxCoef *Node) *Node {
	loss := Sub(pg, Mul(entCoef, entropy))
	if ptx != nil {
		loss = Add(loss, Mul(ptxCoef, ptx))
	}
	return loss
}

// ppoClamp is min(max(x, lo), hi) with scalar bounds, written with Max and
// Min because GoMLX's Clamp (graph.Clip) has no gradient.
func ppoClamp(x, lo, hi *Node) *Node {
	return Min(Max(x, BroadcastToShape(lo, x.Shape())), BroadcastToShape(hi, x.Shape()))
}
