package train

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// Rollout sequences are laid out as [left-padded prompt (P) | response (R),
// right-padded], T = P+R, so that every sequence of a run has the same
// shape and the response is always the last R columns: column P+t holds
// response token t, predicted from column P+t-1.

// rollout is one iteration's sampled and scored sequences (N rows).
type rollout struct {
	N, P, R int
	prompts []dataset.Prompt
	tokens  []int32 // [N,T]
	mask    []int32 // [N,T]
	resp    [][]int32
	// respMask [N,R] is 1 on generated tokens (EOS included).
	respMask []float32
	// Per response token, [N,R] (0 past the response):
	logp, refLogp, values, entropy []float32
	adv, returns                   []float32
	// Per sequence:
	score   []float64 // RM score, normalised and clipped
	rawRM   []float64 // RM score before normalisation
	kl      []float64 // Σ_t logp − refLogp
	reward  []float64 // Σ_t per-token reward (score − β·KL)
	respLen []int
	ended   []bool // stopped at EOS
}

// T is the sequence length.
func (r *rollout) T() int { return r.P + r.R }

// layoutRollout places prompt and response ids into the [P|R] layout.
func layoutRollout(prompts []dataset.Prompt, promptIDs, resp [][]int32, P, R, pad int) *rollout {
	N := len(promptIDs)
	T := P + R
	ro := &rollout{N: N, P: P, R: R, prompts: prompts, resp: resp,
		tokens: make([]int32, N*T), mask: make([]int32, N*T), respMask: make([]float32, N*R),
		respLen: make([]int, N)}
	for i := range ro.tokens {
		ro.tokens[i] = int32(pad)
	}
	for n := range N {
		p := promptIDs[n]
		for j, id := range p {
			ro.tokens[n*T+P-len(p)+j] = id
			ro.mask[n*T+P-len(p)+j] = 1
		}
		for j, id := range resp[n] {
			ro.tokens[n*T+P+j] = id
			ro.mask[n*T+P+j] = 1
			ro.respMask[n*R+j] = 1
		}
		ro.respLen[n] = len(resp[n])
	}
	return ro
}

// rows returns the [len(idx),T] tokens and mask and the [len(idx),R]
// slices of the given per-token arrays for rows idx.
func (r *rollout) rows(idx []int, perToken ...[]float32) (tokens, mask *tensors.Tensor, out []*tensors.Tensor) {
	T, R, b := r.T(), r.R, len(idx)
	tk, mk := make([]int32, b*T), make([]int32, b*T)
	for i, n := range idx {
		copy(tk[i*T:(i+1)*T], r.tokens[n*T:(n+1)*T])
		copy(mk[i*T:(i+1)*T], r.mask[n*T:(n+1)*T])
	}
	for _, arr := range perToken {
		x := make([]float32, b*R)
		for i, n := range idx {
			copy(x[i*R:(i+1)*R], arr[n*R:(n+1)*R])
		}
		out = append(out, tensorOf(x, b, R))
	}
	return tensorOf(tk, b, T), tensorOf(mk, b, T), out
}

// rewardRows returns the sequences of rows idx as the reward model reads
// them: [len(idx), T+1] tokens and mask where a response cut at the token
// limit gets an EOS appended, because the reward model was trained (and its
// score is read) at the EOS that ends every sequence.
func (r *rollout) rewardRows(idx []int, eos int) (tokens, mask *tensors.Tensor) {
	T, W, b := r.T(), r.T()+1, len(idx)
	tk, mk := make([]int32, b*W), make([]int32, b*W)
	for i, n := range idx {
		copy(tk[i*W:i*W+T], r.tokens[n*T:(n+1)*T])
		copy(mk[i*W:i*W+T], r.mask[n*T:(n+1)*T])
		tk[i*W+T] = r.tokens[n*T+T-1] // padding: any id, masked out
		if !r.ended[n] {
			end := i*W + r.P + r.respLen[n] // first free column after the response
			tk[end], mk[end] = int32(eos), 1
		}
	}
	return tensorOf(tk, b, W), tensorOf(mk, b, W)
}

// responseHidden runs the transformer and returns the hidden states that
// predict the R response tokens ([B,R,H], columns P-1..T-2) and the
// response tokens themselves ([B,R]).
func responseHidden(m *model.Model, tokens, mask *Node, R int) (hidden, targets *Node) {
	T := tokens.Shape().Dim(1)
	h := m.Hidden(tokens, mask)
	return SliceAxis(h, 1, AxisRange(T-R-1, T-1)), SliceAxis(tokens, 1, AxisRange(T-R, T))
}

// policyLogProbs is the log-prob and entropy of each response token under
// m: tokens, mask [B,T]; R from respMask [B,R] → [B,R], [B,R].
func policyLogProbs(m *model.Model, tokens, mask, respMask *Node) (logp, entropy *Node) {
	h, targets := responseHidden(m, tokens, mask, respMask.Shape().Dim(1))
	logits := m.Logits(h)
	return model.TokenLogProbs(logits, targets), model.Entropy(logits)
}

