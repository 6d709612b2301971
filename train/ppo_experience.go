package train

import (
	"context"
	"fmt"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
)

// experience is one iteration's sampled and scored sequences (N rows in
// the [P|R] layout of infer.Sequences), as OpenRLHF's experience maker
// returns it, with what computeAdvantages adds.
type experience struct {
	*infer.Sequences
	prompts   []dataset.Prompt
	promptIDs [][]int32
	// Per response token, [N,R] (0 past the response): the actor's and the
	// reference's log-probs, the critic's values and the actor's entropy.
	logp, refLogp, values, entropy []float32
	// rawRM is each sequence's reward-model score before normalisation.
	rawRM []float64

	// Set by computeAdvantages: per token [N,R] advantages and returns; per
	// sequence the normalised (clipped) score, Σ_t logp − refLogp and the
	// total reward (score − β·KL).
	adv, returns      []float32
	score, kl, reward []float64

	genTime, scoreTime time.Duration
}

// makeExperience samples one response per prompt of the next rollout batch
// with the actor, then scores them: actor and reference log-probs, critic
// values and the reward model's score.
func (r *ppoRun) makeExperience(ctx context.Context, iter int) (*experience, error) {
	o := r.o
	t0 := time.Now()
	idx := r.stream.next(o.RolloutBatch)
	exp := &experience{prompts: make([]dataset.Prompt, len(idx)), promptIDs: make([][]int32, len(idx))}
	for i, j := range idx {
		exp.prompts[i], exp.promptIDs[i] = r.prompts[j], r.promptIDs[j]
	}
	resp, ended, err := infer.Sample(ctx, r.dec, exp.promptIDs, model.SampleOptions{
		MaxNewTokens: o.MaxNewTokens, Temperature: o.Temperature, TopP: o.TopP, TopK: o.TopK,
		Seed: o.Seed, SeedOffset: uint64(iter) * uint64(o.RolloutBatch), EOS: []int{r.eos}, PadID: r.pad, BatchSize: o.MiniBatch,
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
	exp.scoreTime = time.Since(t0)
	return exp, nil
}

// score fills the experience's log-probs, entropies, values and raw reward
// scores, mini-batch by mini-batch.
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
		tokens, mask, pt := exp.Rows(rows, exp.RespMask)
		v, err := r.criticV.Exec1(tokens, mask, pt[0])
		if err != nil {
			return err
		}
		infer.ScatterRows(exp.values, v, rows, R)
		if r.rm == nil {
			for _, n := range rows {
				exp.rawRM[n] = r.o.rewardFn(exp.promptIDs[n], exp.Resp[n])
			}
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
