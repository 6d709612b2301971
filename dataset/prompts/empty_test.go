package prompts

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildErr runs build-prompts expecting an error and checks that nothing
// was written.
func buildErr(t *testing.T, opts Options) string {
	t.Helper()
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer slog.SetDefault(old)
	_, err := Run(context.Background(), opts)
	if err == nil {
		t.Fatalf("sources %v: no error", opts.Sources)
	}
	if _, serr := os.Stat(opts.Out); serr == nil {
		t.Errorf("sources %v: %s was written although the run failed", opts.Sources, opts.Out)
	}
	return err.Error()
}

// TestUnusableSourcesAreErrors: a source whose records are all malformed,
// an empty source and a run whose every record is filtered out are errors
// with the counts and the first reason, not a 0-row (or 0-row-source)
// output.
func TestUnusableSourcesAreErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ins.jsonl")
	os.WriteFile(good, []byte(`{"instruction":"写一句问候语。","output":"你好，祝你今天愉快！","category":"generation"}
{"instruction":"Name a primary colour.","output":"Red.","category":"open_qa"}
`), 0o644)
	// Instruction rows given to the summarization adapter: every one lacks
	// a document and a summary.
	wrong := filepath.Join(dir, "wrong.jsonl")
	os.WriteFile(wrong, []byte(`{"instruction":"a","output":"b"}
{"instruction":"c","output":"d"}
{"instruction":"e","output":"f"}
`), 0o644)
	msg := buildErr(t, Options{Sources: []string{"instruction:" + good, "summarization:" + wrong}, Total: 10, Out: filepath.Join(dir, "o1")})
	for _, want := range []string{"wrong.jsonl", "all 3 records", "malformed", wrong + ":1", "document"} {
		if !strings.Contains(msg, want) {
			t.Errorf("all malformed: error %q lacks %q", msg, want)
		}
	}

	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	msg = buildErr(t, Options{Sources: []string{"instruction:" + good, "instruction:" + empty}, Total: 10, Out: filepath.Join(dir, "o2")})
	if !strings.Contains(msg, "empty.jsonl") || !strings.Contains(msg, "no records") {
		t.Errorf("empty source: error %q", msg)
	}

	// Every record in a language not kept.
	msg = buildErr(t, Options{Sources: []string{"instruction:" + good}, Langs: []string{"en"}, MinPromptChars: 100, Total: 10, Out: filepath.Join(dir, "o3")})
	for _, want := range []string{"no rows", "2 records", "prompt_short", "lang"} {
		if !strings.Contains(msg, want) {
			t.Errorf("all filtered: error %q lacks %q", msg, want)
		}
	}
}
