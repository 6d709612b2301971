package cmd

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/demo"
	"github.com/rlhf-project/rlhf/infer"
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
	// The summary: SFT vs PPO table, answers side by side, every path.
	for _, want := range []string{"rlhf demo finished", "SFT", "PPO", "RM reward (proxy)", "RM win rate vs SFT [95% CI]",
		"gold win rate vs SFT [95% CI]", "KL to SFT (nats)", "mean length (tokens)", "Sample answers", "prompt: ", "SFT: ", "| PPO: ",
		filepath.Join(out, "eval", "eval.json"), filepath.Join(out, "eval", "policy"), filepath.Join(out, "ckpt", "ppo"),
		filepath.Join(out, "instruct", "eval", "prompts"), filepath.Join(out, "pipeline.yaml"), filepath.Join(out, "report.html")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// The pools are disjoint: no eval prompt was trained on.
	trained := map[string]bool{}
	for _, pool := range []string{"sft", "rm", "ppo"} {
		for _, split := range []string{"train", "val"} {
			rows, err := dataset.ReadAll[dataset.Prompt](filepath.Join(out, "instruct", pool, "prompts", split))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				trained[r.Prompt] = true
			}
		}
	}
	evalRows, err := dataset.ReadAll[dataset.Prompt](filepath.Join(out, "instruct", "eval", "prompts", "val"))
	if err != nil || len(evalRows) < demo.TargetPrompts {
		t.Fatalf("eval pool: %d rows, %v", len(evalRows), err)
	}
	for _, r := range evalRows {
		if trained[r.Prompt] {
			t.Fatalf("eval prompt %q is also in a training pool", r.Prompt)
		}
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
	if all, _ := ev["all"].(map[string]any); all == nil || all["gold"] == nil {
		t.Errorf("eval.json has no gold comparison: %s", raw)
	}
	// The learning itself: PPO beats its SFT start under the gold judge
	// (the labeller's rule, not the RM it was trained on) on the held-out
	// prompts, with a 95% interval above a coin flip, close to SFT.
	var res infer.EvalResult
	if err := json.Unmarshal(raw, &res); err != nil || res.All.Gold == nil {
		t.Fatalf("eval.json: %v", err)
	}
	g := res.All.Gold
	if g.N < demo.TargetPrompts || g.WinRate < demo.TargetGoldWinRate || g.WinLow <= 0.5 || res.All.KL > demo.TargetKL || g.Warning != "" {
		t.Errorf("PPO vs SFT on %d held-out prompts: gold win rate %.3f [%.3f, %.3f], KL %.2f, proxy win rate %.3f, warning %q; want ≥ %d prompts, ≥ %.2f with the interval above 0.5, KL ≤ %g",
			g.N, g.WinRate, g.WinLow, g.WinHigh, res.All.KL, g.ProxyWinRate, g.Warning, demo.TargetPrompts, demo.TargetGoldWinRate, demo.TargetKL)
	}
	if !strings.Contains(stdout, "targets (≥ 64 prompts, gold win rate ≥ 0.65 with CI low > 0.5, KL ≤ 10 nats): met") ||
		!strings.Contains(stdout, "on held-out comparisons") || !strings.Contains(stdout, "Time per step: ") {
		t.Errorf("stdout lacks the targets, the RM's held-out accuracy or the step times:\n%s", stdout)
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
