package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/progress"
)

// InitOptions are the flags of `rlhf model init`.
type InitOptions struct {
	Arch         string // gpt2, llama, qwen2, mistral or bloom
	Layers       int    // transformer blocks (default 2)
	Hidden       int    // hidden size (default 64)
	Heads        int    // attention heads (default 4)
	KVHeads      int    // key/value heads for llama/qwen2/mistral (0: = Heads)
	Intermediate int    // MLP size (0: architecture default, 4·hidden or ≈8/3·hidden)
	MaxPositions int    // context length (0: 1024)
	Tokenizer    string // tokenizer.json to copy (""; a byte-level tokenizer is written)
	Out          string // output folder (required)
	Seed         uint64 // random init seed
	Template     string // prompt template for rlhf.json ("": DefaultPromptTemplate)
	// ScoreHead adds a randomly initialised scalar score head (num_labels 1),
	// the shape of a reward model or critic before `rlhf rm` trains one.
	ScoreHead bool
}

// RunInit writes a randomly initialized model in HF layout with its tokenizer.
func RunInit(_ context.Context, o InitOptions) error {
	if o.Out == "" {
		return errors.New("--out is required")
	}
	var tok *tokenizer.Tokenizer
	var err error
	if o.Tokenizer == "" {
		tok = tokenizer.NewByteLevel()
	} else if tok, err = tokenizer.Load(o.Tokenizer); err != nil {
		return fmt.Errorf("--tokenizer: %w", err)
	}
	layers, hidden, heads := o.Layers, o.Hidden, o.Heads
	if layers == 0 {
		layers = 2
	}
	if hidden == 0 {
		hidden = 64
	}
	if heads == 0 {
		heads = 4
	}
	if hidden%heads != 0 {
		return fmt.Errorf("--hidden %d must be divisible by --heads %d", hidden, heads)
	}
	cfg, err := NewConfig(o.Arch, tok.VocabSize(), layers, hidden, heads, o.KVHeads)
	if err != nil {
		return err
	}
	if o.Intermediate > 0 {
		cfg.Intermediate = o.Intermediate
	}
	if o.MaxPositions > 0 {
		cfg.MaxPositions = o.MaxPositions
	}
	cfg.EOS, cfg.BOS, cfg.Pad = tok.EOS(), tok.BOS(), tok.PAD()
	if err := cfg.Validate(); err != nil {
		return err
	}
	m, err := New(cfg, o.Seed)
	if err != nil {
		return err
	}
	m.Meta.Stage = "init"
	if o.ScoreHead {
		if err := m.AddScoreHead(o.Seed); err != nil {
			return err
		}
	}
	if o.Template != "" {
		m.Meta.PromptTemplate = o.Template
	}
	if !strings.Contains(m.Meta.PromptTemplate, "{prompt}") {
		return fmt.Errorf("--template %q: must contain {prompt}", o.Template)
	}
	if err := m.Save(o.Out); err != nil {
		return err
	}
	if err := tok.Save(o.Out); err != nil {
		return err
	}
	slog.Info("model initialized", "arch", cfg.Arch, "layers", layers, "hidden", hidden, "heads", heads,
		"vocab", cfg.VocabSize, "parameters", m.Store.NumParameters(), "out", o.Out)
	return nil
}

// LoadWithTokenizer loads the model of dir and the tokenizer.json beside it.
func LoadWithTokenizer(dir string) (*Model, *tokenizer.Tokenizer, error) {
	m, err := Load(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, nil, err
	}
	if tok.VocabSize() > m.Config.VocabSize {
		return nil, nil, fmt.Errorf("%s: tokenizer has %d ids but the model's vocab_size is %d", dir, tok.VocabSize(), m.Config.VocabSize)
	}
	return m, tok, nil
}

// PromptIDs encodes a prompt the way every rlhf command feeds it to a
// model: unless raw, wrapped in the checkpoint's template (or template when
// not empty) and, for llama/mistral, preceded by BOS as HF's tokenizers do.
func PromptIDs(m *Model, tok *tokenizer.Tokenizer, prompt, template string, raw bool) []int {
	if raw {
		return tok.Encode(prompt)
	}
	meta := *m.Meta
	if template != "" {
		meta.PromptTemplate = template
	}
	ids := tok.Encode(meta.FormatPrompt(prompt))
	if tok.AddsBOS() {
		ids = append([]int{tok.BOS()}, ids...)
	}
	return ids
}

