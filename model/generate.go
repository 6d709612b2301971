package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SampleOptions control Generate. Zero values are valid: greedy decoding of
// up to 64 tokens, stopping at the config's EOS.
type SampleOptions struct {
	// MaxNewTokens per sample (default 64).
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy (argmax).
	Temperature float64
	// TopP keeps the smallest set of tokens whose probability sums to at least
	// TopP (nucleus sampling); 0 or ≥1 disables it.
	TopP float64
	// TopK keeps the K most likely tokens; 0 disables it.
	TopK int
	// Seed makes sampling deterministic: sample i of a Generate call draws
	// from its own generator seeded by (Seed, SeedOffset+i), so outputs do
	// not depend on batching.
	Seed       uint64
	SeedOffset uint64
	// EOS lists the token ids that end a sample (default: the config's
	// eos_token_id). The EOS token is included in the sample.
	EOS []int
	// PadID fills left padding and finished rows (default: first EOS, else 0).
	PadID int
	// BatchSize is how many prompts decode together (default 8).
	BatchSize int
	// LengthBucket rounds prompt and cache lengths up to a multiple of this
	// (default 16), so few shapes are compiled.
	LengthBucket int
	// Progress, if set, is called with the number of samples finished so far.
	Progress func(done int)
}

// Sample is one generated continuation.
type Sample struct {
	Tokens   []int     // generated ids (with the EOS that stopped it, if any)
	LogProbs []float64 // log p(token) under the model's unmodified distribution (temperature 1, no top-p/k)
	LogProb  float64   // sum of LogProbs
	Finished bool      // stopped at EOS (else at MaxNewTokens)
}

func (o *SampleOptions) defaults(c *Config) {
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = 64
	}
	if len(o.EOS) == 0 && c.EOS >= 0 {
		o.EOS = []int{c.EOS}
	}
	if o.PadID == 0 && len(o.EOS) > 0 && o.EOS[0] >= 0 && o.EOS[0] < c.VocabSize {
		o.PadID = o.EOS[0]
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 8
	}
	if o.LengthBucket <= 0 {
		o.LengthBucket = 16
	}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// Generate samples one continuation per prompt (token ids, no padding),
// in batches of opts.BatchSize with left padding. Rows stop at EOS while the
// others continue. The last batch is filled with dummy rows so every batch
// has the same shape.
func (d *Decoder) Generate(ctx context.Context, prompts [][]int, opts SampleOptions) ([]Sample, error) {
	opts.defaults(d.m.Config)
	if err := d.acquireInOut(); err != nil {
		return nil, err
	}
	defer d.releaseInOut()
	out := make([]Sample, len(prompts))
	done := 0
	for start := 0; start < len(prompts); start += opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+opts.BatchSize, len(prompts))
		if err := d.generateBatch(prompts[start:end], start, opts, out[start:end]); err != nil {
			return nil, fmt.Errorf("prompts %d-%d: %w", start, end-1, err)
		}
		done = end
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	return out, nil
}

