package model

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model/safetensors"
)

func TestSaveLoadBitExact(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchQwen2, ArchBloom} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			if err := m.AddScoreHead(3); err != nil {
				t.Fatal(err)
			}
			m.Meta.RewardMean, m.Meta.RewardStd = 0.5, 2
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			m2, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !m2.HasScoreHead() || m2.Config.NumLabels != 1 || m2.Meta.RewardStd != 2 {
				t.Fatalf("score head / meta lost: labels %d meta %+v", m2.Config.NumLabels, m2.Meta)
			}
			dir2 := t.TempDir()
			if err := m2.Save(dir2); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
			b, _ := os.ReadFile(filepath.Join(dir2, "model.safetensors"))
			if !bytes.Equal(a, b) {
				t.Fatal("model.safetensors differs after load → save")
			}
			cfg, _ := os.ReadFile(filepath.Join(dir2, "config.json"))
			if !strings.Contains(string(cfg), `"num_labels": 1`) || !strings.Contains(string(cfg), "ForSequenceClassification") {
				t.Fatalf("config.json lacks num_labels 1 / class name:\n%s", cfg)
			}
		})
	}
}

func TestLoadBF16ShardedAndUnprefixed(t *testing.T) {
	m := tinyModel(t, ArchGPT2)
	dir := t.TempDir()
	if err := m.Save(dir, SaveOptions{DType: safetensors.BF16, MaxShardBytes: 20000}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, safetensors.IndexFile)); err != nil {
		t.Fatal("no shard index written:", err)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dir, "config.json")); !strings.Contains(string(cfg), `"torch_dtype": "bfloat16"`) {
		t.Fatalf("config.json does not say bfloat16:\n%s", cfg)
	}
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Values are the bf16 roundings of the originals, and saving keeps bf16 bit-exactly.
	dir2 := t.TempDir()
	if err := m2.Save(dir2, SaveOptions{MaxShardBytes: 20000}); err != nil {
		t.Fatal(err)
	}
	t1, _ := safetensors.ReadDir(dir)
	t2, _ := safetensors.ReadDir(dir2)
	for n, x := range t1 {
		if y := t2[n]; y.DType != safetensors.BF16 || !bytes.Equal(x.Data, y.Data) {
			t.Fatalf("%s changed in bf16 round trip", n)
		}
	}

	// A checkpoint saved from GPT2Model (no "transformer." prefix) with the
	// causal-mask buffers loads too.
	bare := map[string]safetensors.Tensor{}
	for n, x := range t1 {
		bare[strings.TrimPrefix(n, "transformer.")] = x
	}
	bare["h.0.attn.bias"] = safetensors.Tensor{DType: safetensors.F32, Shape: []int{1}, Data: make([]byte, 4)}
	dir3 := t.TempDir()
	if err := safetensors.WriteDir(dir3, bare, 0); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(dir3, "config.json"), cfg, 0o644)
	if _, err := Load(dir3); err != nil {
		t.Fatal("unprefixed checkpoint:", err)
	}
}

func TestLoadMissingAndUnknownTensors(t *testing.T) {
	m := tinyModel(t, ArchLlama)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	ts, _ := safetensors.ReadDir(dir)
	delete(ts, "model.layers.1.mlp.up_proj.weight")
	ts["model.layers.0.extra.weight"] = ts["model.norm.weight"]
	ts["model.layers.0.self_attn.rotary_emb.inv_freq"] = ts["model.norm.weight"]
	if err := safetensors.WriteDir(dir, ts, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "missing tensors: model.layers.1.mlp.up_proj.weight") ||
		!strings.Contains(err.Error(), "unknown tensors: model.layers.0.extra.weight") || strings.Contains(err.Error(), "inv_freq") {
		t.Fatalf("got error %v", err)
	}
}

func TestMetaTemplate(t *testing.T) {
	dir := t.TempDir()
	meta := &Meta{PromptTemplate: "Q: {prompt}\nA:", Stage: "sft", Extra: map[string]any{"steps": 3.0}}
	if err := meta.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.FormatPrompt("hi") != "Q: hi\nA:" || got.Extra["steps"] != 3.0 {
		t.Fatalf("meta round trip: %+v", got)
	}
	if def, _ := LoadMeta(t.TempDir()); def.FormatPrompt("x") != "Human: x\n\nAssistant: " {
		t.Fatalf("default template: %q", def.FormatPrompt("x"))
	}
	os.WriteFile(filepath.Join(dir, MetaFile), []byte(`{"prompt_template":"no placeholder"}`), 0o644)
	if _, err := LoadMeta(dir); err == nil {
		t.Fatal("template without {prompt} accepted")
	}
}
