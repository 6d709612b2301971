package infer

import (
	"context"
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
)

// Sequences are prompt+response rows laid out as [left-padded prompt (P) |
// response (R), right-padded], T = P+R, so that every sequence of a run has
// the same shape and the response is always the last R columns: column P+t
// holds response token t, predicted from column P+t-1. PPO's experience and
// eval's scoring both read them.
type Sequences struct {
	N, P, R int
	Tokens  []int32 // [N,T]
	Mask    []int32 // [N,T]
	Resp    [][]int32
	// RespMask [N,R] is 1 on generated tokens (EOS included).
	RespMask []float32
	RespLen  []int
	// Ended reports the responses that stopped at EOS (nil: none did).
	Ended []bool
}

// T is the sequence length.
func (s *Sequences) T() int { return s.P + s.R }

// Layout places prompt and response ids into the [P|R] layout; pad fills
// the free columns (masked out).
func Layout(promptIDs, resp [][]int32, ended []bool, P, R, pad int) *Sequences {
	N := len(promptIDs)
	T := P + R
	s := &Sequences{N: N, P: P, R: R, Resp: resp, Ended: ended,
		Tokens: make([]int32, N*T), Mask: make([]int32, N*T), RespMask: make([]float32, N*R),
		RespLen: make([]int, N)}
	if s.Ended == nil {
		s.Ended = make([]bool, N)
	}
	for i := range s.Tokens {
		s.Tokens[i] = int32(pad)
	}
	for n := range N {
		p := promptIDs[n]
		for j, id := range p {
			s.Tokens[n*T+P-len(p)+j] = id
			s.Mask[n*T+P-len(p)+j] = 1
		}
		for j, id := range resp[n] {
			s.Tokens[n*T+P+j] = id
			s.Mask[n*T+P+j] = 1
			s.RespMask[n*R+j] = 1
		}
		s.RespLen[n] = len(resp[n])
	}
	return s
}

// Rows returns the [len(idx),T] tokens and mask and the [len(idx),R]
// slices of the given per-token arrays ([N,R] each) for rows idx.
func (s *Sequences) Rows(idx []int, perToken ...[]float32) (tokens, mask *tensors.Tensor, out []*tensors.Tensor) {
	T, R, b := s.T(), s.R, len(idx)
	tk, mk := make([]int32, b*T), make([]int32, b*T)
	for i, n := range idx {
		copy(tk[i*T:(i+1)*T], s.Tokens[n*T:(n+1)*T])
		copy(mk[i*T:(i+1)*T], s.Mask[n*T:(n+1)*T])
	}
	for _, arr := range perToken {
		x := make([]float32, b*R)
		for i, n := range idx {
			copy(x[i*R:(i+1)*R], arr[n*R:(n+1)*R])
		}
		out = append(out, TensorOf(x, b, R))
	}
	return TensorOf(tk, b, T), TensorOf(mk, b, T), out
}

// RewardRows returns the sequences of rows idx as a reward model reads
// them: [len(idx), T+1] tokens and mask where a response cut at the token
// limit gets an EOS appended, because the reward model was trained (and its
// score is read) at the EOS that ends every sequence.
func (s *Sequences) RewardRows(idx []int, eos int) (tokens, mask *tensors.Tensor) {
	T, W, b := s.T(), s.T()+1, len(idx)
	tk, mk := make([]int32, b*W), make([]int32, b*W)
	for i, n := range idx {
		copy(tk[i*W:i*W+T], s.Tokens[n*T:(n+1)*T])
		copy(mk[i*W:i*W+T], s.Mask[n*T:(n+1)*T])
		tk[i*W+T] = s.Tokens[n*T+T-1] // padding: any id, masked out
		if !s.Ended[n] {
			end := i*W + s.P + s.RespLen[n] // first free column after the response
			tk[end], mk[end] = int32(eos), 1
		}
	}
	return TensorOf(tk, b, W), TensorOf(mk, b, W)
}