// criticValues is V(state before response token t): [B,R].
func criticValues(m *model.Model, tokens, mask, respMask *Node) *Node {
	h, _ := responseHidden(m, tokens, mask, respMask.Shape().Dim(1))
	return ConvertDType(m.Values(h), dtypes.Float32)
}

// newLogProbExec compiles policyLogProbs of m (actor or reference).
func newLogProbExec(backend compute.Backend, m *model.Model) *gmodel.Exec {
	return gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, respMask *Node) (*Node, *Node) {
		return policyLogProbs(m, tokens, mask, respMask)
	})
}

// newValueExec compiles criticValues of m.
func newValueExec(backend compute.Backend, m *model.Model) *gmodel.Exec {
	return gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, respMask *Node) *Node {
		return criticValues(m, tokens, mask, respMask)
	})
}

// newRewardExec compiles the reward model's score of whole sequences: [B].
func newRewardExec(backend compute.Backend, m *model.Model) *gmodel.Exec {
	return gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask *Node) *Node {
		return Rewards(m, tokens, mask)
	})
}

// ppoActorLoss is the actor's LossFn. inputs: tokens, mask [b,T] int32,
// respMask, oldLogp, adv [b,R] float32, clip, entCoef, ptxCoef scalars,
// and optionally the ptx batch tokens, mask, targets [p,L] int32 and
// weights [p,L] float32. Metrics: policy loss, entropy, clip fraction,
// approx-KL, ptx loss.
func ppoActorLoss(m *model.Model) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		tokens, mask, respMask, oldLogp, adv := in[0], in[1], in[2], in[3], in[4]
		clip, entCoef, ptxCoef := in[5], in[6], in[7]
		logp, ent := policyLogProbs(m, tokens, mask, respMask)
		pg, clipFrac, approxKL := PolicyLoss(logp, oldLogp, adv, respMask, clip)
		entropy := model.MaskedMean(ent, respMask)
		var ptx *Node
		ptxLoss := ZerosLike(pg)
		if len(in) > 8 {
			sum, n := sftNLL(m, in[8], in[9], in[10], in[11])
			ptx = Div(sum, Max(n, OnesLike(n)))
			ptxLoss = StopGradient(ptx)
		}
		loss := ActorLoss(pg, entropy, ptx, entCoef, ptxCoef)
		return loss, []*Node{StopGradient(pg), StopGradient(entropy), clipFrac, approxKL, ptxLoss}
	}
}

// ppoCriticLoss is the critic's LossFn. inputs: tokens, mask [b,T] int32,
// respMask, oldValues, returns [b,R] float32, valueClip scalar. Metrics:
// value clip fraction, mean predicted value.
func ppoCriticLoss(m *model.Model) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		values := criticValues(m, in[0], in[1], in[2])
		loss, clipFrac := ValueLoss(values, in[3], in[4], in[2], in[5])
		return loss, []*Node{clipFrac, StopGradient(model.MaskedMean(values, in[2]))}
	}
}

// ptxData is the pre-training data of PPO-ptx, walked batch after batch.
type ptxData struct {
	seqs []Encoded
	data *loader
	pad  int
	max  int
}

// loadPtx reads --ptx: an sft dataset (loss on responses) or a qa dataset
// (question + answer as plain text, loss on every token), as a dataset
// folder, .parquet or .jsonl.
func loadPtx(path string, enc *Encoder, batch int, seed uint64, textEnc dataset.Encoding) (*ptxData, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--ptx %s: %w", path, err)
	}
	paths := []string{path}
	if tr, _, err := dataset.Splits(path); err == nil && len(tr) > 0 {
		paths = tr
	}
	var seqs []Encoded
	plain := func(text string) {
		var ids []int32
		if enc.Tok.AddsBOS() {
			ids = append(ids, int32(enc.Tok.BOS()))
		}
		for _, id := range enc.Tok.Encode(text) {
			ids = append(ids, int32(id))
		}
		ids = append(ids, int32(enc.Tok.EOS()))
		if len(ids) > enc.MaxLen {
			ids = ids[:enc.MaxLen]
		}
		if len(ids) >= 2 {
			seqs = append(seqs, Encoded{Tokens: ids})
		}
	}
	ropts := dataset.ReaderOptions{Encoding: textEnc}
	sft, sftErr := dataset.ReadAllWith[dataset.SFT](ropts, paths...)
	usable := false
	for _, r := range sft {
		if r.Response != "" {
			usable = true
			break
		}
	}
	if sftErr == nil && usable {
		for _, r := range sft {
			if e, ok := enc.Encode(r.Prompt, r.Response, nil); ok {
				seqs = append(seqs, e)
			}
		}
	} else {
		if dataset.IsInvalidUTF8(sftErr) {
			return nil, fmt.Errorf("--ptx: %w", sftErr)
		}
		qa, qaErr := dataset.ReadAllWith[dataset.QA](ropts, paths...)
		if qaErr != nil {
			return nil, fmt.Errorf("--ptx %s: neither an sft dataset (%v) nor a qa dataset (%v)", path, sftErr, qaErr)
		}
		for _, r := range qa {
			parts := []string{}
			for _, s := range []string{r.Title, r.Question, r.Context, r.Answer} {
				if strings.TrimSpace(s) != "" {
					parts = append(parts, s)
				}
			}
			plain(strings.Join(parts, "\n"))
		}
	}
	if len(seqs) == 0 {
		return nil, fmt.Errorf("--ptx %s: no usable rows (an sft dataset with responses, or a qa dataset)", path)
	}
	return &ptxData{seqs: seqs, data: &loader{n: len(seqs), batch: batch, seed: seed ^ 0x97c}, pad: enc.Tok.PAD(), max: enc.MaxLen}, nil
}

