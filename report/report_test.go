package report

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/dataset/prompts"
	"github.com/rlhf-project/rlhf/infer"
)

// runFolder writes a small run folder: a pooled build-prompts report, sft,
// rm and ppo metrics, and an eval with its answers.
func runFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel string, v any) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		default:
			b, _ = json.Marshal(v)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("instruct/report.json", prompts.Report{Mix: "instructgpt", Rows: 30, TrainRows: 27, ValRows: 3,
		Tasks: []prompts.TaskReport{{Task: "generation", Rows: 20, TargetPct: 45.6, AchievedPct: 66.7}, {Task: "closed_qa", Rows: 10}},
		Pools: []prompts.PoolReport{{Name: "sft", SharePct: 90, Rows: 27, TrainRows: 24, ValRows: 3, Tasks: map[string]int64{"generation": 18, "closed_qa": 9}},
			{Name: "eval", SharePct: 10, Rows: 3, ValRows: 3, Tasks: map[string]int64{"generation": 2, "closed_qa": 1}}}})
	for _, split := range []string{"train", "val"} {
		w, err := dataset.Create[dataset.SFT](filepath.Join(dir, "instruct", "sft", "sft", split), dataset.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(dataset.SFT{Task: "generation", Prompt: "写一首诗", Response: "abcdefghij"})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var sft, rm, ppo []string
	for s := 1; s <= 10; s++ {
		sft = append(sft, `{"step":`+itoa(s)+`,"loss":`+itoa(10-s)+`}`)
		rm = append(rm, `{"step":`+itoa(s)+`,"loss":0.5,"acc":0.7,"margin":1}`)
		ppo = append(ppo, `{"step":`+itoa(s)+`,"reward_mean":`+itoa(s)+`,"reward_std":0.5,"kl":0.1,"entropy":3,"value_loss":2,"clip_frac":0.1}`)
	}
	sft = append(sft, `{"step":10,"val_loss":2.5,"val_ppl":12}`)
	rm = append(rm, `{"step":10,"val_acc":0.625}`)
	write("ckpt/sft/metrics.jsonl", strings.Join(sft, "\n")+"\n")
	write("ckpt/rm/metrics.jsonl", strings.Join(rm, "\n")+"\n")
	write("ckpt/ppo/metrics.jsonl", strings.Join(ppo, "\n")+"\n")
	gold := &infer.GoldStats{Fn: "contains", N: 2, WinRate: 0.25, WinLow: 0.01, WinHigh: 0.8, ProxyWinRate: 1, Warning: "the reward model's win rate 1.000 exceeds the gold judge's"}
	write("eval/eval.json", infer.EvalResult{Policy: "ckpt/ppo", Baseline: "ckpt/sft", All: infer.EvalStats{N: 2, WinRate: 1, Gold: gold},
		PerTask: map[string]infer.EvalStats{"closed_qa": {N: 2, WinRate: 1, Gold: gold}}})
	for side, ans := range map[string]string{"policy": "after <b>bold</b>", "baseline": "before"} {
		w, err := dataset.Create[dataset.Response](filepath.Join(dir, "eval", side), dataset.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(dataset.Response{PromptID: "p1", Prompt: "What is <script>window.pwned=1</script>?", Response: ans},
			dataset.Response{PromptID: "p2", Prompt: "Second", Response: ans + "2"})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestWriteReport(t *testing.T) {
	dir := runFolder(t)
	out := filepath.Join(dir, "report.html")
	if err := Write(dir, out); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	page := string(b)
	for _, want := range []string{`id="data"`, `id="training"`, `id="eval"`, "Disjoint prompt pools", "<td>eval</td>", "<tr><td>sft</td><td>2</td><td>4</td><td>4</td><td>10</td><td>10</td></tr>",
		`id="run-sft"`, `id="run-rm"`, `id="run-ppo"`, "held-out accuracy 0.625", "Reward (mean ± std over the rollout)", "(band: ± std)",
		"KL to the reference", "Entropy", "Value loss", "Clip fraction", "0.250 [0.010, 0.800] n=2 (contains)", "exceeds the gold judge",
		"after &lt;b&gt;bold&lt;/b&gt;", "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("page has a script or fetches something")
	}
	if n := strings.Count(page, "<svg"); n != 9 {
		t.Errorf("%d plots, want 9 (sft 2, rm 2, ppo 5)", n)
	}
	// A rerun replaces its own page; another file is never replaced.
	if err := Write(dir, out); err != nil {
		t.Errorf("rewrite: %v", err)
	}
	other := filepath.Join(dir, "notes.html")
	os.WriteFile(other, []byte("mine"), 0o644)
	if err := Write(dir, other); err == nil || !strings.Contains(err.Error(), "Out: "+other) {
		t.Errorf("replacing another file: %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "mine" {
		t.Errorf("notes.html changed")
	}
	if err := Write(t.TempDir(), filepath.Join(t.TempDir(), "r.html")); err == nil || !strings.Contains(err.Error(), "nothing to report") {
		t.Errorf("empty folder: %v", err)
	}
}

// TestReportInBrowser renders the page in headless Chromium, as the label
// app is tested: every section is there and every plot is drawn with a size.
func TestReportInBrowser(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("browser test skipped: %s not found (apt-get install -y chromium)", chromium)
	}
	dir := runFolder(t)
	out := filepath.Join(dir, "report.html")
	if err := Write(dir, out); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromium), chromedp.Flag("headless", true),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+out), chromedp.WaitVisible("#eval")); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]any](`[
		["data","training","eval"].every(id => document.getElementById(id).getBoundingClientRect().height > 40),
		[...document.querySelectorAll("svg.plot")].filter(s => s.getBoundingClientRect().width > 300 && s.querySelector("polyline")).length,
		typeof window.pwned]`))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != true || got[1] != float64(9) || got[2] != "undefined" {
		t.Errorf("rendered page: sections %v, drawn plots %v, script ran %v", got[0], got[1], got[2])
	}
	if len(shot) < 10_000 {
		t.Errorf("screenshot of %d bytes", len(shot))
	}
}

