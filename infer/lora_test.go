package infer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// TestLoadAdapterFolder: every command's Load takes a PEFT adapter folder:
// the base it names (or o.Base) with the adapter merged (attached with
// KeepAdapter), the tokenizer of the base when the adapter has none.
func TestLoadAdapterFolder(t *testing.T) {
	policy, _ := tinyModels(t)
	m, err := model.Load(policy)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA(model.LoRA{Rank: 2, Alpha: 4, Targets: []string{"c_attn"}}, 1); err != nil {
		t.Fatal(err)
	}
	m.LoRABase, _ = filepath.Abs(policy)
	m.SourceDir = "" // no tokenizer files beside the adapter
	adapter := filepath.Join(t.TempDir(), "adapter")
	if err := m.Save(adapter); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(adapter, "tokenizer.json")); err == nil {
		t.Fatal("the adapter folder should have no tokenizer for this test")
	}
	tokens, mask := [][]int32{{72, 105, 33}}, [][]int32{{1, 1, 1}}

	merged, tok, err := Load(adapter, LoadOptions{MaxSeqLen: 16, RequireEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if merged.HasLoRA() || tok.VocabSize() != 257 {
		t.Fatalf("merged: adapters %v, vocab %d", merged.HasLoRA(), tok.VocabSize())
	}
	kept, _, err := Load(adapter, LoadOptions{KeepAdapter: true})
	if err != nil {
		t.Fatal(err)
	}
	if !kept.HasLoRA() {
		t.Fatal("KeepAdapter: no adapter attached")
	}
	a, b := runLogits(t, merged, tokens, mask), runLogits(t, kept, tokens, mask)
	for i := range a[0] {
		for j := range a[0][i] {
			near(t, "logit", float64(a[0][i][j]), float64(b[0][i][j]))
		}
	}

	// A base_model_name_or_path that is no folder: o.Base gives it.
	raw, _ := os.ReadFile(filepath.Join(adapter, model.AdapterConfigFile))
	var c map[string]any
	_ = json.Unmarshal(raw, &c)
	c["base_model_name_or_path"] = "some/hub-model"
	raw, _ = json.Marshal(c)
	if err := os.WriteFile(filepath.Join(adapter, model.AdapterConfigFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(adapter, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "some/hub-model") {
		t.Fatalf("unresolvable base: %v", err)
	}
	if _, _, err := Load(adapter, LoadOptions{Base: policy}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(policy, LoadOptions{Base: policy}); err == nil || !strings.Contains(err.Error(), "not a LoRA adapter") {
		t.Fatalf("a base for a full model: %v", err)
	}
}
