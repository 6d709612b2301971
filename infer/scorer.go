package infer

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/model"
)

// Rewards is a reward model's scalar score of each sequence: the score head
// at the last real token. tokens, mask [N,T] → [N] float32.
func Rewards(m *model.Model, tokens, mask *Node) *Node {
	return ConvertDType(m.Score(m.Hidden(tokens, mask), mask), dtypes.Float32)
}

// ResponseHidden runs the transformer over [P|R] sequences and returns the
// hidden states that predict the R response tokens ([B,R,H], columns
// P-1..T-2) and the response tokens themselves ([B,R]).
func ResponseHidden(m *model.Model, tokens, mask *Node, R int) (hidden, targets *Node) {
	T := tokens.Shape().Dim(1)
	h := m.Hidden(tokens, mask)
	return SliceAxis(h, 1, AxisRange(T-R-1, T-1)), SliceAxis(tokens, 1, AxisRange(T-R, T))
}

// ResponseLogProbs is the log-prob and entropy of each response token of
// [P|R] sequences under m: tokens, mask [B,T]; R from respMask [B,R] →
// [B,R], [B,R].
func ResponseLogProbs(m *model.Model, tokens, mask, respMask *Node) (logp, entropy *Node) {
	h, targets := ResponseHidden(m, tokens, mask, respMask.Shape().Dim(1))
	logits := m.Logits(h)
	return model.TokenLogProbs(logits, targets), model.Entropy(logits)
}

// LogProbExec computes ResponseLogProbs of a model over Sequences.
type LogProbExec struct{ exec *gmodel.Exec }

// NewLogProbExec compiles ResponseLogProbs of m (a policy or reference).
func NewLogProbExec(backend compute.Backend, m *model.Model) *LogProbExec {
	return &LogProbExec{gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, respMask *Node) (*Node, *Node) {
		return ResponseLogProbs(m, tokens, mask, respMask)
	})}
}

// Run returns the per-token log-probs and entropies ([b,R] each) of rows
// idx of s. The caller owns (and frees) the tensors.
func (e *LogProbExec) Run(s *Sequences, idx []int) (logp, entropy *tensors.Tensor, err error) {
	tokens, mask, pt := s.Rows(idx, s.RespMask)
	out, err := e.exec.Exec(tokens, mask, pt[0])
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// Sums returns, for rows idx of s, the summed log-prob of each response.
func (e *LogProbExec) Sums(s *Sequences, idx []int) ([]float64, error) {
	lp, ent, err := e.Run(s, idx)
	if err != nil {
		return nil, err
	}
	ent.FinalizeAll()
	vals := tensors.MustCopyFlatData[float32](lp)
	lp.FinalizeAll()
	res := make([]float64, len(idx))
	for i, n := range idx {
		for t := range s.RespLen[n] {
			res[i] += float64(vals[i*s.R+t])
		}
	}
	return res, nil
}

// Scorer computes conditional log-likelihoods (language models) or rewards
// (checkpoints with a score head) of (prompt, response) token sequences,
// compiled once per (batch, length bucket). It is the one scorer of rlhf:
// `rlhf score`, the reward model's validation, PPO's rewards and eval use it.
type Scorer struct {
	m *model.Model
	// exec: (tokens, mask, respMask) → [B] summed response log-probs for a
	// language model; (tokens, mask) → [B] rewards for a score head.
	exec *gmodel.Exec
	// LengthBucket rounds sequence lengths up (default 16).
	LengthBucket int
}

// ScoreResult is one row's result: LogProb (sum over response tokens) and
// NumTokens for LMs; Reward for score-head models.
type ScoreResult struct {
	LogProb   float64
	NumTokens int
	Reward    float64
}

// NewScorer prepares the scoring graph of m.
func NewScorer(backend compute.Backend, m *model.Model) (*Scorer, error) {
	s := &Scorer{m: m, LengthBucket: 16}
	var err error
	if m.HasScoreHead() {
		s.exec, err = gmodel.NewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask *Node) *Node {
			return Rewards(m, tokens, mask)
		})
		return s, err
	}
	s.exec, err = gmodel.NewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, respMask *Node) *Node {
		lp := model.NextTokenLogProbs(m.Logits(m.Hidden(tokens, mask)), tokens) // [B,T-1]
		T := tokens.Shape().Dim(1)
		w := ConvertDType(SliceAxis(respMask, 1, AxisRange(1, T)), lp.DType())
		return ReduceSum(Mul(lp, w), 1)
	})
	return s, err
}

