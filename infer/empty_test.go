package infer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
)

// TestGenerateAndScoreRefuseEmptyInput: an empty JSONL file or an empty
// dataset is an error naming the input, and no output is written.
func TestGenerateAndScoreRefuseEmptyInput(t *testing.T) {
	dir := initTiny(t, model.ArchGPT2)
	tmp := t.TempDir()
	emptyJSONL := filepath.Join(tmp, "empty.jsonl")
	if err := os.WriteFile(emptyJSONL, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyPrompts := filepath.Join(tmp, "prompts0")
	if w, err := dataset.Create[dataset.Prompt](emptyPrompts, dataset.WriterOptions{}); err != nil {
		t.Fatal(err)
	} else if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	emptyResponses := filepath.Join(tmp, "responses0")
	if w, err := dataset.Create[dataset.Response](emptyResponses, dataset.WriterOptions{}); err != nil {
		t.Fatal(err)
	} else if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, in, out string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: an empty input succeeded", what)
			return
		}
		if !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), "no rows") {
			t.Errorf("%s: error %q does not name %s and say it has no rows", what, err, in)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: %s was written", what, out)
		}
	}
	for i, in := range []string{emptyJSONL, emptyPrompts} {
		out := filepath.Join(tmp, fmt.Sprint("gen", i))
		err := RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{in}, Out: out, MaxNewTokens: 2, Backend: "go"})
		check("generate "+in, err, in, out)
	}
	for i, in := range []string{emptyJSONL, emptyResponses} {
		out := filepath.Join(tmp, fmt.Sprint("scored", i))
		err := RunScore(context.Background(), ScoreOptions{Model: dir, Data: []string{in}, Out: out, Backend: "go"})
		check("score "+in, err, in, out)
	}
}