// GenerateOptions are the flags of `rlhf generate`.
type GenerateOptions struct {
	Model        string   // model folder (required)
	Prompts      []string // prompt datasets or JSONL files with a "prompt" field (required)
	Out          string   // response dataset to write (required)
	NumSamples   int      // samples per prompt (default 1)
	MaxNewTokens int      // default 128
	Temperature  float64  // 0: greedy
	TopP         float64  // nucleus mass, 0 or 1: off
	TopK         int      // 0: off
	Seed         uint64
	BatchSize    int    // sequences decoded together (default 8)
	Template     string // overrides the checkpoint's prompt template
	Raw          bool   // feed prompts as they are, no template, no BOS
	Backend      string // see NewBackend
	DType        string // compute dtype: float32 (default), bfloat16, float16
	// MaxPromptLen is the longest prompt in tokens; longer prompts lose
	// their start (counted and logged). Default: the model's context
	// (max positions) minus MaxNewTokens.
	MaxPromptLen int
	// MaxPrompts samples only the first N prompts (0: all).
	MaxPrompts int
	// Encoding is the character encoding of JSONL prompts (default UTF-8).
	Encoding dataset.Encoding
}

// RunGenerate samples responses for every prompt and writes a response
// dataset (one row per sample, in prompt order, with summed log-probs).
func RunGenerate(ctx context.Context, o GenerateOptions) error {
	if o.Model == "" || len(o.Prompts) == 0 || o.Out == "" {
		return errors.New("--model, --prompts and --out are required")
	}
	if o.NumSamples <= 0 {
		o.NumSamples = 1
	}
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = 128
	}
	if o.Temperature < 0 || o.TopP < 0 || o.TopP > 1 || o.TopK < 0 {
		return fmt.Errorf("--temperature must be ≥ 0, --top-p in [0,1], --top-k ≥ 0")
	}
	prompts, err := dataset.ReadAllWith[dataset.Prompt](dataset.ReaderOptions{Encoding: o.Encoding}, o.Prompts...)
	if err != nil {
		return fmt.Errorf("--prompts: %w", err)
	}
	if o.MaxPrompts > 0 && len(prompts) > o.MaxPrompts {
		prompts = prompts[:o.MaxPrompts]
	}
	m, tok, backend, err := loadForInference(o.Model, o.DType, o.Backend)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	if o.MaxPromptLen <= 0 {
		o.MaxPromptLen = m.Config.MaxPositions - o.MaxNewTokens
	}
	if o.MaxPromptLen <= 0 {
		return fmt.Errorf("--max-new-tokens %d leaves no room for a prompt in the model's %d positions", o.MaxNewTokens, m.Config.MaxPositions)
	}
	truncated := 0
	dec, err := NewDecoder(backend, m)
	if err != nil {
		return err
	}
	w, err := dataset.Create[dataset.Response](o.Out, dataset.WriterOptions{Meta: map[string]string{"model": o.Model}})
	if err != nil {
		return err
	}
	defer w.Abort() // a no-op once Close has published the dataset
	eos := []int{}
	if tok.EOS() >= 0 {
		eos = append(eos, tok.EOS())
	}
	if m.Config.EOS >= 0 && m.Config.EOS != tok.EOS() {
		eos = append(eos, m.Config.EOS)
	}
	bar := progress.New(int64(len(prompts)*o.NumSamples), "generate")
	defer bar.Finish()
	batch := max(o.BatchSize, 1)
	modelName := filepath.Base(filepath.Clean(o.Model))
	// Chunks of whole prompts, about one batch of sequences each.
	per := max(1, batch/o.NumSamples)
	for start := 0; start < len(prompts); start += per {
		end := min(start+per, len(prompts))
		var ids [][]int
		for i := start; i < end; i++ {
			p := PromptIDs(m, tok, prompts[i].Prompt, o.Template, o.Raw)
			if len(p) == 0 {
				return fmt.Errorf("--prompts: row %d (id %s) encodes to no tokens", i, prompts[i].ID)
			}
			if len(p) > o.MaxPromptLen {
				p = p[len(p)-o.MaxPromptLen:]
				truncated++
			}
			for range o.NumSamples {
				ids = append(ids, p)
			}
		}
		samples, err := dec.Generate(ctx, ids, SampleOptions{
			MaxNewTokens: o.MaxNewTokens, Temperature: o.Temperature, TopP: o.TopP, TopK: o.TopK,
			Seed: o.Seed, SeedOffset: uint64(start * o.NumSamples), EOS: eos, BatchSize: batch,
		})
		if err != nil {
			return err
		}
		rows := make([]dataset.Response, 0, len(samples))
		for j, s := range samples {
			p := prompts[start+j/o.NumSamples]
			toks := s.Tokens
			if s.Finished {
				toks = toks[:len(toks)-1]
			}
			rows = append(rows, dataset.WithID(dataset.Response{
				PromptID: p.ID, Prompt: p.Prompt, Response: tok.Decode(toks), Model: modelName,
				SampleIndex: int32(j % o.NumSamples), Logprob: s.LogProb, NumTokens: int32(len(toks)),
			}))
		}
		if err := w.Write(rows...); err != nil {
			return err
		}
		bar.Add(int64(len(rows)))
	}
	if err := w.Close(); err != nil {
		return err
	}
	if truncated > 0 {
		slog.Warn("prompts longer than --max-prompt-len lost their start", "prompts", truncated, "max_prompt_len", o.MaxPromptLen)
	}
	slog.Info("generated", "prompts", len(prompts), "samples", len(prompts)*o.NumSamples, "out", o.Out)
	return nil
}

