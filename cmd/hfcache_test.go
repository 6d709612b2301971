package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
)

// TestGenerateModelFromHFCache: `rlhf generate --model org/tiny` finds the
// model in a fake Hugging Face cache ($HF_HOME/hub), offline; a model that
// is not there says how to download it.
func TestGenerateModelFromHFCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	const hash = "89abcdef0123456789abcdef0123456789abcdef"
	repo := filepath.Join(home, "hub", "models--org--tiny")
	if err := model.RunInit(model.InitOptions{Arch: model.ArchLlama, Layers: 1, Hidden: 32, Heads: 4,
		Out: filepath.Join(repo, "snapshots", hash)}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(hash), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt":"hi"}`+"\n"), 0o644)
	gen := filepath.Join(dir, "gen")
	if _, err := run(t, "--no-progress", "generate", "--model", "org/tiny", "--prompts", prompts, "--out", gen,
		"--max-new-tokens", "2", "--temperature", "0"); err != nil {
		t.Fatal(err)
	}
	if rows, err := dataset.ReadAll[dataset.Response](gen); err != nil || len(rows) != 1 {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	_, err := run(t, "--no-progress", "generate", "--model", "org/other", "--prompts", prompts, "--out", filepath.Join(dir, "gen2"))
	if err == nil || !strings.Contains(err.Error(), "huggingface-cli download org/other") {
		t.Fatalf("a model missing from the cache: %v", err)
	}
}
