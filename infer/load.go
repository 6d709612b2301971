package infer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// LoadOptions say how Load prepares a checkpoint.
type LoadOptions struct {
	// MaxSeqLen, when > 0, is the longest sequence the caller will feed;
	// a model with fewer positions is refused with a *ContextError.
	MaxSeqLen int
	// Template, when not empty, replaces the checkpoint's prompt template:
	// "none", "model" (the tokenizer's chat template, when it has one) or a
	// text with {prompt} (model.Meta.PromptTemplate).
	Template string
	// RequireEOS refuses a tokenizer without an end-of-sequence token
	// (training and PPO need one; generation can run to the token limit).
	RequireEOS bool
	// DType is the compute dtype: "float32" (default), "bfloat16" or "float16".
	DType string
	// Base is the base model folder of a LoRA adapter folder ("": the one
	// its adapter_config.json names, relative to the adapter folder).
	Base string
	// KeepAdapter keeps a LoRA adapter attached (to train it on) instead
	// of merging it into the weights.
	KeepAdapter bool
}

// ContextError is a sequence length above a model's context.
type ContextError struct {
	Dir       string
	Want      int // tokens asked for
	Positions int // the model's max_position_embeddings
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("%s: %d tokens are above the model's context of %d positions", e.Dir, e.Want, e.Positions)
}

// Load loads a model folder and the tokenizer.json beside it, and checks,
// before any compute, what would otherwise fail late or silently: a missing
// tokenizer.json, a tokenizer with ids beyond the embedding matrix, no
// end-of-sequence token (when asked), and a sequence length above the model's context.
// Errors start with dir; the caller adds which input it was.
//
// dir may also be a model id ORG/NAME[@REVISION] of the local Hugging Face
// cache (model.ResolveDir); a folder that exists wins, and nothing is fetched.
//
// A PEFT LoRA adapter folder (adapter_config.json) loads as its base model
// (o.Base, or the folder its base_model_name_or_path names) with the
// adapter merged into the weights, or attached with o.KeepAdapter; the
// tokenizer and rlhf.json are the adapter folder's, or else the base's.
func Load(dir string, o LoadOptions) (*model.Model, *tokenizer.Tokenizer, error) {
	if dir == "" {
		return nil, nil, errors.New("no model folder given")
	}
	if err := model.CheckTemplate(o.Template); err != nil {
		return nil, nil, err
	}
	name := dir
	dir, err := model.ResolveDir(dir)
	if err != nil {
		return nil, nil, err
	}
	if dir != name {
		name = fmt.Sprintf("%s (%s)", name, dir)
	}
	cfgDir, tokDir := dir, dir
	adapter := model.IsAdapterDir(dir)
	if adapter {
		base, err := model.AdapterBase(dir, o.Base)
		if err != nil {
			return nil, nil, err
		}
		cfgDir = base
		if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
			tokDir = base
		}
	} else if o.Base != "" {
		return nil, nil, fmt.Errorf("%s: a base model is given but this is not a LoRA adapter folder (no %s)", name, model.AdapterConfigFile)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err != nil {
		return nil, nil, fmt.Errorf("%s: not a model folder (no config.json)", cfgDir)
	}
	tokPath := filepath.Join(tokDir, "tokenizer.json")
	if _, err := os.Stat(tokPath); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: the checkpoint has no tokenizer.json; copy the tokenizer of its base model into it (rlhf needs it to encode the data the same way as every other stage)", name)
	}
	cfg, err := model.LoadConfig(cfgDir)
	if err != nil {
		return nil, nil, err
	}
	if o.MaxSeqLen > 0 && cfg.MaxPositions > 0 && o.MaxSeqLen > cfg.MaxPositions {
		return nil, nil, &ContextError{Dir: name, Want: o.MaxSeqLen, Positions: cfg.MaxPositions}
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return nil, nil, err
	}
	if tok.VocabSize() > cfg.VocabSize {
		return nil, nil, fmt.Errorf("%s: the tokenizer has %d tokens but the embedding has %d rows (vocab_size); they belong to different models",
			name, tok.VocabSize(), cfg.VocabSize)
	}
	if o.RequireEOS && tok.EOS() < 0 {
		return nil, nil, fmt.Errorf("%s: the tokenizer has no end-of-sequence token; set eos_token in tokenizer_config.json", name)
	}
	var m *model.Model
	if adapter {
		m, err = model.LoadAdapter(dir, cfgDir)
	} else {
		m, err = model.Load(dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if !o.KeepAdapter {
		if err := m.MergeLoRA(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	if err := m.SetComputeDType(o.DType); err != nil {
		return nil, nil, err
	}
	applyTemplate(m.Meta, tok, o.Template)
	if model.IsModelTemplate(m.Meta.PromptTemplate) {
		// The model's chat template formats prompts: it must compile and
		// frame an exchange (errors name its file and line).
		if _, err := ChatTemplate(tok); err != nil {
			return nil, nil, err
		}
	}
	return m, tok, nil
}

// SameTokenizer checks that two checkpoints share their vocabulary.
func SameTokenizer(a, b *tokenizer.Tokenizer) error {
	if a.VocabSize() != b.VocabSize() || a.EOS() != b.EOS() {
		return fmt.Errorf("different tokenizers (%d vs %d tokens, EOS %d vs %d): the models must share one vocabulary",
			a.VocabSize(), b.VocabSize(), a.EOS(), b.EOS())
	}
	return nil
}
