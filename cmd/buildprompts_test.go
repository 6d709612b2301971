package cmd

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildPromptsPoolsSummary: a pooled build prints each pool's rows per
// task on stdout.
func TestBuildPromptsPoolsSummary(t *testing.T) {
	const fx = "../testdata/prompts/"
	out := filepath.Join(t.TempDir(), "out")
	stdout, err := run(t, "--no-progress", "build-prompts", "--source", "squad:"+fx+"squad.json",
		"--source", "summarization:"+fx+"summarization.csv", "--source", "qa:"+fx+"qa.jsonl",
		"--total", "60", "--max-repeat", "4", "--val-frac", "0.2", "--pools", "sft=1,rm=1,ppo=1", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pool", "summarization", "\nsft ", "\nrm ", "\nppo ", "\neval ", filepath.Join(out, "report.md")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := run(t, "--no-progress", "build-prompts", "--source", "squad:"+fx+"squad.json", "--pools", "sft", "--out", out+"2"); err == nil || !strings.Contains(err.Error(), "--pools") {
		t.Errorf("bad --pools: %v", err)
	}
}
