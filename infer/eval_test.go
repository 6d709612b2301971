package infer

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

func TestWilson(t *testing.T) {
	lo, hi := evalWilson(0.5, 100, 1.959964)
	// Wilson interval of 50/100: [0.4038, 0.5962].
	near(t, "low", lo, 0.403832)
	near(t, "high", hi, 0.596168)
}

// TestEvalSelf: a model against itself wins about half the time, has KL 0
// to itself, and the outputs are written.
func TestEvalSelf(t *testing.T) {
	policy, rm := tinyModels(t)
	out := filepath.Join(t.TempDir(), "eval")
	res, err := RunEval(context.Background(), EvalOptions{Policy: policy, Baseline: policy, Reward: rm,
		Prompts: testPrompts, Out: out, MaxNewTokens: 8, MaxPromptLen: 64, Temperature: 1, BatchSize: 8, Backend: "go", Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	a := res.All
	t.Logf("%+v", a)
	if a.N != 16 || a.Wins+a.Ties+a.Losses != 16 {
		t.Fatalf("counts %+v", a)
	}
	if !(a.WinLow <= 0.5 && 0.5 <= a.WinHigh) || math.Abs(a.WinRate-0.5) > 0.25 {
		t.Errorf("self win rate %.3f [%.3f, %.3f] should be ≈ 0.5", a.WinRate, a.WinLow, a.WinHigh)
	}
	if math.Abs(a.KL) > 1e-4 {
		t.Errorf("KL of a model to itself = %v", a.KL)
	}
	if a.Ties == 16 {
		t.Error("every pair tied: the two sides sampled the same responses")
	}
	if len(res.PerTask) < 5 || res.PerTask["open_qa"].N != 4 {
		t.Errorf("per task: %+v", res.PerTask)
	}
	var fromFile EvalResult
	raw, err := os.ReadFile(filepath.Join(out, EvalFile))
	if err != nil || json.Unmarshal(raw, &fromFile) != nil || fromFile.All.N != 16 {
		t.Fatalf("eval.json: %v %s", err, raw)
	}
	for _, side := range []string{"policy", "baseline"} {
		rows, err := dataset.ReadAll[dataset.Response](filepath.Join(out, side))
		if err != nil || len(rows) != 16 || rows[0].Reward == nil || rows[0].PromptID != "p00" {
			t.Fatalf("%s responses: %v %d", side, err, len(rows))
		}
	}
}
