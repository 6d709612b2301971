package train

import (
	"errors"
	"log/slog"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
)

// DefaultMaxSeqLen is the sequence length of sft and rm when the model's
// context holds it.
const DefaultMaxSeqLen = 512

// fitMaxSeqLen resolves a MaxSeqLen not given (0) to min(DefaultMaxSeqLen,
// the context of the model in dir), saying so when the model lowered it.
// A given value is kept (loadModel refuses one above the context).
func fitMaxSeqLen(o *CommonOptions, dir string) {
	if o.MaxSeqLen != 0 {
		return
	}
	o.MaxSeqLen = DefaultMaxSeqLen
	if positions := infer.ContextOf(dir); positions > 0 && positions < DefaultMaxSeqLen {
		o.MaxSeqLen = positions
		slog.Info("--max-seq-len not given: lowered from 512 to the model's context", "max_seq_len", positions, "model", dir)
	}
}

// loadModel loads a model folder to train from (infer.Load: tokenizer
// beside it, with an EOS) for sequences of up to maxSeqLen tokens; what
// names dir in errors: the option.Field that gave it (e.g. Model) or words. template, when not empty,
// overrides the checkpoint's prompt template.
//
// A LoRA adapter folder loads over its base (base, or the one its
// adapter_config.json names) with the adapter attached: prepareLoRA then
// decides whether it trains on or is merged.
func loadModel(what any, dir string, maxSeqLen int, template string) (*model.Model, *tokenizer.Tokenizer, error) {
	return loadModelBase(what, dir, "", maxSeqLen, template)
}

// loadModelBase is loadModel with the base folder of an adapter given.
func loadModelBase(what any, dir, base string, maxSeqLen int, template string) (*model.Model, *tokenizer.Tokenizer, error) {
	if dir == "" {
		return nil, nil, option.Errorf("%s: no model folder given", what)
	}
	if maxSeqLen <= 1 {
		return nil, nil, option.Errorf("{MaxSeqLen} %d: want at least 2 tokens", maxSeqLen)
	}
	m, tok, err := infer.Load(dir, infer.LoadOptions{MaxSeqLen: maxSeqLen, Template: template, RequireEOS: true, Base: base, KeepAdapter: true})
	var ce *infer.ContextError
	if errors.As(err, &ce) {
		return nil, nil, option.Errorf("{MaxSeqLen} %d is above the context of %s %s (%d positions); lower it to at most %d",
			maxSeqLen, what, dir, ce.Positions, ce.Positions)
	}
	if err != nil {
		return nil, nil, option.Errorf("%s %w", what, err)
	}
	return m, tok, nil
}

// loadTrainee loads the model a supervised-style run (SFT, RM, DPO) trains:
// modelDir (over base when it is a LoRA adapter), or the checkpoint
// resumeFrom, with --max-seq-len fitted to it and in the compute dtype.
// shape adapts it to the trainer (checks its heads, adds or drops one)
// before LoRA and gradient checkpointing are applied; the saver writes it
// into checkpoints with the tokenizer files it was loaded with.
func loadTrainee(o *CommonOptions, modelDir, base, resumeFrom string, shape func(m *model.Model, dir string) error) (*model.Model, *tokenizer.Tokenizer, *modelSaver, error) {
	origin := modelDir
	if resumeFrom != "" {
		modelDir, base = resumeFrom, ""
	}
	fitMaxSeqLen(o, modelDir)
	m, tok, err := loadModelBase(option.Field("Model"), modelDir, base, o.MaxSeqLen, o.Template)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := m.SetComputeDType(o.DType); err != nil {
		return nil, nil, nil, err
	}
	if err := shape(m, modelDir); err != nil {
		return nil, nil, nil, err
	}
	if err := o.prepareModel("Model", m, origin, resumeFrom != ""); err != nil {
		return nil, nil, nil, err
	}
	saver, err := newModelSaver(m)
	if err != nil {
		return nil, nil, nil, option.Errorf("{Model} %w", err)
	}
	return m, tok, saver, nil
}