// next returns the next ptx batch as LossFn inputs (tokens, mask, targets, weights).
func (p *ptxData) next(rows int) []any {
	idx := p.data.next()
	batch := make([]Encoded, len(idx))
	for i, j := range idx {
		batch[i] = p.seqs[j]
	}
	b := MakeBatch(batch, rows, p.max, max(p.pad, 0))
	return SFTInputs(b)
}

// readPrompts reads --prompts (train split of a folder with splits), JSONL
// in encoding enc.
func readPrompts(path string, enc dataset.Encoding) ([]dataset.Prompt, error) {
	paths := []string{path}
	if tr, _, err := dataset.Splits(path); err == nil && len(tr) > 0 {
		paths = tr
	}
	rows, err := dataset.ReadAllWith[dataset.Prompt](dataset.ReaderOptions{Encoding: enc}, paths...)
	if err != nil {
		return nil, fmt.Errorf("--prompts: %w", err)
	}
	n := 0
	for i, r := range rows {
		if strings.TrimSpace(r.Prompt) == "" {
			return nil, fmt.Errorf("--prompts %s: row %d (id %q) has an empty prompt", path, i, r.ID)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("--prompts %s: the dataset is empty", path)
	}
	return rows, nil
}

// encodePrompts tokenises prompts with the policy's template (and BOS),
// keeping the last maxLen tokens, and returns the ids and the common
// left-padded length P (the longest, rounded up to 16, at most maxLen).
func encodePrompts(prompts []dataset.Prompt, enc *Encoder, maxLen int) (ids [][]int32, P int, truncated int) {
	ids = make([][]int32, len(prompts))
	longest := 1
	for i, p := range prompts {
		e, _ := enc.Encode(p.Prompt, "", nil)
		t := e.Tokens[:e.PromptLen]
		if len(t) > maxLen {
			t = t[len(t)-maxLen:]
			truncated++
		}
		ids[i] = t
		longest = max(longest, len(t))
	}
	return ids, bucket(longest, maxLen), truncated
}

// sampleResponses generates one response per prompt with dec. seedOffset
// makes the samples of each iteration distinct and reproducible.
func sampleResponses(ctx context.Context, dec *model.Decoder, prompts [][]int32, o *PPOOptions, eos, pad int, seed, seedOffset uint64) ([][]int32, []bool, error) {
	in := make([][]int, len(prompts))
	for i, p := range prompts {
		in[i] = make([]int, len(p))
		for j, t := range p {
			in[i][j] = int(t)
		}
	}
	samples, err := dec.Generate(ctx, in, model.SampleOptions{
		MaxNewTokens: o.MaxNewTokens, Temperature: o.Temperature, TopP: o.TopP, TopK: o.TopK,
		Seed: seed, SeedOffset: seedOffset, EOS: []int{eos}, PadID: pad, BatchSize: o.MiniBatch,
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([][]int32, len(samples))
	ended := make([]bool, len(samples))
	for i, s := range samples {
		out[i] = make([]int32, len(s.Tokens))
		for j, t := range s.Tokens {
			out[i][j] = int32(t)
		}
		ended[i] = s.Finished
	}
	return out, ended, nil
}

// scatterRows copies a [b,R] float32 tensor into rows idx of dst [N,R]
// and frees the tensor.
func scatterRows(dst []float32, t *tensors.Tensor, idx []int, R int) {
	vals := tensors.MustCopyFlatData[float32](t)
	for i, n := range idx {
		copy(dst[n*R:(n+1)*R], vals[i*R:(i+1)*R])
	}
	t.FinalizeAll() // free device memory now rather than at the next GC
}

// sameTokenizer checks that two checkpoints share their vocabulary.
func sameTokenizer(flagA string, a *tokenizer.Tokenizer, flagB string, b *tokenizer.Tokenizer) error {
	if a.VocabSize() != b.VocabSize() || a.EOS() != b.EOS() {
		return fmt.Errorf("%s and %s have different tokenizers (%d vs %d tokens, EOS %d vs %d): PPO needs models that share one vocabulary",
			flagA, flagB, a.VocabSize(), b.VocabSize(), a.EOS(), b.EOS())
	}
	return nil
}
