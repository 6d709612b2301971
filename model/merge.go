package model

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// MergeLoRAOptions are the inputs of `rlhf model merge-lora`.
type MergeLoRAOptions struct {
	// Base is the base model folder ("": the one the adapter's
	// adapter_config.json names).
	Base string
	// Adapter is the PEFT LoRA adapter folder. Required.
	Adapter string
	// Out is the folder to write the merged model to: it must not exist
	// yet, or be empty. Required.
	Out string
}

// RunMergeLoRA writes the full model base + adapter (W += (alpha/r)·B·A on
// every adapted matrix; a SEQ_CLS adapter's score head replaces the LM
// head) in HF layout, with the adapter's rlhf.json and tokenizer (or the
// base's). Each tensor keeps the base's dtype. The folder appears complete
// or not at all.
func RunMergeLoRA(o MergeLoRAOptions) error {
	switch {
	case o.Adapter == "":
		return errors.New("no adapter folder given")
	case o.Out == "":
		return errors.New("no output folder given")
	case !IsAdapterDir(o.Adapter):
		return fmt.Errorf("%s is not a LoRA adapter folder (no %s)", o.Adapter, AdapterConfigFile)
	}
	base, err := AdapterBase(o.Adapter, o.Base)
	if err != nil {
		return err
	}
	out, _ := filepath.Abs(o.Out)
	for _, in := range []string{base, o.Adapter} {
		if a, _ := filepath.Abs(in); a == out {
			return fmt.Errorf("output folder %s is also an input (%s); choose a new folder", o.Out, in)
		}
	}
	if entries, err := os.ReadDir(o.Out); err == nil && len(entries) > 0 {
		return fmt.Errorf("output folder %s already exists and is not empty; choose a new folder", o.Out)
	}
	m, err := LoadAdapter(o.Adapter, base)
	if err != nil {
		return err
	}
	cfg := m.LoRAConfig()
	modules := len(m.LoRAModules())
	if err := m.MergeLoRA(); err != nil {
		return err
	}
	tmp, err := atomicfile.TempDirFor(o.Out)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := m.Save(tmp); err != nil {
		return err
	}
	if err := atomicfile.ReplaceDir(tmp, o.Out); err != nil {
		return err
	}
	slog.Info("merged LoRA adapter", "adapter", o.Adapter, "base", base, "r", cfg.Rank, "alpha", cfg.Alpha,
		"modules", modules, "out", o.Out)
	return nil
}