// TestReportOtherPipeline: a pipeline whose steps are not the demo's (no
// build-prompts, a DPO run, a GRPO run, a run interrupted before its first
// step, an eval without its answers and with an AI gold judge) still gets a
// page: each run under its own stage, the empty run noted, the sections with
// nothing in them left out.
func TestReportOtherPipeline(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var dpo, grpo []string
	for s := 1; s <= 5; s++ {
		dpo = append(dpo, `{"step":`+itoa(s)+`,"loss":0.6,"rewards/accuracies":0.7,"rewards/margins":0.3}`)
		grpo = append(grpo, `{"step":`+itoa(s)+`,"reward_mean":1,"reward_std":0.2,"kl":0.1}`)
	}
	write("ckpt/dpo/metrics.jsonl", strings.Join(dpo, "\n")+"\n")
	write("ckpt/dpo/rlhf.json", `{"stage":"dpo"}`)
	write("ckpt/grpo/metrics.jsonl", strings.Join(grpo, "\n")+"\n")
	write("ckpt/grpo/rlhf.json", `{"stage":"grpo"}`)
	write("ckpt/stopped/metrics.jsonl", "")
	b, _ := json.Marshal(infer.EvalResult{Policy: "ckpt/dpo", Baseline: "ckpt/sft", All: infer.EvalStats{N: 4, WinRate: 0.5,
		Gold: &infer.GoldStats{Fn: "judge:gpt-x", N: 4, WinRate: 0.75, WinLow: 0.3, WinHigh: 0.95}}})
	write("eval/eval.json", string(b))
	out := filepath.Join(dir, "report.html")
	if err := Write(dir, out); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	page := string(raw)
	for _, want := range []string{`id="run-dpo"`, `id="run-grpo"`, "Preference accuracy", "ckpt/stopped", "no metrics yet",
		"0.750 [0.300, 0.950] n=4 (judge:gpt-x)", `id="eval"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="data"`) || strings.Contains(page, "Sampled answers") {
		t.Errorf("an empty section is shown")
	}
	if strings.Index(page, `id="run-dpo"`) > strings.Index(page, `id="run-grpo"`) {
		t.Errorf("runs out of pipeline order (dpo before grpo)")
	}
}
