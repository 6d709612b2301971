package train

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// LoRAOptions are the LoRA flags of one trained model (--lora-* for SFT, RM
// and PPO's actor; --critic-lora-* for PPO's critic). With Rank 0 the model
// is fine-tuned in full. With Rank > 0 its weights are frozen (and, when
// the compute dtype is bfloat16 or float16, stored in it: no float32 copy)
// and only the adapters (and a reward model's or critic's score head) are
// trained, so the optimizer keeps moments for them alone; checkpoints and
// the final model are PEFT adapter folders over the model trained from
// (`rlhf model merge-lora` makes a full model of one).
type LoRAOptions struct {
	// Rank is r, the adapters' inner size; 0 turns LoRA off. Default 0.
	Rank int
	// Alpha is lora_alpha: updates are scaled by Alpha/Rank. Default 16.
	Alpha float64
	// Dropout is the dropout rate on the adapters' input while training.
	// Default 0.05 (LoRADefaults; a zero LoRAOptions has none).
	Dropout float64
	// Targets is a comma-separated list of PEFT target modules, matched
	// against the ends of HF module names ("q_proj,v_proj", "c_attn",
	// "attn.c_proj", "lm_head"), or "all-linear" (every linear map of the
	// blocks). Default "all-linear".
	Targets string
}

// LoRADefaults are the LoRA options the commands start from (LoRA off).
func LoRADefaults() LoRAOptions {
	return LoRAOptions{Alpha: 16, Dropout: 0.05, Targets: model.AllLinear}
}

// fill sets the defaults whose zero value is not meaningful.
func (l *LoRAOptions) fill() {
	if l.Alpha == 0 {
		l.Alpha = 16
	}
	if strings.TrimSpace(l.Targets) == "" {
		l.Targets = model.AllLinear
	}
}

// Enabled reports whether LoRA is on.
func (l LoRAOptions) Enabled() bool { return l.Rank > 0 }

// Config is the model-level configuration of the adapters.
func (l LoRAOptions) Config() model.LoRA {
	var targets []string
	for _, t := range strings.Split(l.Targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			targets = append(targets, t)
		}
	}
	return model.LoRA{Rank: l.Rank, Alpha: l.Alpha, Dropout: l.Dropout, Targets: targets}
}

// check validates the options; field names them in errors (LoRA or
// CriticLoRA, the field of the trainer's options that holds them).
func (l LoRAOptions) check(field string) error {
	f := loraField(field)
	switch {
	case l.Rank < 0:
		return option.Errorf("%s %d: want 0 (no LoRA) or more", f("Rank"), l.Rank)
	case !l.Enabled():
		return nil
	case !(l.Alpha > 0) || !finite(l.Alpha):
		return option.Errorf("%s %g: want a positive number", f("Alpha"), l.Alpha)
	case !(l.Dropout >= 0 && l.Dropout < 1):
		return option.Errorf("%s %g: want a rate in [0, 1)", f("Dropout"), l.Dropout)
	case len(l.Config().Targets) == 0:
		return option.Errorf("%s %q: want module names (q_proj,v_proj) or %s", f("Targets"), l.Targets, model.AllLinear)
	}
	return nil
}

// loraField names the fields of the LoRAOptions held in field.
func loraField(field string) func(name string) option.Field {
	return func(name string) option.Field { return option.Field(field + "." + name) }
}

// prepareModel applies the memory options of a trainer to a model it
// loaded to train: gradient checkpointing and LoRA (see prepareLoRA).
func (o *CommonOptions) prepareModel(from option.Field, m *model.Model, baseDir string, resuming bool) error {
	m.GradCheckpoint = o.GradCheckpoint
	return prepareLoRA(from, "LoRA", m, o.LoRA, baseDir, resuming, o.Seed)
}

// prepareLoRA sets up LoRA on m, a model loaded to train from baseDir (the
// folder of option from), or from the checkpoint being resumed when resuming. m
// may come with an adapter attached (an adapter folder was loaded):
//
//   - resuming a LoRA run: the checkpoint's adapter trains on; lo must
//     describe it (rank, alpha, modules), its dropout is lo's;
//   - a new run from an adapter folder: without LoRA the adapter is merged
//     and the model fine-tuned in full; with LoRA it is an error (a new
//     adapter needs a base folder: merge the old one first);
//   - a new LoRA run from a full model: fresh adapters over baseDir.
//
// field is the field of the trainer's options that holds lo (LoRA or
// CriticLoRA), for errors.
//
// With adapters, frozen weights are stored in a half compute dtype.
func prepareLoRA(from option.Field, field string, m *model.Model, lo LoRAOptions, baseDir string, resuming bool, seed uint64) error {
	f := loraField(field)
	switch {
	case m.HasLoRA() && resuming:
		got := m.LoRAConfig()
		want, err := m.LoRATargetModules(lo.Config().Targets)
		if !lo.Enabled() || err != nil || got.Rank != lo.Rank || got.Alpha != lo.Alpha || !slices.Equal(want, m.LoRAModules()) {
			return option.Errorf("{Resume}: the checkpoint holds a LoRA adapter (r %d, alpha %g, on %d modules) that the %s options do not describe (%s %d, %s %g, %s %q); resume with the options of the interrupted run",
				got.Rank, got.Alpha, len(m.LoRAModules()), field, f("Rank"), lo.Rank, f("Alpha"), lo.Alpha, f("Targets"), lo.Targets)
		}
		if err := m.SetLoRADropout(lo.Dropout); err != nil {
			return err
		}
	case m.HasLoRA() && lo.Enabled():
		return option.Errorf("%s %s is a LoRA adapter over %s: a new adapter needs a full base model; merge it first (rlhf model merge-lora --base %s --adapter %s --out MERGED) and train on MERGED, or drop %s to fine-tune base and adapter in full",
			from, baseDir, m.LoRABase, m.LoRABase, baseDir, f("Rank"))
	case m.HasLoRA():
		if err := m.MergeLoRA(); err != nil {
			return option.Errorf("%s %s: merging its LoRA adapter: %w", from, baseDir, err)
		}
	case resuming && lo.Enabled():
		return option.Errorf("{Resume}: the checkpoint holds a full model, not a LoRA adapter; resume without %s (or start a new {Out})", f("Rank"))
	case lo.Enabled():
		if err := m.AddLoRA(lo.Config(), seed); err != nil {
			return option.Errorf("%s %q: %w", f("Targets"), lo.Targets, err)
		}
		abs, err := filepath.Abs(baseDir)
		if err != nil {
			return err
		}
		m.LoRABase = abs
	}
	if !m.HasLoRA() {
		return nil
	}
	// Dropout masks come from the store's generator: seeded, so that a
	// run is reproducible (a resumed run restarts the sequence).
	if err := m.Store.SetRNGStateFromSeed(int64(seed)); err != nil {
		return err
	}
	if dt := m.ComputeDType; dt == dtypes.BFloat16 || dt == dtypes.Float16 {
		if err := m.StoreFrozenWeightsAs(dt); err != nil {
			return err
		}
	}
	trainable, total := 0, 0
	for v := range m.Store.IterVariables() {
		n := v.Shape().Size()
		total += n
		if v.Trainable {
			trainable += n
		}
	}
	slog.Info("LoRA adapters", "model", from, "r", m.LoRAConfig().Rank, "alpha", m.LoRAConfig().Alpha,
		"modules", len(m.LoRAModules()), "trainable_params", trainable, "all_params", total, "base", m.LoRABase)
	return nil
}
