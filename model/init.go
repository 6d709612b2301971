package model

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/rlhf-project/rlhf/model/tokenizer"
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

// RunInit writes a randomly initialized model in HF layout with its tokenizer.
func RunInit(o InitOptions) error {
	if o.Out == "" {
		return errors.New("no output folder given")
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
