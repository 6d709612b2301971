package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

// TestModelInitGenerateScoreFlags runs the three model commands through
// cobra: flags reach model.RunInit/RunGenerate/RunScore.
func TestModelInitGenerateScoreFlags(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	if _, err := run(t, "--no-progress", "model", "init", "--arch", "llama", "--layers", "1", "--hidden", "32",
		"--heads", "4", "--kv-heads", "2", "--out", m); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt":"hi"}`+"\n"), 0o644)
	gen := filepath.Join(dir, "gen")
	if _, err := run(t, "--no-progress", "generate", "--model", m, "--prompts", prompts, "--out", gen,
		"--num-samples", "2", "--max-new-tokens", "3", "--temperature", "0", "--seed", "1"); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Response](gen)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Response != rows[1].Response { // greedy: both samples equal
		t.Fatalf("generate rows: %+v", rows)
	}
	scored := filepath.Join(dir, "scored")
	if _, err := run(t, "--no-progress", "score", "--model", m, "--data", gen, "--out", scored, "--raw"); err != nil {
		t.Fatal(err)
	}
	if rows, err = dataset.ReadAll[dataset.Response](scored); err != nil || len(rows) != 2 || rows[0].Logprob >= 0 {
		t.Fatalf("score rows: %+v, %v", rows, err)
	}
	if _, err := run(t, "generate", "--model", m, "--prompts", prompts, "--out", gen, "--backend", "xla:nosuchplugin"); err == nil {
		t.Fatal("a missing PJRT plugin was accepted")
	}
}

// TestModelDependentDefaultsFitSmallContext: on a model with 128 positions,
// sft without --max-seq-len and generate without --max-new-tokens run (their
// defaults, 512 and 128, take the model's context into account); values
// given above the context are refused, naming the flag.
func TestModelDependentDefaultsFitSmallContext(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	if _, err := run(t, "--no-progress", "model", "init", "--layers", "1", "--hidden", "32", "--max-positions", "128", "--out", m); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt":"hi"}`+"\n"), 0o644)
	if _, err := run(t, "--no-progress", "generate", "--model", m, "--prompts", prompts, "--out", filepath.Join(dir, "gen")); err != nil {
		t.Fatalf("generate without --max-new-tokens: %v", err)
	}
	sft := []string{"--no-progress", "sft", "--model", m, "--data", "../testdata/train/sft.jsonl", "--max-steps", "1", "--backend", "go"}
	if _, err := run(t, append(sft, "--out", filepath.Join(dir, "sft"))...); err != nil {
		t.Fatalf("sft without --max-seq-len: %v", err)
	}
	if _, err := run(t, append(sft, "--out", filepath.Join(dir, "sft2"), "--max-seq-len", "512")...); err == nil || !strings.Contains(err.Error(), "--max-seq-len 512") {
		t.Fatalf("sft --max-seq-len 512 on 128 positions: %v", err)
	}
}

// TestModelInspect: `rlhf model` lists inspect, `rlhf model inspect`
// describes a model folder, and `rlhf inspect` of one points to it.
func TestModelInspect(t *testing.T) {
	m := filepath.Join(t.TempDir(), "m")
	if _, err := run(t, "--no-progress", "model", "init", "--arch", "gpt2", "--layers", "1", "--hidden", "32",
		"--heads", "4", "--max-positions", "64", "--score-head", "--out", m); err != nil {
		t.Fatal(err)
	}
	help, err := run(t, "model", "--help")
	if err != nil || !strings.Contains(help, "inspect") {
		t.Fatalf("model --help: %v\n%s", err, help)
	}
	out, err := run(t, "model", "inspect", m)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"architecture gpt2", "context      64 positions", "score head   1 output(s)", "stage init"} {
		if !strings.Contains(out, w) {
			t.Errorf("model inspect lacks %q:\n%s", w, out)
		}
	}
	if _, err := run(t, "inspect", m); err == nil || !strings.Contains(err.Error(), "rlhf model inspect") {
		t.Errorf("inspect of a model folder: %v", err)
	}
}
