package train

import (
	"log/slog"
	"math"
)

// advantageInput is what an advantage estimator reads: per sequence, the
// per-token rewards (−β·KL at every token, the score added on the last),
// the critic's values, and the index of the prompt it answers (estimators
// that compare the samples of one prompt, as GRPO and RLOO do, group by it).
type advantageInput struct {
	rewards, values [][]float64
	prompt          []int
	gamma, lambda   float64
}

// advantageEstimator turns rewards into per-token advantages and returns
// (the critic's targets). PPO uses GAE; critic-free estimators are other
// functions of this type, not other loops.
type advantageEstimator func(in advantageInput) (adv, returns [][]float64)

// gaeEstimator is PPO's estimator: GAE(γ, λ) per sequence.
func gaeEstimator(in advantageInput) (adv, returns [][]float64) {
	adv, returns = make([][]float64, len(in.rewards)), make([][]float64, len(in.rewards))
	for n := range in.rewards {
		adv[n], returns[n] = GAE(in.rewards[n], in.values[n], in.gamma, in.lambda)
	}
	return adv, returns
}

// computeAdvantages normalises (and clips) each sequence's reward-model
// score, turns it into per-token rewards with the KL penalty of weight
// beta, and sets the experience's advantages (whitened unless NoWhiten)
// and returns.
func (r *ppoRun) computeAdvantages(exp *experience, beta float64, iter int) {
	o := r.o
	N, R := exp.N, exp.R
	exp.score, exp.kl, exp.reward = make([]float64, N), make([]float64, N), make([]float64, N)
	in := advantageInput{rewards: make([][]float64, N), values: make([][]float64, N), prompt: make([]int, N),
		gamma: o.Gamma, lambda: o.Lambda}
	nonFinite := 0
	for n := range N {
		s := r.norm.Apply(exp.rawRM[n])
		if o.RewardClip > 0 {
			s = math.Max(-o.RewardClip, math.Min(o.RewardClip, s))
		}
		if !finite(s) {
			nonFinite++
			s = 0
		}
		exp.score[n] = s
		L := exp.RespLen[n]
		lp, rlp, vals := make([]float64, L), make([]float64, L), make([]float64, L)
		for t := range L {
			lp[t], rlp[t], vals[t] = float64(exp.logp[n*R+t]), float64(exp.refLogp[n*R+t]), float64(exp.values[n*R+t])
		}
		rewards, k := KLRewards(lp, rlp, s, beta)
		exp.kl[n] = k
		for _, x := range rewards {
			exp.reward[n] += x
		}
		in.rewards[n], in.values[n], in.prompt[n] = rewards, vals, n
	}
	if nonFinite > 0 {
		slog.Warn("the reward model returned non-finite scores; they count as 0", "iteration", iter+1, "rows", nonFinite)
	}
	advs, rets := r.advantages(in)
	if !o.NoWhiten {
		Whiten(advs)
	}
	exp.adv, exp.returns = make([]float32, N*R), make([]float32, N*R)
	for n := range N {
		for t := range advs[n] {
			exp.adv[n*R+t], exp.returns[n*R+t] = float32(advs[n][t]), float32(rets[n][t])
		}
	}
}