// ScoreOptions are the flags of `rlhf score`.
type ScoreOptions struct {
	Model     string   // model folder (required)
	Data      []string // response/sft datasets or JSONL with prompt and response (required)
	Out       string   // dataset to write (required)
	Raw       bool     // tokens(prompt)+tokens(response): no template, no special tokens
	Template  string   // overrides the checkpoint's prompt template
	BatchSize int      // rows per forward pass (default 8)
	Backend   string   // see NewBackend
	DType     string   // compute dtype: float32 (default), bfloat16, float16
	// Encoding is the character encoding of JSONL inputs (default UTF-8).
	Encoding dataset.Encoding
}

// readScoreRows reads response datasets (or JSONL with prompt and
// response), falling back to sft datasets.
func readScoreRows(paths []string, enc dataset.Encoding) ([]dataset.Response, error) {
	opts := dataset.ReaderOptions{Encoding: enc}
	rs, err := dataset.ReadAllWith[dataset.Response](opts, paths...)
	if err == nil {
		return rs, nil
	}
	if dataset.IsInvalidUTF8(err) {
		return nil, fmt.Errorf("--data: %w", err)
	}
	sft, err2 := dataset.ReadAllWith[dataset.SFT](opts, paths...)
	if err2 != nil {
		return nil, fmt.Errorf("--data: %w (as an sft dataset: %v)", err, err2)
	}
	out := make([]dataset.Response, len(sft))
	for i, r := range sft {
		out[i] = dataset.Response{ID: r.ID, Prompt: r.Prompt, Response: r.Response}
	}
	return out, nil
}

// RunScore writes, for every input row in order, a response row with the
// summed log-prob of the response given the prompt (Logprob), or the reward
// of a checkpoint with a score head (Reward), and the response's token
// count (NumTokens). Reward models read the reward at an EOS appended to the
// response, as they were trained, unless Raw is set.
func RunScore(ctx context.Context, o ScoreOptions) error {
	if o.Model == "" || len(o.Data) == 0 || o.Out == "" {
		return errors.New("--model, --data and --out are required")
	}
	rows, err := readScoreRows(o.Data, o.Encoding)
	if err != nil {
		return err
	}
	m, tok, backend, err := loadForInference(o.Model, o.DType, o.Backend)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	sc, err := NewScorer(backend, m)
	if err != nil {
		return err
	}
	w, err := dataset.Create[dataset.Response](o.Out, dataset.WriterOptions{Meta: map[string]string{"model": o.Model}})
	if err != nil {
		return err
	}
	defer w.Abort() // a no-op once Close has published the dataset
	modelName := filepath.Base(filepath.Clean(o.Model))
	bar := progress.New(int64(len(rows)), "score")
	defer bar.Finish()
	batch := max(o.BatchSize, 1)
	if batch == 1 && o.BatchSize == 0 {
		batch = 8
	}
	for start := 0; start < len(rows); start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+batch, len(rows))
		var prompts, responses [][]int
		eosAdded := false
		for _, r := range rows[start:end] {
			prompts = append(prompts, PromptIDs(m, tok, r.Prompt, o.Template, o.Raw))
			resp := tok.Encode(r.Response)
			if m.HasScoreHead() && !o.Raw && tok.EOS() >= 0 {
				// Reward models are trained and read at the EOS that ends
				// the response (train.Encoder), so score them the same way.
				resp, eosAdded = append(resp, tok.EOS()), true
			}
			responses = append(responses, resp)
		}
		res, err := sc.Score(prompts, responses, batch)
		if err != nil {
			return fmt.Errorf("rows %d-%d: %w", start, end-1, err)
		}
		out := make([]dataset.Response, 0, end-start)
		for i, r := range rows[start:end] {
			r.Model = modelName
			if m.HasScoreHead() {
				reward := res[i].Reward
				r.Reward, r.Logprob = &reward, 0
			} else {
				r.Logprob, r.Reward = res[i].LogProb, nil
			}
			r.NumTokens = int32(res[i].NumTokens)
			if eosAdded {
				r.NumTokens--
			}
			out = append(out, dataset.WithID(r))
		}
		if err := w.Write(out...); err != nil {
			return err
		}
		bar.Add(int64(len(out)))
	}
	if err := w.Close(); err != nil {
		return err
	}
	slog.Info("scored", "rows", len(rows), "out", o.Out)
	return nil
}

