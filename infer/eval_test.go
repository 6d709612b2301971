package infer

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/label/judge"
	"github.com/rlhf-project/rlhf/reward"
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
	contains, _ := reward.Parse("contains")
	for k, side := range []string{"policy", "baseline"} {
		rows, err := dataset.ReadAll[dataset.Response](filepath.Join(out, side))
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for i, r := range rows {
			if i%2 == 0 {
				s, _ := contains.Score(context.Background(), []reward.Input{{Response: r.Response, Reference: "e"}})
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
		Temperature: 1, BatchSize: 8, Backend: "go", Seed: 5, GoldFns: []string{"regex:[aeiou]", "regex:[aeiou]"}, GoldWeights: []float64{1, 2}, RewardFns: []string{"regex:[aeiou]"}}
	res, err := RunEval(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	g, a := res.All.Gold, res.All
	if g == nil || g.Fn != "regex:[aeiou] + 2×regex:[aeiou]" || g.N != 16 || g.Wins+g.Ties+g.Losses != 16 {
		t.Fatalf("gold %+v", g)
	}
	// The gold judge's means are the weighted sum of those of its rules
	// (here one rule, weighed 1 + 2), and on all prompts the proxy win
	// rate is the RM's.
	near(t, "gold policy", g.RewardPolicy, 3*a.RuleRewards[0].RewardPolicy)
	near(t, "gold baseline", g.RewardBaseline, 3*a.RuleRewards[0].RewardBaseline)
	near(t, "proxy", g.ProxyWinRate, a.WinRate)
	if pt := res.PerTask["open_qa"].Gold; pt == nil || pt.N != 4 {
		t.Errorf("per task gold: %+v", pt)
	}
	b, _ := os.ReadFile(filepath.Join(out, EvalFile))
	if !strings.Contains(string(b), `"gold": {`) || !strings.Contains(string(b), `"proxy_win_rate"`) || !strings.Contains(string(b), `"gold_fn"`) {
		t.Errorf("eval.json lacks the gold comparison:\n%s", b)
	}

	o.Out, o.RewardFns, o.GoldFns, o.GoldWeights = filepath.Join(t.TempDir(), "x"), nil, []string{"contains"}, nil
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "GoldFns contains") {
		t.Errorf("contains without references: %v", err)
	}
	o.GoldFns = []string{"nosuch"}
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "GoldFns") {
		t.Errorf("bad gold rule: %v", err)
	}
	o.GoldFns, o.GoldWeights = []string{"contains", "recall"}, []float64{1}
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "1 weights for 2 rules") {
		t.Errorf("weights that do not match the rules: %v", err)
	}
}

// fakeJudge is an OpenAI-compatible chat-completions server for the AI gold
// judge. The test's rubric lists the answers as `A: "quoted text"` lines;
// it prefers the longer answer and, on answers of one length, the one shown
// first (pure position bias, which the two orders turn into a tie). A
// request whose prompt contains fail is answered 500.
type fakeJudge struct {
	calls atomic.Int32
	fail  string
}

var fakeAnswerRE = regexp.MustCompile(`(?m)^([AB]): (".*")$`)

