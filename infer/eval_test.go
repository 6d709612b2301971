package infer

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
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

// TestEvalRuleRewards: --reward-fn rules are reported next to the RM's
// reward, overall and per task, over the prompts they can score; a rule
// that needs a reference on prompts that have none is refused.
func TestEvalRuleRewards(t *testing.T) {
	policy, rm := tinyModels(t)
	raw, err := os.ReadFile(testPrompts)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var row map[string]any
		json.Unmarshal([]byte(line), &row)
		if i%2 == 0 {
			row["reference"] = "e"
		}
		b, _ := json.Marshal(row)
		lines = append(lines, string(b))
	}
	prompts := filepath.Join(t.TempDir(), "prompts.jsonl")
	os.WriteFile(prompts, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	one := filepath.Join(t.TempDir(), "one.sh")
	os.WriteFile(one, []byte("#!/bin/sh\nawk '{ print 1 }'\n"), 0o755)

	out := filepath.Join(t.TempDir(), "eval")
	o := EvalOptions{Policy: policy, Baseline: policy, Reward: rm, Prompts: prompts, Out: out, MaxNewTokens: 8, MaxPromptLen: 64,
		Temperature: 1, BatchSize: 8, Backend: "go", Seed: 5, RewardFns: []string{"contains", "regex:[aeiou]", "cmd:" + one}}
	res, err := RunEval(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rr := res.All.RuleRewards
	if len(rr) != 3 || rr[0].Fn != "contains" || rr[0].N != 8 || rr[1].N != 16 || rr[2].N != 16 ||
		rr[2].RewardPolicy != 1 || rr[2].RewardBaseline != 1 {
		t.Fatalf("rule rewards: %+v", rr)
	}
	// The means are those of the written responses, over the rows scored.
	contains, _ := ParseRuleReward("contains")
	for k, side := range []string{"policy", "baseline"} {
		rows, err := dataset.ReadAll[dataset.Response](filepath.Join(out, side))
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for i, r := range rows {
			if i%2 == 0 {
				s, _ := contains.Score(context.Background(), []RewardInput{{Response: r.Response, Reference: "e"}})
				sum += s[0]
			}
		}
		got := []float64{rr[0].RewardPolicy, rr[0].RewardBaseline}[k]
		near(t, side+" contains", got, sum/8)
	}
	if pt := res.PerTask["open_qa"].RuleRewards; len(pt) != 3 || pt[1].N != res.PerTask["open_qa"].N {
		t.Errorf("per task: %+v", pt)
	}
	b, _ := os.ReadFile(filepath.Join(out, EvalFile))
	if !strings.Contains(string(b), `"rule_reward_policy"`) || !strings.Contains(string(b), `"fn": "regex:[aeiou]"`) {
		t.Errorf("eval.json lacks the rule rewards:\n%s", b)
	}

	o.Prompts, o.RewardFns, o.Out = testPrompts, []string{"exact-match"}, filepath.Join(t.TempDir(), "none")
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "none of the 16 prompts") {
		t.Errorf("exact-match without references: %v", err)
	}
	o.RewardFns = []string{"cmd:/no/such/judge"}
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "RewardFns") {
		t.Errorf("a missing program: %v", err)
	}
}