// ResponseText is the decoded response of row n, without its EOS.
func (s *Sequences) ResponseText(n int, decode func([]int) string, eos int) string {
	return decode(Ints(TrimEOS(s.Resp[n], eos)))
}

// TrimEOS drops a final EOS.
func TrimEOS(ids []int32, eos int) []int32 {
	if len(ids) > 0 && int(ids[len(ids)-1]) == eos {
		return ids[:len(ids)-1]
	}
	return ids
}

// TensorOf wraps a row-major slice as a tensor of the given dimensions.
func TensorOf[T int32 | float32](data []T, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// ScatterRows copies a [b,R] float32 tensor into rows idx of dst [N,R]
// and frees the tensor.
func ScatterRows(dst []float32, t *tensors.Tensor, idx []int, R int) {
	vals := tensors.MustCopyFlatData[float32](t)
	for i, n := range idx {
		copy(dst[n*R:(n+1)*R], vals[i*R:(i+1)*R])
	}
	t.FinalizeAll() // free device memory now rather than at the next GC
}

// Range is lo, lo+1, ..., hi-1.
func Range(lo, hi int) []int {
	out := make([]int, hi-lo)
	for i := range out {
		out[i] = lo + i
	}
	return out
}

// Bucket rounds n up to a multiple of 16 (at most maxLen), so that batches
// of similar lengths share one compiled graph.
func Bucket(n, maxLen int) int {
	b := (n + 15) / 16 * 16
	return max(1, min(b, maxLen))
}

// ReadPrompts reads a prompt dataset (the train split of a folder with
// splits; JSONL in encoding enc), refusing empty prompts and an empty
// dataset.
func ReadPrompts(path string, enc dataset.Encoding) ([]dataset.Prompt, error) {
	paths := []string{path}
	if tr, _, err := dataset.Splits(path); err == nil && len(tr) > 0 {
		paths = tr
	}
	rows, err := dataset.ReadAllWith[dataset.Prompt](dataset.ReaderOptions{Encoding: enc}, paths...)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		if strings.TrimSpace(r.Prompt) == "" {
			return nil, fmt.Errorf("%s: row %d (id %q) has an empty prompt", path, i, r.ID)
		}
		if _, err := History(r.History); err != nil {
			return nil, fmt.Errorf("%s: row %d (id %q): %w", path, i, r.ID, err)
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: the dataset is empty", path)
	}
	return rows, nil
}

// EncodePrompts tokenises prompts with enc (template and BOS; a prompt
// with a history is the whole conversation so far), keeping the
// last maxLen tokens, and returns the ids, the common left-padded length P
// (the longest, rounded up to 16, at most maxLen) and how many lost their
// start.
func EncodePrompts(prompts []dataset.Prompt, enc *Encoder, maxLen int) (ids [][]int32, P int, truncated int) {
	ids = make([][]int32, len(prompts))
	longest := 1
	for i, p := range prompts {
		h, _ := History(p.History) // checked by ReadPrompts
		t := enc.PromptConversation(h, p.Prompt)
		if len(t) > maxLen {
			t = t[len(t)-maxLen:]
			truncated++
		}
		ids[i] = t
		longest = max(longest, len(t))
	}
	return ids, Bucket(longest, maxLen), truncated
}

// Sample generates one response per prompt with dec; o.Seed and
// o.SeedOffset make the samples distinct and reproducible. ended reports
// the responses that stopped at EOS (their last token).
func Sample(ctx context.Context, dec *model.Decoder, prompts [][]int32, o model.SampleOptions) (resp [][]int32, ended []bool, err error) {
	in := make([][]int, len(prompts))
	for i, p := range prompts {
		in[i] = Ints(p)
	}
	samples, err := dec.Generate(ctx, in, o)
	if err != nil {
		return nil, nil, err
	}
	resp = make([][]int32, len(samples))
	ended = make([]bool, len(samples))
	for i, s := range samples {
		resp[i] = int32s(s.Tokens)
		ended[i] = s.Finished
	}
	return resp, ended, nil
}
