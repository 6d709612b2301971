package cmd

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

// TestDemoEndToEnd runs `rlhf demo` as a user would: the whole recipe on the
// embedded data (a few minutes on 2 cores), then checks every artefact and
// that a rerun skips the complete steps.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end demo takes minutes; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "demo-out")
	// A fixed free port: the site address is part of the scrape steps'
	// arguments, so the rerun below must see the same one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stdout, err := run(t, "--no-progress", "demo", "--out", out, "--site-addr", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "rlhf demo finished") || !strings.Contains(stdout, "eval/eval.json") {
		t.Fatalf("summary missing:\n%s", stdout)
	}
	qa, err := dataset.ReadAll[dataset.QA](filepath.Join(out, "qa"))
	if err != nil || len(qa) == 0 {
		t.Fatalf("scraped qa: %d rows, %v", len(qa), err)
	}
	sft, err := dataset.ReadAll[dataset.SFT](filepath.Join(out, "instruct", "sft", "sft", "train"))
	if err != nil || len(sft) < 80 {
		t.Fatalf("sft data: %d rows, %v", len(sft), err)
	}
	cmp, err := dataset.ReadAll[dataset.Comparison](filepath.Join(out, "comparisons"))
	if err != nil || len(cmp) == 0 {
		t.Fatalf("comparisons: %d rows, %v", len(cmp), err)
	}
	for _, f := range []string{"ckpt/sft/model.safetensors", "ckpt/rm/model.safetensors", "ckpt/ppo/model.safetensors", "ckpt/sft/metrics.jsonl", "ckpt/ppo/metrics.jsonl", "instruct/report.md"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing artefact: %v", err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "eval", "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("eval.json: %v", err)
	}

	// A rerun finds every step complete and runs none: the state file,
	// rewritten whenever a step starts, stays the same.
	before, _ := os.ReadFile(filepath.Join(out, "_pipeline_state.json"))
	if !strings.Contains(string(before), `"eval"`) {
		t.Fatalf("state file lacks the eval step:\n%s", before)
	}
	if _, err := run(t, "--no-progress", "demo", "--out", out, "--site-addr", addr); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(out, "_pipeline_state.json"))
	if string(after) != string(before) {
		t.Fatalf("the rerun ran steps again:\nbefore %s\nafter %s", before, after)
	}
}
