package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHubRepo makes CACHE/models--ORG--NAME with refs and one snapshot
// folder per hash (holding a config.json), as huggingface-cli leaves it.
func fakeHubRepo(t *testing.T, cache, id string, refs map[string]string, hashes ...string) string {
	t.Helper()
	repo := filepath.Join(cache, "models--"+strings.ReplaceAll(id, "/", "--"))
	for ref, hash := range refs {
		p := filepath.Join(repo, "refs", ref)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(hash), 0o644); err != nil { // no newline, as the hub writes it
			t.Fatal(err)
		}
	}
	for _, h := range hashes {
		snap := filepath.Join(repo, "snapshots", h)
		if err := os.MkdirAll(snap, 0o755); err != nil {
			t.Fatal(err)
		}
		// Files in a snapshot are links into blobs/.
		blob := filepath.Join(repo, "blobs", "cfg-"+h)
		os.MkdirAll(filepath.Dir(blob), 0o755)
		if err := os.WriteFile(blob, []byte(`{}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", "cfg-"+h), filepath.Join(snap, "config.json")); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func TestResolveDirHFCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	cache := filepath.Join(home, "hub")
	const mainHash, v1Hash = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	repo := fakeHubRepo(t, cache, "org/tiny", map[string]string{"main": mainHash + "\n", "v1": v1Hash}, mainHash, v1Hash)
	for _, c := range []struct{ name, want string }{
		{"org/tiny", mainHash},
		{"org/tiny@main", mainHash},
		{"org/tiny@v1", v1Hash},
		{"org/tiny@" + v1Hash, v1Hash}, // a revision may be a commit hash
	} {
		got, err := ResolveDir(c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want := filepath.Join(repo, "snapshots", c.want); got != want {
			t.Errorf("%s resolved to %s, want %s", c.name, got, want)
		}
		if _, err := os.Stat(filepath.Join(got, "config.json")); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	// HF_HUB_CACHE wins over HF_HOME.
	other := t.TempDir()
	t.Setenv("HF_HUB_CACHE", other)
	if _, err := ResolveDir("org/tiny"); err == nil {
		t.Error("HF_HUB_CACHE was not used")
	}
	fakeHubRepo(t, other, "org/tiny", map[string]string{"main": mainHash}, mainHash)
	if got, err := ResolveDir("org/tiny"); err != nil || !strings.HasPrefix(got, other) {
		t.Errorf("with HF_HUB_CACHE: %s, %v", got, err)
	}
	t.Setenv("HF_HUB_CACHE", "")

	// Without HF_HOME: ~/.cache/huggingface/hub (XDG_CACHE_HOME when set).
	t.Setenv("HF_HOME", "")
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	fakeHubRepo(t, filepath.Join(xdg, "huggingface", "hub"), "org/tiny", map[string]string{"main": mainHash}, mainHash)
	if got, err := ResolveDir("org/tiny"); err != nil || !strings.HasPrefix(got, xdg) {
		t.Errorf("with XDG_CACHE_HOME: %s, %v", got, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	h := t.TempDir()
	t.Setenv("HOME", h)
	fakeHubRepo(t, filepath.Join(h, ".cache", "huggingface", "hub"), "org/tiny", map[string]string{"main": mainHash}, mainHash)
	if got, err := ResolveDir("org/tiny"); err != nil || !strings.HasPrefix(got, h) {
		t.Errorf("with HOME: %s, %v", got, err)
	}
}

func TestResolveDirMissing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	cache := filepath.Join(home, "hub")
	const hash = "0123456789abcdef0123456789abcdef01234567"
	fakeHubRepo(t, cache, "org/tiny", map[string]string{"main": hash}, hash)
	fakeHubRepo(t, cache, "org/gone", map[string]string{"main": "ffff"}) // refs/main names no snapshot
	for _, c := range []struct{ name, want string }{
		{"Qwen/Qwen2-0.5B", "huggingface-cli download Qwen/Qwen2-0.5B"},
		{"Qwen/Qwen2-0.5B", filepath.Join(cache, "models--Qwen--Qwen2-0.5B")},
		{"org/tiny@v2", "huggingface-cli download org/tiny --revision v2"},
		{"org/gone", "huggingface-cli download org/gone"},
	} {
		_, err := ResolveDir(c.name)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), c.name) {
			t.Errorf("%s: error %q, want it to start with the name and say %q", c.name, err, c.want)
		}
	}
}

func TestResolveDirLocalWins(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	const hash = "0123456789abcdef0123456789abcdef01234567"
	fakeHubRepo(t, filepath.Join(home, "hub"), "org/tiny", map[string]string{"main": hash}, hash)
	t.Chdir(t.TempDir())
	if err := os.MkdirAll(filepath.Join("org", "tiny"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolveDir("org/tiny"); err != nil || got != "org/tiny" {
		t.Errorf("a local folder org/tiny resolved to %q, %v", got, err)
	}
	// Names that are not ORG/NAME pass through, so that the caller says
	// what is missing.
	for _, name := range []string{"", "nosuch", "./org/nosuch", "/abs/org", "a/b/c", "org/../x", "org/tiny/"} {
		if got, err := ResolveDir(name); err != nil || got != name {
			t.Errorf("%q: %q, %v", name, got, err)
		}
	}
}

func TestLoadConfigFromHFCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	const hash = "0123456789abcdef0123456789abcdef01234567"
	repo := fakeHubRepo(t, filepath.Join(home, "hub"), "org/tiny", map[string]string{"main": hash})
	if err := RunInit(InitOptions{Arch: ArchLlama, Layers: 1, Hidden: 32, Heads: 4, Out: filepath.Join(repo, "snapshots", hash)}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig("org/tiny")
	if err != nil || cfg.Arch != ArchLlama {
		t.Fatalf("LoadConfig: %+v, %v", cfg, err)
	}
	m, err := Load("org/tiny")
	if err != nil {
		t.Fatal(err)
	}
	if m.SourceDir != filepath.Join(repo, "snapshots", hash) {
		t.Errorf("SourceDir %s", m.SourceDir)
	}
}

// TestCheckTemplate: none, model, "" or a text with {prompt}; rlhf.json
// holds the same choices, and a checkpoint without one uses the model's.
func TestCheckTemplate(t *testing.T) {
	for _, ok := range []string{"", TemplateModel, TemplateNone, "Q: {prompt}\nA:"} {
		if err := CheckTemplate(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if err := CheckTemplate("Q: A:"); err == nil || !strings.Contains(err.Error(), "{prompt}") {
		t.Errorf("a text without {prompt}: %v", err)
	}
	dir := t.TempDir()
	if m, err := LoadMeta(dir); err != nil || m.PromptTemplate != TemplateModel || m.FormatPrompt("x") != "Human: x\n\nAssistant: " {
		t.Errorf("no rlhf.json: %+v, %v", m, err)
	}
	for _, tmpl := range []string{TemplateNone, TemplateModel} {
		if err := (&Meta{PromptTemplate: tmpl}).Save(dir); err != nil {
			t.Fatal(err)
		}
		if m, err := LoadMeta(dir); err != nil || m.PromptTemplate != tmpl {
			t.Errorf("%s: %+v, %v", tmpl, m, err)
		}
	}
	if got := (&Meta{PromptTemplate: TemplateNone}).FormatPrompt("x"); got != "x" {
		t.Errorf("none: %q", got)
	}
	os.WriteFile(filepath.Join(dir, MetaFile), []byte(`{"prompt_template": "Q:"}`), 0o644)
	if _, err := LoadMeta(dir); err == nil || !strings.Contains(err.Error(), MetaFile) {
		t.Errorf("a bad prompt_template: %v", err)
	}
}