func (d *Decoder) generateBatch(prompts [][]int, first int, opts SampleOptions, out []Sample) error {
	B := opts.BatchSize
	maxLen := 1
	for i, p := range prompts {
		if len(p) == 0 {
			return fmt.Errorf("prompt %d is empty", first+i)
		}
		maxLen = max(maxLen, len(p))
	}
	P := roundUp(maxLen, opts.LengthBucket)
	S := roundUp(P+opts.MaxNewTokens, opts.LengthBucket)
	if d.m.Config.Arch == ArchGPT2 && S > d.m.Config.MaxPositions {
		S = max(P+opts.MaxNewTokens, min(S, d.m.Config.MaxPositions))
	}
	tokens := make([][]int32, B)
	mask := make([][]int32, B)
	for b := range B {
		tokens[b] = make([]int32, P)
		mask[b] = make([]int32, P)
		p := []int{opts.PadID} // dummy row
		if b < len(prompts) {
			p = prompts[b]
		}
		for i := range P {
			tokens[b][i] = int32(opts.PadID)
		}
		for i, t := range p {
			if t < 0 || t >= d.m.Config.VocabSize {
				return fmt.Errorf("prompt %d: token id %d outside vocabulary of %d", first+b, t, d.m.Config.VocabSize)
			}
			tokens[b][P-len(p)+i] = int32(t)
			mask[b][P-len(p)+i] = 1
		}
	}
	st, logits, err := d.start(tokens, mask, S) // Generate holds the [in, out] copies
	if err != nil {
		return err
	}
	defer st.Close()
	rngs := make([]*rand.Rand, B)
	live := make([]bool, B)
	for b := range B {
		rngs[b] = rand.New(rand.NewPCG(opts.Seed, opts.SeedOffset+uint64(first+b)))
		live[b] = b < len(prompts)
	}
	isEOS := func(t int) bool {
		for _, e := range opts.EOS {
			if t == e {
				return true
			}
		}
		return false
	}
	next := make([]int32, B)
	var scratch []float64
	for step := 0; step < opts.MaxNewTokens; step++ {
		anyLive := false
		for b := range B {
			next[b] = int32(opts.PadID)
			if !live[b] {
				continue
			}
			t, lp := sampleToken(logits[b], &opts, rngs[b], &scratch)
			next[b] = int32(t)
			s := &out[b]
			s.Tokens = append(s.Tokens, t)
			s.LogProbs = append(s.LogProbs, lp)
			s.LogProb += lp
			if isEOS(t) {
				s.Finished = true
				live[b] = false
			} else {
				anyLive = true
			}
		}
		if !anyLive || step == opts.MaxNewTokens-1 {
			break
		}
		if logits, err = st.Step(next, live); err != nil {
			return err
		}
	}
	return nil
}

// sampleToken picks a token from logits and returns it with its log-prob
// under the unmodified softmax. scratch is reused between calls (it grows to
// len(logits)).
func sampleToken(logits []float32, o *SampleOptions, rng *rand.Rand, scratch *[]float64) (int, float64) {
	if cap(*scratch) < len(logits) {
		*scratch = make([]float64, len(logits))
	}
	exps := (*scratch)[:len(logits)]
	maxL := math.Inf(-1)
	for _, l := range logits {
		maxL = math.Max(maxL, float64(l))
	}
	var sum float64
	for i, l := range logits {
		exps[i] = math.Exp(float64(l) - maxL)
		sum += exps[i]
	}
	lse := maxL + math.Log(sum)
	logProb := func(t int) float64 { return float64(logits[t]) - lse }

	if o.Temperature <= 0 {
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		return best, logProb(best)
	}
	truncate := (o.TopK > 0 && o.TopK < len(logits)) || (o.TopP > 0 && o.TopP < 1)
	if !truncate {
		// Plain temperature sampling, in vocabulary order: the same
		// arithmetic as the general path below, without its index and
		// probability slices. At temperature 1, exp((l-max)/1) is exactly the
		// exps computed above, so they are reused.
		z := sum
		if o.Temperature != 1 {
			z = 0
			for i, l := range logits {
				exps[i] = math.Exp((float64(l) - maxL) / o.Temperature)
				z += exps[i]
			}
		}
		r := rng.Float64()
		for i, e := range exps {
			r -= e / z
			if r < 0 {
				return i, logProb(i)
			}
		}
		last := len(logits) - 1
		return last, logProb(last)
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if o.TopK > 0 && o.TopK < len(idx) {
		idx = idx[:o.TopK]
	}
	probs := make([]float64, len(idx))
	var z float64
	top := maxL
	for i, t := range idx {
		probs[i] = math.Exp((float64(logits[t]) - top) / o.Temperature)
		z += probs[i]
	}
	for i := range probs {
		probs[i] /= z
	}
	if o.TopP > 0 && o.TopP < 1 {
		var cum float64
		for i, p := range probs {
			cum += p
			if cum >= o.TopP {
				idx, probs = idx[:i+1], probs[:i+1]
				z = cum
				break
			}
		}
		for i := range probs {
			probs[i] /= z
		}
	}
	r := rng.Float64()
	for i, p := range probs {
		r -= p
		if r < 0 {
			return idx[i], logProb(idx[i])
		}
	}
	last := idx[len(idx)-1]
	return last, logProb(last)
}