// Rewards scores a padded batch of whole sequences with the score head:
// tokens, mask [B,T] → [B].
func (s *Scorer) Rewards(tokens, mask *tensors.Tensor) ([]float32, error) {
	if !s.m.HasScoreHead() {
		return nil, fmt.Errorf("the model has no score head")
	}
	t, err := s.exec.Exec1(tokens, mask)
	if err != nil {
		return nil, err
	}
	defer t.FinalizeAll()
	return tensors.MustCopyFlatData[float32](t), nil
}

// Score scores each prompts[i]+responses[i] (right-padded into batches of
// batchSize rows; short batches are filled so shapes repeat).
func (s *Scorer) Score(prompts, responses [][]int32, batchSize int) ([]ScoreResult, error) {
	out := make([]ScoreResult, len(prompts))
	cfg := s.m.Config
	for start := 0; start < len(prompts); start += batchSize {
		end := min(start+batchSize, len(prompts))
		maxLen := 2
		for i := start; i < end; i++ {
			maxLen = max(maxLen, len(prompts[i])+len(responses[i]))
		}
		bucket := max(s.LengthBucket, 1)
		T := (maxLen + bucket - 1) / bucket * bucket
		if cfg.Arch == model.ArchGPT2 && T > cfg.MaxPositions {
			if maxLen > cfg.MaxPositions {
				return nil, fmt.Errorf("a sequence of %d tokens exceeds the model's %d positions", maxLen, cfg.MaxPositions)
			}
			T = maxLen
		}
		tokens, mask, resp := make([]int32, batchSize*T), make([]int32, batchSize*T), make([]float32, batchSize*T)
		for b := range end - start {
			p, r := prompts[start+b], responses[start+b]
			if len(p)+len(r) == 0 {
				return nil, fmt.Errorf("row %d: empty prompt and response", start+b)
			}
			for i, t := range append(append([]int32{}, p...), r...) {
				if t < 0 || int(t) >= cfg.VocabSize {
					return nil, fmt.Errorf("row %d: token id %d outside vocabulary of %d", start+b, t, cfg.VocabSize)
				}
				tokens[b*T+i], mask[b*T+i] = t, 1
				if i >= len(p) {
					resp[b*T+i] = 1
				}
			}
			out[start+b].NumTokens = len(r)
			if len(p) == 0 {
				out[start+b].NumTokens-- // the first token has no context to be scored in
			}
		}
		tk, mk := TensorOf(tokens, batchSize, T), TensorOf(mask, batchSize, T)
		if s.m.HasScoreHead() {
			vals, err := s.Rewards(tk, mk)
			if err != nil {
				return nil, err
			}
			for b := start; b < end; b++ {
				out[b].Reward = float64(vals[b-start])
			}
			continue
		}
		res, err := s.exec.Exec1(tk, mk, TensorOf(resp, batchSize, T))
		if err != nil {
			return nil, err
		}
		vals := tensors.MustCopyFlatData[float32](res)
		res.FinalizeAll()
		for b := start; b < end; b++ {
			out[b].LogProb = float64(vals[b-start])
		}
	}
	return out, nil
}

// RewardsOf scores encoded sequences (prompt, response and EOS) with the
// score head, batchSize rows at a time.
func (s *Scorer) RewardsOf(seqs []Encoded, batchSize int) ([]float64, error) {
	prompts, responses := make([][]int32, len(seqs)), make([][]int32, len(seqs))
	for i, e := range seqs {
		prompts[i], responses[i] = e.Tokens[:e.PromptLen], e.Tokens[e.PromptLen:]
	}
	res, err := s.Score(prompts, responses, batchSize)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(res))
	for i, r := range res {
		out[i] = r.Reward
	}
	return out, nil
}

// RewardNorm maps a reward model's raw scores to the normalised scale its
// rlhf.json records (reward_mean, reward_std: the scores of its training
// data), so rewards of different reward models are comparable.
type RewardNorm struct{ Mean, Std float64 }

// NewRewardNorm is the normalisation of meta; ok is false (and the identity
// returned) when meta records none.
func NewRewardNorm(meta *model.Meta) (n RewardNorm, ok bool) {
	if meta.RewardStd > 0 {
		return RewardNorm{Mean: meta.RewardMean, Std: meta.RewardStd}, true
	}
	return RewardNorm{Mean: 0, Std: 1}, false
}

// Apply normalises a raw score.
func (n RewardNorm) Apply(raw float64) float64 { return (raw - n.Mean) / n.Std }
