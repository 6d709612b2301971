package infer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// TestLoadFromHFCache loads ORG/NAME from a fake Hugging Face cache
// (HF_HOME) and names the download command for a model that is not there.
func TestLoadFromHFCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	const hash = "0123456789abcdef0123456789abcdef01234567"
	repo := filepath.Join(home, "hub", "models--org--tiny")
	snap := filepath.Join(repo, "snapshots", hash)
	if err := model.RunInit(model.InitOptions{Arch: model.ArchQwen2, Layers: 1, Hidden: 32, Heads: 4, Out: snap}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(hash), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"org/tiny", "org/tiny@main", "org/tiny@" + hash} {
		m, tok, err := Load(name, LoadOptions{RequireEOS: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.SourceDir != snap || tok.VocabSize() != m.Config.VocabSize {
			t.Errorf("%s: loaded from %s", name, m.SourceDir)
		}
	}
	_, _, err := Load("Qwen/Qwen2-0.5B", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "huggingface-cli download Qwen/Qwen2-0.5B") {
		t.Errorf("a model missing from the cache: %v", err)
	}
	_, _, err = Load("org/tiny@v9", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "huggingface-cli download org/tiny --revision v9") || !strings.Contains(err.Error(), "cached: "+hash+", main") {
		t.Errorf("a revision missing from the cache: %v", err)
	}
	// A folder that is no hub id keeps its message.
	_, _, err = Load(filepath.Join(home, "nosuch"), LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "not a model folder (no config.json)") {
		t.Errorf("a missing folder: %v", err)
	}
}
