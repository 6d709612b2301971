package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
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
	Template     string // prompt template for rlhf.json ("": TemplateModel; see Meta.PromptTemplate)
	// ScoreHead adds a randomly initialised scalar score head (num_labels 1),
	// the shape of a reward model or critic before `rlhf rm` trains one.
	ScoreHead bool
}

// InitDest is the destination of RunInit (see atomicfile.Dest): a missing
// or empty folder, or a model folder an earlier `rlhf model init` wrote
// (rlhf.json with stage "init"), which is replaced; never one of inputs
// (the tokenizer file).
func InitDest(out string, inputs ...string) atomicfile.Dest {
	return atomicfile.Dest{Path: out, What: "model folder written by model init", Inputs: inputs, Ours: func(dir string) bool {
		raw, err := os.ReadFile(filepath.Join(dir, MetaFile))
		var meta Meta
		return err == nil && json.Unmarshal(raw, &meta) == nil && meta.Stage == "init"
	}}
}

// RunInit writes a randomly initialized model in HF layout with its tokenizer.
func RunInit(o InitOptions) error {
	if o.Out == "" {
		return errors.New("no output folder given")
	}
	if err := InitDest(o.Out, o.Tokenizer).Check(); err != nil {
		return option.Errorf("{Out}: %w", err)
	}
	var tok *tokenizer.Tokenizer
	var err error
	if o.Tokenizer == "" {
		tok = tokenizer.NewByteLevel()
	} else if tok, err = tokenizer.Load(o.Tokenizer); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
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
		return fmt.Errorf("hidden size %d must be divisible by the number of heads %d", hidden, heads)
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
	if err := CheckTemplate(m.Meta.PromptTemplate); err != nil {
		return err
	}
	// Written into a temporary folder that replaces Out once complete.
	created := atomicfile.Track(o.Out)
	tmp, err := atomicfile.TempDirFor(o.Out)
	if err != nil {
		return err
	}
	err = m.Save(tmp)
	if err == nil {
		err = tok.Save(tmp)
	}
	if err == nil {
		err = atomicfile.ReplaceDir(tmp, o.Out)
	}
	if err != nil {
		os.RemoveAll(tmp)
		created.RemoveEmptyParents()
		return err
	}
	slog.Info("model initialized", "arch", cfg.Arch, "layers", layers, "hidden", hidden, "heads", heads,
		"vocab", cfg.VocabSize, "parameters", m.Store.NumParameters(), "out", o.Out)
	return nil
}
