package demo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/infer"
)

// TestSummaryWithoutGold: an eval without a gold judge says so in the
// table; model output with line breaks and invalid bytes stays one line.
func TestSummaryWithoutGold(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "eval"), 0o755)
	res := infer.EvalResult{All: infer.EvalStats{N: 4, RewardPolicy: 1.5, RewardBaseline: 0.25, WinRate: 0.75, WinLow: 0.3, WinHigh: 0.95, KL: 2, LenPolicy: 10, LenBaseline: 12}}
	b, _ := json.Marshal(res)
	os.WriteFile(filepath.Join(out, "eval", infer.EvalFile), b, 0o644)
	var w bytes.Buffer
	printSummary(&w, out)
	for _, want := range []string{"on 4 held-out prompts", "no gold judge", "0.750 [0.300, 0.950] n=4", "0.250", "1.500", "12.0", "10.0"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, w.String())
		}
	}
	if got := oneLine("a\nb\x00c\xffd"); got != "a b?c?d" {
		t.Errorf("oneLine: %q", got)
	}
	if got := wrap("中文abcde", 4); len(got) != 3 || got[0] != "中文" || got[2] != "e" || cells(got[0]) != 4 {
		t.Errorf("wrap by cells: %q", got)
	}
	if got := wrap("PPO: A monkey eats. Thank you for asking!", 20); strings.Join(got, "|") != "PPO: A monkey eats.|Thank you for|asking!" {
		t.Errorf("wrap at spaces: %q", got)
	}
}

// TestSummaryTargets: with a gold judge the summary shows the judge, the
// RM's held-out accuracy, whether the demo's targets were met, and the time
// of each step in the order they finished.
func TestSummaryTargets(t *testing.T) {
	for _, c := range []struct {
		gold infer.GoldStats
		kl   float64
		want string
	}{
		{infer.GoldStats{Fn: "recall + regex:!$", N: 81, WinRate: 0.8, WinLow: 0.7, WinHigh: 0.88}, 2, ": met"},
		{infer.GoldStats{Fn: "recall", N: 81, WinRate: 0.6, WinLow: 0.49, WinHigh: 0.7}, 2, "NOT met"},  // win rate too low
		{infer.GoldStats{Fn: "recall", N: 81, WinRate: 0.8, WinLow: 0.7, WinHigh: 0.88}, 12, "NOT met"}, // drifted too far
		{infer.GoldStats{Fn: "recall", N: 40, WinRate: 0.8, WinLow: 0.6, WinHigh: 0.9}, 2, "NOT met"},   // too few prompts
	} {
		out := t.TempDir()
		os.MkdirAll(filepath.Join(out, "eval"), 0o755)
		os.MkdirAll(filepath.Join(out, "ckpt", "rm"), 0o755)
		g := c.gold
		res := infer.EvalResult{All: infer.EvalStats{N: g.N, KL: c.kl, Gold: &g}}
		b, _ := json.Marshal(res)
		os.WriteFile(filepath.Join(out, "eval", infer.EvalFile), b, 0o644)
		os.WriteFile(filepath.Join(out, "ckpt", "rm", "metrics.jsonl"), []byte(`{"step":50,"val_acc":0.7}
{"step":60,"acc":1}
{"step":100,"val_acc":0.8125}
`), 0o644)
		os.WriteFile(filepath.Join(out, "_pipeline_state.json"), []byte(`{"steps": {
  "rm": {"finished": "2026-11-30T21:54:26Z", "seconds": 23.9},
  "sft": {"finished": "2026-11-30T21:53:58Z", "seconds": 86.7}}}`), 0o644)
		var w bytes.Buffer
		printSummary(&w, out)
		printStepTimes(&w, out)
		for _, want := range []string{"gold judge: " + g.Fn, "pairwise accuracy 0.812 on held-out comparisons", c.want,
			"gold judge score (mean)", "Time per step: sft 86.7s, rm 23.9s"} {
			if !strings.Contains(w.String(), want) {
				t.Errorf("%+v KL %v: summary lacks %q:\n%s", g, c.kl, want, w.String())
			}
		}
	}
}
