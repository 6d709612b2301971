package model

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectModelFolders: `rlhf model inspect` reads config.json, the
// safetensors headers, tokenizer.json and rlhf.json: architecture,
// parameters, dtype, context, vocab, sizes, heads, tokenizer and rlhf.json.
func TestInspectModelFolders(t *testing.T) {
	dir := t.TempDir()
	gpt := filepath.Join(dir, "gpt2")
	if err := RunInit(InitOptions{Arch: ArchGPT2, Layers: 1, Hidden: 32, Heads: 4, MaxPositions: 64, Out: gpt, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	rm := filepath.Join(dir, "rm")
	if err := RunInit(InitOptions{Arch: ArchLlama, Layers: 2, Hidden: 32, Heads: 4, KVHeads: 2, Out: rm, Seed: 1, ScoreHead: true}); err != nil {
		t.Fatal(err)
	}
	meta, err := LoadMeta(rm)
	if err != nil {
		t.Fatal(err)
	}
	meta.Stage, meta.BaseModel, meta.RewardMean, meta.RewardStd = "rm", "ckpt/sft", 0.25, 1.5
	if err := meta.Save(rm); err != nil {
		t.Fatal(err)
	}

	g, err := Inspect(gpt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(gpt)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, n := range m.Names() {
		want += int64(m.Variable(n).Shape().Size())
	}
	if g.Arch != ArchGPT2 || g.Parameters != want || g.DTypes["F32"] != want || g.Context != 64 || g.VocabSize != 257 ||
		g.Layers != 1 || g.Hidden != 32 || g.Heads != 4 || g.LMHead != "tied" || g.ScoreLabels != 0 || len(g.Problems) != 0 {
		t.Errorf("gpt2: %+v (want %d parameters)", g, want)
	}
	if g.Tokenizer == nil || g.Tokenizer.VocabSize != 257 || g.Tokenizer.EOS != 256 || g.Tokenizer.EOSToken != "<|endoftext|>" {
		t.Errorf("gpt2 tokenizer: %+v", g.Tokenizer)
	}
	r, err := Inspect(rm)
	if err != nil {
		t.Fatal(err)
	}
	if r.Arch != ArchLlama || r.KVHeads != 2 || r.ScoreLabels != 1 || r.Meta.Stage != "rm" || r.Meta.RewardStd != 1.5 || !r.HasMeta {
		t.Errorf("rm: %+v", r)
	}

	var out bytes.Buffer
	if err := RunInspect(&out, []string{gpt, rm}, false); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"architecture gpt2", "parameters", "F32", "context      64 positions", "vocab        257",
		"layers       1, hidden 32, heads 4", "LM head      tied", "score head   none",
		`EOS 256 "<|endoftext|>"`, "rlhf.json    stage init", `prompt template "model"`, // New models keep "model": the chat template, else the default text
		"architecture llama", "key/value heads 2", "score head   1 output(s)", "stage rm", "base model ckpt/sft",
		"reward mean 0.25, std 1.5",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if err := RunInspect(&out, []string{rm}, true); err != nil {
		t.Fatal(err)
	}
	var parsed []Inspection
	if err := json.Unmarshal(out.Bytes(), &parsed); err != nil || len(parsed) != 1 || parsed[0].ScoreLabels != 1 {
		t.Fatalf("json: %v %s", err, out.String())
	}

	// Problems are reported, not fatal: no tokenizer, a config that does
	// not match the weights.
	os.Remove(filepath.Join(gpt, "tokenizer.json"))
	raw, _ := os.ReadFile(filepath.Join(gpt, "config.json"))
	os.WriteFile(filepath.Join(gpt, "config.json"), bytes.Replace(raw, []byte(`"n_layer": 1`), []byte(`"n_layer": 2`), 1), 0o644)
	g, err = Inspect(gpt)
	if err != nil {
		t.Fatal(err)
	}
	if g.Tokenizer != nil || len(g.Problems) != 2 || !strings.Contains(strings.Join(g.Problems, "\n"), "missing tensors: transformer.h.1") {
		t.Errorf("problems: %q", g.Problems)
	}
	if _, err := Inspect(dir); err == nil || !strings.Contains(err.Error(), "no config.json") {
		t.Errorf("not a model folder: %v", err)
	}
}
