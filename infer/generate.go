package infer

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
)

// GenerateOptions are the flags of `rlhf generate`.
type GenerateOptions struct {
	Model        string   // model folder or LoRA adapter folder (required)
	Base         string   // base model of an adapter --model ("": its adapter_config.json's)
	Prompts      []string // prompt datasets or JSONL files with a "prompt" field (required)
	Out          string   // response dataset to write (required)
	NumSamples   int      // samples per prompt (default 1)
	MaxNewTokens int      // default 128, or less when the context is below 256 (FitLengths)
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

// sizes are named counts or lengths of options where 0 means the default.
type sizes []struct {
	name string
	v    int
}

// notNegative refuses the first negative size: for library callers 0 means
// the default, and a negative value is a mistake, not a default in disguise.
func notNegative(s sizes) error {
	for _, x := range s {
		if x.v < 0 {
			return fmt.Errorf("%s %d: must not be negative", x.name, x.v)
		}
	}
	return nil
}

// RunGenerate samples responses for every prompt and writes a response
// dataset (one row per sample, in prompt order, with summed log-probs).
func RunGenerate(ctx context.Context, o GenerateOptions) error {
	if o.Model == "" || len(o.Prompts) == 0 || o.Out == "" {
		return option.Errorf("{Model}, {Prompts} and {Out} are required")
	}
	if err := dataset.CheckOutput[dataset.Response](o.Out, append([]string{o.Model}, o.Prompts...)...); err != nil {
		return option.Errorf("{Out}: %w", err)
	}
	if err := notNegative(sizes{{"NumSamples", o.NumSamples}, {"MaxNewTokens", o.MaxNewTokens},
		{"BatchSize", o.BatchSize}, {"MaxPromptLen", o.MaxPromptLen}, {"MaxPrompts", o.MaxPrompts}}); err != nil {
		return err
	}
	if o.NumSamples == 0 {
		o.NumSamples = 1
	}
	if o.Temperature < 0 || o.TopP < 0 || o.TopP > 1 || o.TopK < 0 {
		return option.Errorf("{Temperature} must be ≥ 0, {TopP} in [0,1], {TopK} ≥ 0")
	}
	prompts, err := dataset.ReadAllWith[dataset.Prompt](dataset.ReaderOptions{Encoding: o.Encoding}, o.Prompts...)
	if err != nil {
		return option.Errorf("{Prompts}: %w", err)
	}
	if len(prompts) == 0 {
		return option.Errorf("{Prompts} %s: no rows: nothing to generate from", strings.Join(o.Prompts, ", "))
	}
	if o.MaxPrompts > 0 && len(prompts) > o.MaxPrompts {
		prompts = prompts[:o.MaxPrompts]
	}
	for i, p := range prompts {
		if _, err := History(p.History); err != nil {
			return option.Errorf("{Prompts}: row %d (id %q): %w", i+1, p.ID, err)
		}
	}
	m, tok, enc, backend, err := open(o.Model, o.Base, o.DType, o.Backend, o.Template, o.Raw)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	// The prompt may take what the response leaves of the context; 128 new
	// tokens unless the context is too small for that (then it is shared).
	positions, newTokens := m.Config.MaxPositions, o.MaxNewTokens
	defPrompt := positions
	if positions <= 0 {
		defPrompt = math.MaxInt32 // unknown context: no limit
	}
	if o.MaxPromptLen, o.MaxNewTokens, err = FitLengths(positions, o.MaxPromptLen, o.MaxNewTokens, defPrompt, DefaultMaxNewTokens); err != nil {
		return err
	}
	if newTokens == 0 && o.MaxNewTokens < DefaultMaxNewTokens {
		slog.Info("--max-new-tokens not given: lowered from 128 to fit the model's context",
			"max_new_tokens", o.MaxNewTokens, "max_prompt_len", o.MaxPromptLen, "positions", positions)
	}
	truncated := 0
	dec, err := model.NewDecoder(backend, m)
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
	bar := progress.New(ctx, int64(len(prompts)*o.NumSamples), "generate")
	defer bar.Finish()
	batch := o.BatchSize
	if batch == 0 {
		batch = 8
	}
	modelName := filepath.Base(filepath.Clean(o.Model))
	// Chunks of whole prompts, about one batch of sequences each.
	per := max(1, batch/o.NumSamples)
	for start := 0; start < len(prompts); start += per {
		end := min(start+per, len(prompts))
		var ids [][]int
		for i := start; i < end; i++ {
			h, _ := History(prompts[i].History) // checked above
			p := Ints(enc.PromptConversation(h, prompts[i].Prompt))
			if len(p) == 0 {
				return option.Errorf("{Prompts}: row %d (id %s) encodes to no tokens", i, prompts[i].ID)
			}
			if len(p) > o.MaxPromptLen {
				p = p[len(p)-o.MaxPromptLen:]
				truncated++
			}
			for range o.NumSamples {
				ids = append(ids, p)
			}
		}
		samples, err := dec.Generate(ctx, ids, model.SampleOptions{
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
				PromptID: p.ID, Prompt: p.Prompt, History: p.History, Response: tok.Decode(toks), Model: modelName,
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
	Model     string   // model folder or LoRA adapter folder (required)
	Base      string   // base model of an adapter --model ("": its adapter_config.json's)
	Data      []string // response/sft datasets or JSONL with prompt and response (required)
	Out       string   // dataset to write (required)
	Raw       bool     // tokens(prompt)+tokens(response): no template, no special tokens
	Template  string   // overrides the checkpoint's prompt template
	BatchSize int      // rows per forward pass (default 8)
	Backend   string   // see model.NewBackend
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
		return nil, option.Errorf("{Data}: %w", err)
	}
	sft, err2 := dataset.ReadAllWith[dataset.SFT](opts, paths...)
	if err2 != nil {
		return nil, option.Errorf("{Data}: %w (as an sft dataset: %v)", err, err2)
	}
	out := make([]dataset.Response, len(sft))
	for i, r := range sft {
		out[i] = dataset.Response{ID: r.ID, Prompt: r.Prompt, History: r.History, Response: r.Response}
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
		return option.Errorf("{Model}, {Data} and {Out} are required")
	}
	if err := dataset.CheckOutput[dataset.Response](o.Out, append([]string{o.Model}, o.Data...)...); err != nil {
		return option.Errorf("{Out}: %w", err)
	}
	if err := notNegative(sizes{{"BatchSize", o.BatchSize}}); err != nil {
		return err
	}
	rows, err := readScoreRows(o.Data, o.Encoding)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return option.Errorf("{Data} %s: no rows: nothing to score", strings.Join(o.Data, ", "))
	}
	m, tok, enc, backend, err := open(o.Model, o.Base, o.DType, o.Backend, o.Template, o.Raw)
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
	bar := progress.New(ctx, int64(len(rows)), "score")
	defer bar.Finish()
	batch := o.BatchSize
	if batch == 0 {
		batch = 8
	}
	for start := 0; start < len(rows); start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+batch, len(rows))
		var prompts, responses [][]int32
		eosAdded := false
		for _, r := range rows[start:end] {
			h, err := History(r.History)
			if err != nil {
				return option.Errorf("{Data}: row %d (id %q): %w", start+len(prompts)+1, r.ID, err)
			}
			prompts = append(prompts, enc.PromptConversation(h, r.Prompt))
			resp := int32s(tok.Encode(r.Response))
			if m.HasScoreHead() && !o.Raw && tok.EOS() >= 0 {
				// Reward models are trained and read at the EOS that ends
				// the response (Encoder.Encode), so score them the same way
				// (with a chat template, after the assistant turn's end).
				resp, eosAdded = enc.ResponseConversation(h, r.Prompt, r.Response), true
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

// open loads a model folder for generate and score: the model in compute
// dtype, its tokenizer, the prompt encoder (template overridden when not
// empty, raw: no template, no BOS) and the backend (the caller finalizes it).
func open(dir, base, dtype, backendSpec, template string, raw bool) (*model.Model, *tokenizer.Tokenizer, *Encoder, compute.Backend, error) {
	m, tok, err := Load(dir, LoadOptions{DType: dtype, Base: base})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	backend, err := model.NewBackend(backendSpec)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	enc := NewEncoder(tok, m.Meta, template)
	enc.Raw = raw
	return m, tok, enc, backend, nil
}