// Scorer computes conditional log-likelihoods or rewards of (prompt,
// response) token sequences, compiled once per (batch, length bucket).
type Scorer struct {
	m    *Model
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

// NewScorer prepares the scoring graph.
func NewScorer(backend compute.Backend, m *Model) (*Scorer, error) {
	s := &Scorer{m: m, LengthBucket: 16}
	var err error
	s.exec, err = gmodel.NewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, respMask *Node) *Node {
		hidden := m.Hidden(tokens, mask)
		if m.HasScoreHead() {
			return m.Score(hidden, mask)
		}
		lp := NextTokenLogProbs(m.Logits(hidden), tokens) // [B,T-1]
		T := tokens.Shape().Dim(1)
		w := ConvertDType(toBool(SliceAxis(respMask, 1, AxisRange(1, T))), lp.DType())
		return ReduceSum(Mul(lp, w), 1)
	})
	return s, err
}

// Score scores each prompts[i]+responses[i] (right-padded into batches of
// batchSize rows; short batches are filled so shapes repeat).
func (s *Scorer) Score(prompts, responses [][]int, batchSize int) ([]ScoreResult, error) {
	out := make([]ScoreResult, len(prompts))
	for start := 0; start < len(prompts); start += batchSize {
		end := min(start+batchSize, len(prompts))
		maxLen := 2
		for i := start; i < end; i++ {
			maxLen = max(maxLen, len(prompts[i])+len(responses[i]))
		}
		T := roundUp(maxLen, max(s.LengthBucket, 1))
		if s.m.Config.Arch == ArchGPT2 && T > s.m.Config.MaxPositions {
			if maxLen > s.m.Config.MaxPositions {
				return nil, fmt.Errorf("a sequence of %d tokens exceeds the model's %d positions", maxLen, s.m.Config.MaxPositions)
			}
			T = maxLen
		}
		tokens, mask, resp := make([][]int32, batchSize), make([][]int32, batchSize), make([][]int32, batchSize)
		for b := range batchSize {
			tokens[b], mask[b], resp[b] = make([]int32, T), make([]int32, T), make([]int32, T)
			if start+b >= end {
				continue
			}
			p, r := prompts[start+b], responses[start+b]
			if len(p)+len(r) == 0 {
				return nil, fmt.Errorf("row %d: empty prompt and response", start+b)
			}
			for i, t := range append(append([]int{}, p...), r...) {
				if t < 0 || t >= s.m.Config.VocabSize {
					return nil, fmt.Errorf("row %d: token id %d outside vocabulary of %d", start+b, t, s.m.Config.VocabSize)
				}
				tokens[b][i], mask[b][i] = int32(t), 1
				if i >= len(p) {
					resp[b][i] = 1
				}
			}
			out[start+b].NumTokens = len(r)
			if len(p) == 0 {
				out[start+b].NumTokens-- // the first token has no context to be scored in
			}
		}
		res, err := s.exec.Exec1(tensors.FromValue(tokens), tensors.FromValue(mask), tensors.FromValue(resp))
		if err != nil {
			return nil, err
		}
		vals := res.Value().([]float32)
		for b := start; b < end; b++ {
			if s.m.HasScoreHead() {
				out[b].Reward = float64(vals[b-start])
			} else {
				out[b].LogProb = float64(vals[b-start])
			}
		}
	}
	return out, nil
}

// loadForInference loads a model folder with its tokenizer, sets the compute
// dtype and opens the backend (the caller finalizes it).
func loadForInference(dir, dtype, backendSpec string) (*Model, *tokenizer.Tokenizer, compute.Backend, error) {
	m, tok, err := LoadWithTokenizer(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := m.SetComputeDType(dtype); err != nil {
		return nil, nil, nil, err
	}
	backend, err := NewBackend(backendSpec)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, tok, backend, nil
}