func (f *fakeJudge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	var req struct {
		Model    string                     `json:"model"`
		Messages []struct{ Content string } `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) != 2 || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	user := req.Messages[1].Content
	if f.fail != "" && strings.Contains(user, f.fail) {
		http.Error(w, "judge down", http.StatusInternalServerError)
		return
	}
	m := fakeAnswerRE.FindAllStringSubmatch(user, -1)
	if len(m) != 2 {
		http.Error(w, "want two answers", http.StatusBadRequest)
		return
	}
	a, _ := strconv.Unquote(m[0][2])
	b, _ := strconv.Unquote(m[1][2])
	ranking := `["A", "B"]`
	if utf8.RuneCountInString(b) > utf8.RuneCountInString(a) {
		ranking = `["B", "A"]`
	}
	json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]string{
		"role": "assistant", "content": `{"ranking": ` + ranking + `}`}}}})
}

// TestEvalJudge: --judge-url makes an AI judge the gold judge: it compares
// both answers of every prompt in both orders, and eval.json's gold
// comparison counts its verdicts (a longer policy answer wins, a shorter
// one loses, one of the same length ties); a rerun asks nothing (the cache
// lives next to --out); a prompt the judge fails on is an error naming it,
// and a rule and an AI judge together are refused.
func TestEvalJudge(t *testing.T) {
	policy, rm := tinyModels(t)
	api := &fakeJudge{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := t.TempDir()
	rubric := filepath.Join(dir, "rubric.tmpl")
	os.WriteFile(rubric, []byte("Prompt: {{.Prompt}}\n{{range .Answers}}{{.Label}}: {{printf \"%q\" .Text}}\n{{end}}Rank {{.K}}: {\"ranking\": [{{.Example}}]}\n"), 0o644)
	out := filepath.Join(dir, "eval")
	o := EvalOptions{Policy: policy, Baseline: policy, Reward: rm, Prompts: testPrompts, Out: out, MaxNewTokens: 8, MaxPromptLen: 64,
		Temperature: 1, BatchSize: 8, Backend: "go", Seed: 5,
		Judge: &judge.Options{BaseURL: srv.URL + "/v1", Model: "fake-judge", Rubric: rubric, Concurrency: 2, MaxRetries: -1}}
	res, err := RunEval(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	g := res.All.Gold
	if g == nil || g.Fn != "judge:fake-judge" || g.N != 16 {
		t.Fatalf("gold %+v", g)
	}
	pol, err1 := dataset.ReadAll[dataset.Response](filepath.Join(out, "policy"))
	base, err2 := dataset.ReadAll[dataset.Response](filepath.Join(out, "baseline"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	var wins, ties, losses, asked int
	for i := range pol {
		lp, lb := utf8.RuneCountInString(pol[i].Response), utf8.RuneCountInString(base[i].Response)
		switch {
		case lp > lb:
			wins++
		case lp < lb:
			losses++
		default:
			ties++
		}
		if pol[i].Response != base[i].Response {
			asked += 2
		}
	}
	t.Logf("gold %+v; expected %d/%d/%d", g, wins, ties, losses)
	if g.Wins != wins || g.Ties != ties || g.Losses != losses || wins == 0 || losses == 0 {
		t.Fatalf("gold wins/ties/losses %d/%d/%d, want %d/%d/%d (both nonzero wins and losses)", g.Wins, g.Ties, g.Losses, wins, ties, losses)
	}
	if int(api.calls.Load()) != asked {
		t.Fatalf("%d requests, want %d (both orders of every prompt whose answers differ)", api.calls.Load(), asked)
	}
	near(t, "gold win rate", g.WinRate, (float64(wins)+0.5*float64(ties))/16)
	near(t, "gold policy share", g.RewardPolicy, g.WinRate)
	near(t, "gold baseline share", g.RewardBaseline, 1-g.WinRate)
	near(t, "proxy", g.ProxyWinRate, res.All.WinRate)
	if pt := res.PerTask["open_qa"].Gold; pt == nil || pt.N != 4 || pt.Fn != g.Fn {
		t.Errorf("per task gold: %+v", pt)
	}
	b, _ := os.ReadFile(filepath.Join(out, EvalFile))
	if !strings.Contains(string(b), `"fn": "judge:fake-judge"`) || !strings.Contains(string(b), `"gold_fn": "judge:fake-judge"`) {
		t.Errorf("eval.json lacks the judge:\n%s", b)
	}
	if _, err := os.Stat(out + ".judge-cache"); err != nil {
		t.Errorf("the reply cache is not next to --out: %v", err)
	}

	// A rerun into the same --out is answered from the cache.
	before := api.calls.Load()
	res2, err := RunEval(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if api.calls.Load() != before || res2.All.Gold.Wins != g.Wins || res2.All.Gold.Losses != g.Losses {
		t.Fatalf("rerun: %d requests, gold %+v", api.calls.Load()-before, res2.All.Gold)
	}

	// A prompt the judge fails on: an error naming it, nothing written.
	prompts, err := ReadPrompts(testPrompts, "")
	if err != nil {
		t.Fatal(err)
	}
	api.fail = prompts[3].Prompt
	o.Out = filepath.Join(dir, "failed")
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "prompt "+prompts[3].ID) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("a failing judge: %v; want an error naming prompt %s", err, prompts[3].ID)
	}
	if _, err := os.Stat(filepath.Join(o.Out, EvalFile)); err == nil {
		t.Error("eval.json written although the judge failed")
	}
	o.GoldFns = []string{"regex:[aeiou]"}
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "GoldFns and an AI judge (Judge) together") {
		t.Errorf("rule and AI judge together: %v", err)
	}
	o.GoldFns, o.Judge = nil, &judge.Options{BaseURL: srv.URL}
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "needs both a base URL and a model") {
		t.Errorf("a judge without a model: %v", err)
	}
	o.Judge = &judge.Options{BaseURL: srv.URL, Model: "m", CacheDir: filepath.Join(o.Out, "cache")}
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "Out") {
		t.Errorf("a judge cache inside --out, which eval replaces: %v", err)
	}
}
