package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// LoadModel loads a model folder for training and checks, before any
// compute, what would otherwise fail late or silently: a missing
// tokenizer.json, a tokenizer with ids beyond the embedding matrix, and a
// maxSeqLen above the model's context (max_position_embeddings). template,
// when not empty, overrides the checkpoint's prompt template. flag names
// the command-line flag for error messages (e.g. "--model").
func LoadModel(flag, dir string, maxSeqLen int, template string) (*model.Model, *tokenizer.Tokenizer, error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("%s: no model folder given", flag)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return nil, nil, fmt.Errorf("%s %s: not a model folder (no config.json)", flag, dir)
	}
	tokPath := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(tokPath); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s %s: the checkpoint has no tokenizer.json; copy the tokenizer of its base model into it (rlhf needs it to encode the data the same way as every other stage)", flag, dir)
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flag, err)
	}
	if maxSeqLen <= 1 {
		return nil, nil, fmt.Errorf("--max-seq-len %d: want at least 2 tokens", maxSeqLen)
	}
	if cfg.MaxPositions > 0 && maxSeqLen > cfg.MaxPositions {
		return nil, nil, fmt.Errorf("--max-seq-len %d is above the context of %s %s (%d positions); lower it to at most %d",
			maxSeqLen, flag, dir, cfg.MaxPositions, cfg.MaxPositions)
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flag, err)
	}
	if tok.VocabSize() > cfg.VocabSize {
		return nil, nil, fmt.Errorf("%s %s: the tokenizer has %d tokens but the embedding has %d rows (vocab_size); they belong to different models",
			flag, dir, tok.VocabSize(), cfg.VocabSize)
	}
	if tok.EOS() < 0 {
		return nil, nil, fmt.Errorf("%s %s: the tokenizer has no end-of-sequence token; set eos_token in tokenizer_config.json", flag, dir)
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flag, err)
	}
	if template != "" {
		m.Meta.PromptTemplate = template
	}
	return m, tok, nil
}
