package train

import (
	"context"
	"fmt"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/reward"
)

// experience is one iteration's sampled and scored sequences (N rows in
// the [P|R] layout of infer.Sequences), as OpenRLHF's experience maker
// returns it, with what computeAdvantages adds.
type experience struct {
	*infer.Sequences
	prompts   []dataset.Prompt
	promptIDs [][]int32
	// group is each sequence's prompt position in the rollout batch: the
	// NumSamples responses to one prompt share it (and sit side by side).
	group []int
	// Per response token, [N,R] (0 past the response): the actor's and the
	// reference's log-probs, the critic's values (0 without a critic) and
	// the actor's entropy.
	logp, refLogp, values, entropy []float32
	// rawRM is each sequence's reward-model score before normalisation (0
	// without a reward model); rules[k] are the scores of rule reward k.
	rawRM []float64
	rules [][]float64

	// Set by computeAdvantages: per token [N,R] advantages and returns; per
	// sequence the combined (clipped) score, Σ_t logp − refLogp and the
	// total reward (score − β·KL, or the score for GRPO); beta is the KL
	// coefficient of the iteration (GRPO's KL loss weight).
	adv, returns      []float32
	score, kl, reward []float64
	beta              float64

	genTime, scoreTime time.Duration
}

// makeExperience samples NumSamples responses per prompt of the next
// rollout batch with the actor (each with its own seed), then scores them:
// actor and reference log-probs, critic values and the rewards.
func (r *ppoRun) makeExperience(ctx context.Context, iter int) (*experience, error) {
	o := r.o
	t0 := time.Now()
	idx := r.stream.next(o.RolloutBatch)
	G := o.NumSamples
	N := len(idx) * G
	exp := &experience{prompts: make([]dataset.Prompt, N), promptIDs: make([][]int32, N), group: make([]int, N)}
	for i, j := range idx {
		for g := range G {
			n := i*G + g
			exp.prompts[n], exp.promptIDs[n], exp.group[n] = r.prompts[j], r.promptIDs[j], i
		}
	}
	// Sequence n of iteration k samples with the seed stream k·N + n.
	resp, ended, err := infer.Sample(ctx, r.dec, exp.promptIDs, model.SampleOptions{
		MaxNewTokens: o.MaxNewTokens, Temperature: o.Temperature, TopP: o.TopP, TopK: o.TopK,
		Seed: o.Seed, SeedOffset: uint64(iter) * uint64(N), EOS: []int{r.eos}, PadID: r.pad, BatchSize: o.MiniBatch,
	})
	if err != nil {
		return nil, fmt.Errorf("rollout %d: %w", iter+1, err)
	}
	exp.Sequences = infer.Layout(exp.promptIDs, resp, ended, r.P, r.R, r.pad)
	exp.genTime = time.Since(t0)

	t0 = time.Now()
	if err := r.score(exp); err != nil {
		return nil, err
	}
	if err := r.scoreRules(ctx, exp); err != nil {
		return nil, option.Errorf("rollout %d: {RewardFns}: %w", iter+1, err)
	}
	exp.scoreTime = time.Since(t0)
	return exp, nil
}

// score fills the experience's log-probs, entropies, values (with a
// critic) and raw reward-model scores, mini-batch by mini-batch.
func (r *ppoRun) score(exp *experience) error {
	N, R := exp.N, exp.R
	exp.logp, exp.refLogp = make([]float32, N*R), make([]float32, N*R)
	exp.values, exp.entropy = make([]float32, N*R), make([]float32, N*R)
	exp.rawRM = make([]float64, N)
	for lo := 0; lo < N; lo += r.o.MiniBatch {
		rows := infer.Range(lo, min(lo+r.o.MiniBatch, N))
		// Each executable gets fresh input tensors: a tensor cannot be
		// shared by two backends (models may sit on different devices).
		lp, ent, err := r.actorLP.Run(exp.Sequences, rows)
		if err != nil {
			return err
		}
		infer.ScatterRows(exp.logp, lp, rows, R)
		infer.ScatterRows(exp.entropy, ent, rows, R)
		if lp, ent, err = r.refLP.Run(exp.Sequences, rows); err != nil {
			return err
		}
		infer.ScatterRows(exp.refLogp, lp, rows, R)
		ent.FinalizeAll() // the reference's entropy is not used
		if r.criticV != nil {
			tokens, mask, pt := exp.Rows(rows, exp.RespMask)
			v, err := r.criticV.Exec1(tokens, mask, pt[0])
			if err != nil {
				return err
			}
			infer.ScatterRows(exp.values, v, rows, R)
		}
		if r.o.rewardFn != nil {
			for _, n := range rows {
				exp.rawRM[n] = r.o.rewardFn(exp.promptIDs[n], exp.Resp[n])
			}
			continue
		}
		if r.rm == nil {
			continue
		}
		s, err := r.rmScorer.Rewards(exp.RewardRows(rows, r.eos))
		if err != nil {
			return err
		}
		for i, n := range rows {
			exp.rawRM[n] = float64(s[i])
		}
	}
	return nil
}

// scoreRules scores the responses with each rule reward, all sequences in
// one call (one run of a cmd: program per iteration).
func (r *ppoRun) scoreRules(ctx context.Context, exp *experience) error {
	if len(r.rules) == 0 {
		return nil
	}
	in := make([]reward.Input, exp.N)
	for n := range exp.N {
		in[n] = reward.InputOf(exp.prompts[n], exp.ResponseText(n, r.tok.Decode, r.eos))
	}
	exp.rules = make([][]float64, len(r.rules))
	for k, rule := range r.rules {
		s, err := rule.Score(ctx, in)
		if err != nil {
			return err
		}
		exp.rules[k] = s
	}
	return nil
}
