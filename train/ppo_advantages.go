package train

import (
	"log/slog"
	"math"
)

// advantageInput is what an advantage estimator reads: per sequence, the
// per-token rewards (−β·KL at every token, the score added on the last;
// no KL for GRPO), the critic's values (0 without a critic), and the
// prompt it answers (estimators that compare the samples of one prompt, as
// GRPO and RLOO do, group by it).
type advantageInput struct {
	rewards, values [][]float64
	prompt          []int
	gamma, lambda   float64
}

// advantageEstimator turns rewards into per-token advantages and returns
// (the critic's targets). PPO uses GAE; the critic-free estimators (GRPO,
// RLOO, REINFORCE++) are other functions of this type, not other loops.
type advantageEstimator func(in advantageInput) (adv, returns [][]float64)

// gaeEstimator is PPO's estimator: GAE(γ, λ) per sequence.
func gaeEstimator(in advantageInput) (adv, returns [][]float64) {
	adv, returns = make([][]float64, len(in.rewards)), make([][]float64, len(in.rewards))
	for n := range in.rewards {
		adv[n], returns[n] = GAE(in.rewards[n], in.values[n], in.gamma, in.lambda)
	}
	return adv, returns
}

// grpoEps keeps GRPO's group normalisation finite when a group's rewards
// are (almost) equal (TRL's value).
const grpoEps = 1e-4

// seqRewards are the sequences' rewards: the sums of their per-token rewards.
func seqRewards(in advantageInput) []float64 {
	r := make([]float64, len(in.rewards))
	for n, row := range in.rewards {
		for _, x := range row {
			r[n] += x
		}
	}
	return r
}

// groups lists the sequences of each prompt, in order of first appearance.
func groups(prompt []int) [][]int {
	at := map[int]int{}
	var out [][]int
	for n, p := range prompt {
		g, ok := at[p]
		if !ok {
			g = len(out)
			at[p] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], n)
	}
	return out
}

// perSequence gives every token of sequence n the advantage a[n]; returns
// are the same (no critic reads them).
func perSequence(in advantageInput, a []float64) (adv, returns [][]float64) {
	adv = make([][]float64, len(in.rewards))
	for n := range in.rewards {
		adv[n] = make([]float64, len(in.rewards[n]))
		for t := range adv[n] {
			adv[n][t] = a[n]
		}
	}
	return adv, adv
}

// grpoEstimator is GRPO's (Shao et al. 2024, DeepSeekMath) outcome
// supervision: the advantage of every token of a response is its reward
// normalised within the group of responses to the same prompt,
// (r − mean)/(std + grpoEps), std the sample standard deviation (n−1, as
// TRL and OpenRLHF compute it). GRPO keeps the KL out of the reward (it is
// a loss term), so r is the score.
func grpoEstimator(in advantageInput) (adv, returns [][]float64) {
	r := seqRewards(in)
	a := make([]float64, len(r))
	for _, g := range groups(in.prompt) {
		if len(g) < 2 {
			continue
		}
		var mean, sq float64
		for _, n := range g {
			mean += r[n]
		}
		mean /= float64(len(g))
		for _, n := range g {
			sq += (r[n] - mean) * (r[n] - mean)
		}
		std := math.Sqrt(sq / float64(len(g)-1))
		for _, n := range g {
			a[n] = (r[n] - mean) / (std + grpoEps)
		}
	}
	return perSequence(in, a)
}

// rlooEstimator is REINFORCE leave-one-out (Kool et al. 2019; Ahmadian et
// al. 2024): the advantage of every token of a response is its reward (the
// score − β·Σ KL) minus the mean reward of the other responses to the same
// prompt. A prompt sampled once has no baseline and advantage 0.
func rlooEstimator(in advantageInput) (adv, returns [][]float64) {
	r := seqRewards(in)
	a := make([]float64, len(r))
	for _, g := range groups(in.prompt) {
		if len(g) < 2 {
			continue
		}
		var sum float64
		for _, n := range g {
			sum += r[n]
		}
		for _, n := range g {
			a[n] = r[n] - (sum-r[n])/float64(len(g)-1)
		}
	}
	return perSequence(in, a)
}

// reinforcePPEstimator is REINFORCE++ as OpenRLHF defines it (Hu 2025):
// per-token rewards with the KL penalty (as PPO's), returns the discounted
// suffix sums Σ_{s≥t} γ^{s−t} r_s, and advantages the returns normalised
// over the whole rollout (mean 0, std 1; see Whiten), without a critic.
func reinforcePPEstimator(in advantageInput) (adv, returns [][]float64) {
	adv, returns = make([][]float64, len(in.rewards)), make([][]float64, len(in.rewards))
	for n, row := range in.rewards {
		returns[n] = make([]float64, len(row))
		acc := 0.0
		for t := len(row) - 1; t >= 0; t-- {
			acc = row[t] + in.gamma*acc
			returns[n][t] = acc
		}
		adv[n] = append([]float64(nil), returns[n]...)
	}
	Whiten(adv)
	return adv, returns
}

// computeAdvantages combines each sequence's reward sources into its score
// (the reward model's normalised score and the rule rewards, weighted, then
// clipped), turns it into per-token rewards with the KL penalty of weight
// beta (not for GRPO, whose KL is a loss term), and sets the experience's
// advantages (whitened for PPO unless NoWhiten) and returns.
func (r *ppoRun) computeAdvantages(exp *experience, beta float64, iter int) {
	o := r.o
	N, R := exp.N, exp.R
	exp.score, exp.kl, exp.reward, exp.beta = make([]float64, N), make([]float64, N), make([]float64, N), beta
	in := advantageInput{rewards: make([][]float64, N), values: make([][]float64, N), prompt: exp.group,
		gamma: o.Gamma, lambda: o.Lambda}
	klInReward := beta
	if o.Algo == AlgoGRPO {
		klInReward = 0
	}
	nonFinite := 0
	for n := range N {
		s, w := 0.0, r.weights
		if o.hasRM() {
			rm := r.norm.Apply(exp.rawRM[n])
			if !finite(rm) {
				nonFinite++
				rm = 0
			}
			s, w = w[0]*rm, w[1:]
		}
		for k := range r.rules {
			s += w[k] * exp.rules[k][n]
		}
		if o.RewardClip > 0 {
			s = math.Max(-o.RewardClip, math.Min(o.RewardClip, s))
		}
		exp.score[n] = s
		L := exp.RespLen[n]
		lp, rlp, vals := make([]float64, L), make([]float64, L), make([]float64, L)
		for t := range L {
			lp[t], rlp[t], vals[t] = float64(exp.logp[n*R+t]), float64(exp.refLogp[n*R+t]), float64(exp.values[n*R+t])
		}
		rewards, k := KLRewards(lp, rlp, s, klInReward)
		exp.kl[n] = k
		for _, x := range rewards {
			exp.reward[n] += x
		}
		in.rewards[n], in.values[n] = rewards, vals
	}
	if nonFinite > 0 {
		slog.Warn("the reward model returned non-finite scores; they count as 0", "iteration", iter+1, "rows", nonFinite)
	}
	advs, rets := r.advantages(in)
	if o.Algo == AlgoPPO && !o.NoWhiten {
		Whiten(advs)
	}
	exp.adv, exp.returns = make([]float32, N*R), make([]float32, N*R)
	for n := range N {
		for t := range advs[n] {
			exp.adv[n*R+t], exp.returns[n*R+t] = float32(advs[n][t]), float32(rets[n][t])
		}
	}
}