// TestGoldStats: the win rate under the gold rule, next to the RM's on the
// same prompts, with a warning when the RM's is more than 15 points higher.
func TestGoldStats(t *testing.T) {
	nan := math.NaN()
	// RM: the policy wins prompts 0-5, loses 6-7; gold: the policy wins
	// 0-1, ties 2-3, loses 4-6; prompt 7 has no gold score.
	p := &evalSide{reward: []float64{1, 1, 1, 1, 1, 1, 0, 0}, gold: []float64{1, 1, 0, 1, 0, 0, 0, nan}}
	b := &evalSide{reward: []float64{0, 0, 0, 0, 0, 0, 1, 1}, gold: []float64{0, 0, 0, 1, 1, 1, 1, nan}}
	g := goldStats(Range(0, 8), p, b, "contains")
	if g.N != 7 || g.Wins != 2 || g.Ties != 2 || g.Losses != 3 {
		t.Fatalf("counts %+v", g)
	}
	near(t, "gold win rate", g.WinRate, 3.0/7)
	near(t, "proxy win rate", g.ProxyWinRate, 6.0/7)
	near(t, "gold policy mean", g.RewardPolicy, 3.0/7)
	lo, hi := evalWilson(3.0/7, 7, 1.959964)
	near(t, "ci low", g.WinLow, lo)
	near(t, "ci high", g.WinHigh, hi)
	if !strings.Contains(g.Warning, "reward hacking") {
		t.Errorf("proxy 0.857 vs gold 0.429: no warning %q", g.Warning)
	}
	// Within 15 points: no warning.
	g = goldStats([]int{0, 1, 6}, p, b, "contains")
	if g.N != 3 || g.Warning != "" || math.Abs(g.ProxyWinRate-g.WinRate) > 1e-9 {
		t.Errorf("proxy and gold agree (2 of 3): %+v", g)
	}
	if g := goldStats([]int{0}, &evalSide{reward: p.reward}, b, ""); g != nil {
		t.Errorf("no gold rule: %+v", g)
	}
	// Too few gold prompts: a note, not a reward-hacking warning (proxy
	// 1.0 vs gold 0.5 on prompts 2 and 4).
	g = goldStats([]int{2, 4, 6, 7}, p, b, "contains")
	if g.N != 3 || g.Warning != "" || !strings.Contains(g.Note, "too few") {
		t.Errorf("3 gold prompts: %+v", g)
	}
	g = goldStats([]int{7}, p, b, "contains")
	if g.N != 0 || g.WinLow != 0 || g.WinHigh != 1 || g.Warning != "" {
		t.Errorf("no prompt scored: %+v", g)
	}
}

// TestEvalGold: --gold-fn reports the gold comparison in eval.json, overall
// and per task, on the prompts the rule scores.
func TestEvalGold(t *testing.T) {
	policy, rm := tinyModels(t)
	out := filepath.Join(t.TempDir(), "eval")
	o := EvalOptions{Policy: policy, Baseline: policy, Reward: rm, Prompts: testPrompts, Out: out, MaxNewTokens: 8, MaxPromptLen: 64,
		Temperature: 1, BatchSize: 8, Backend: "go", Seed: 5, GoldFn: "regex:[aeiou]", RewardFns: []string{"regex:[aeiou]"}}
	res, err := RunEval(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	g, a := res.All.Gold, res.All
	if g == nil || g.Fn != "regex:[aeiou]" || g.N != 16 || g.Wins+g.Ties+g.Losses != 16 {
		t.Fatalf("gold %+v", g)
	}
	// The gold rule's means are those of the same rule as a rule reward,
	// and on all prompts the proxy win rate is the RM's.
	near(t, "gold policy", g.RewardPolicy, a.RuleRewards[0].RewardPolicy)
	near(t, "gold baseline", g.RewardBaseline, a.RuleRewards[0].RewardBaseline)
	near(t, "proxy", g.ProxyWinRate, a.WinRate)
	if pt := res.PerTask["open_qa"].Gold; pt == nil || pt.N != 4 {
		t.Errorf("per task gold: %+v", pt)
	}
	b, _ := os.ReadFile(filepath.Join(out, EvalFile))
	if !strings.Contains(string(b), `"gold": {`) || !strings.Contains(string(b), `"proxy_win_rate"`) || !strings.Contains(string(b), `"gold_fn"`) {
		t.Errorf("eval.json lacks the gold comparison:\n%s", b)
	}

	o.Out, o.RewardFns, o.GoldFn = filepath.Join(t.TempDir(), "x"), nil, "contains"
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "GoldFn contains") {
		t.Errorf("contains without references: %v", err)
	}
	o.GoldFn = "nosuch"
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "GoldFn") {
		t.Errorf("bad gold rule: %v", err)
	}
}
