// Package report writes `rlhf report`: one self-contained HTML page (inline
// SVG plots, no scripts, nothing fetched) for a run folder or a pipeline's
// work folder: the data (task mix per pool), the SFT and RM curves with the
// RM's held-out accuracy, the PPO curves, the eval table and sampled answers
// before and after.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/dataset/prompts"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/option"
)

// marker starts every page Write writes: an existing file with it is an
// earlier report, which may be replaced.
const marker = "<!DOCTYPE html>\n<!-- rlhf report -->"

// Dest is the destination of Write: a missing file, or an earlier report.
func Dest(out string, inputs ...string) atomicfile.Dest {
	return atomicfile.Dest{Path: out, What: "report", File: true, Inputs: inputs, Ours: func(p string) bool {
		b := make([]byte, len(marker))
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		defer f.Close()
		n, _ := f.Read(b)
		return string(b[:n]) == marker
	}}
}

// ErrNothing is returned (wrapped) by Write for a folder with nothing to
// report: no build-prompts report, training metrics or eval.
var ErrNothing = errors.New("nothing to report")

// Write builds the page for dir and writes it to out (errors name it as
// the option Out). Sections with nothing under dir are left out (the page
// says which).
func Write(dir, out string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: not a folder (want a run folder, e.g. demo-out)", dir)
	}
	if err := Dest(out).Check(); err != nil {
		return option.Errorf("{Out}: %w", err)
	}
	page, err := build(dir)
	if err != nil {
		return err
	}
	if len(page.Data) == 0 && len(page.Runs) == 0 && len(page.Evals) == 0 {
		return fmt.Errorf("%s: %w (no report.json of build-prompts, metrics.jsonl or eval.json under it)", dir, ErrNothing)
	}
	var missing []string
	for _, m := range []struct {
		empty bool
		what  string
	}{{len(page.Data) == 0, "data (no build-prompts report.json)"}, {len(page.Runs) == 0, "training (no metrics.jsonl)"},
		{len(page.Evals) == 0, "evaluation (no eval.json)"}} {
		if m.empty {
			missing = append(missing, m.what)
		}
	}
	page.Missing = strings.Join(missing, ", ")
	var buf bytes.Buffer
	buf.WriteString(marker + "\n")
	if err := pageTmpl.Execute(&buf, page); err != nil {
		return err
	}
	return atomicfile.WriteFile(out, buf.Bytes(), 0o644)
}

type page struct {
	Dir string
	// Missing names the sections left out for want of their files.
	Missing string
	Data    []dataSection
	Runs    []runSection
	Evals   []evalSection
}

type dataSection struct {
	Path    string
	Rep     prompts.Report
	Tasks   []string // tasks with rows
	Lengths []lengths
}

// lengths are the character-length percentiles of one pool's (or the
// unpooled build's) demonstrations.
type lengths struct {
	Name                     string
	Rows                     int
	PromptP50, PromptP90     int
	ResponseP50, ResponseP90 int
}

// lengthsOf reads the sft datasets under dir (train and val).
func lengthsOf(name, dir string) (lengths, bool) {
	var p, r []int
	for _, split := range []string{"train", "val"} {
		rows, err := dataset.ReadAll[dataset.SFT](filepath.Join(dir, split))
		if err != nil {
			continue
		}
		for _, x := range rows {
			p = append(p, utf8.RuneCountInString(x.Prompt))
			r = append(r, utf8.RuneCountInString(x.Response))
		}
	}
	if len(p) == 0 {
		return lengths{}, false
	}
	sort.Ints(p)
	sort.Ints(r)
	q := func(a []int, f float64) int { return a[min(len(a)-1, int(f*float64(len(a))))] }
	return lengths{name, len(p), q(p, 0.5), q(p, 0.9), q(r, 0.5), q(r, 0.9)}, true
}

type runSection struct {
	Path, Kind string
	Note       string // e.g. the RM's held-out accuracy
	Plots      []template.HTML
}

type evalSection struct {
	Path    string
	Res     infer.EvalResult
	Tasks   []string
	Samples []sample
}

type sample struct{ Prompt, Baseline, Policy string }

// build walks dir (four levels at most) for build-prompts reports, training
// metrics and evals.
func build(dir string) (*page, error) {
	p := &page{Dir: dir}
	root := filepath.Clean(dir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.Count(rel, string(filepath.Separator)) >= 4 || d.Name() == "checkpoints" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		switch d.Name() {
		case "report.json":
			var rep prompts.Report
			if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &rep) == nil && len(rep.Tasks) > 0 {
				ds := dataSection{Path: filepath.Dir(rel), Rep: rep}
				for _, t := range rep.Tasks {
					if t.Rows > 0 {
						ds.Tasks = append(ds.Tasks, t.Task)
					}
				}
				base := filepath.Dir(path)
				if len(rep.Pools) == 0 {
					if l, ok := lengthsOf("all", filepath.Join(base, "sft")); ok {
						ds.Lengths = append(ds.Lengths, l)
					}
				}
				for _, pl := range rep.Pools {
					if l, ok := lengthsOf(pl.Name, filepath.Join(base, pl.Name, "sft")); ok {
						ds.Lengths = append(ds.Lengths, l)
					}
				}
				p.Data = append(p.Data, ds)
			}
		case "metrics.jsonl":
			rs, err := runFrom(path)
			if err != nil {
				// One unreadable or empty log (a run stopped before its
				// first step) does not hide the rest of the page.
				rs = runSection{Kind: stageOf(filepath.Dir(path), "run"), Note: err.Error()}
			}
			rs.Path = filepath.Dir(rel)
			p.Runs = append(p.Runs, rs)
		case infer.EvalFile:
			var res infer.EvalResult
			b, err := os.ReadFile(path)
			if err != nil || json.Unmarshal(b, &res) != nil || res.All.N == 0 {
				return nil
			}
			es := evalSection{Path: filepath.Dir(rel), Res: res}
			for t := range res.PerTask {
				es.Tasks = append(es.Tasks, t)
			}
			sort.Strings(es.Tasks)
			pol, err1 := dataset.ReadAll[dataset.Response](filepath.Join(filepath.Dir(path), "policy"))
			base, err2 := dataset.ReadAll[dataset.Response](filepath.Join(filepath.Dir(path), "baseline"))
			if err1 == nil && err2 == nil && len(pol) == len(base) {
				for i := 0; i < min(6, len(pol)); i++ {
					es.Samples = append(es.Samples, sample{pol[i].Prompt, base[i].Response, pol[i].Response})
				}
			}
			p.Evals = append(p.Evals, es)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(p.Runs, func(i, j int) bool { return stageRank(p.Runs[i].Kind) < stageRank(p.Runs[j].Kind) })
	return p, nil
}

// stageOrder is the recipe's order of the training stages; other kinds
// come after them.
var stageOrder = []string{"sft", "rm", "dpo", "ppo", "grpo", "rloo", "reinforce++"}

func stageRank(kind string) int {
	for i, k := range stageOrder {
		if k == kind {
			return i
		}
	}
	return len(stageOrder)
}

// stageOf is the stage a run folder's rlhf.json names (sft, rm, dpo, ppo,
// grpo, ...), or def without one.
func stageOf(dir, def string) string {
	var meta struct {
		Stage string `json:"stage"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rlhf.json")); err == nil && json.Unmarshal(b, &meta) == nil && meta.Stage != "" {
		return meta.Stage
	}
	return def
}

// runFrom reads a metrics.jsonl and plots it by the kind of run its keys
// show: PPO (reward_mean), RM (acc or margin) or SFT.
func runFrom(path string) (runSection, error) {
	f, err := os.Open(path)
	if err != nil {
		return runSection{}, err
	}
	defer f.Close()
	var rows []map[string]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for n := 1; sc.Scan(); n++ {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return runSection{}, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		row := map[string]float64{}
		for k, v := range raw {
			if x, ok := v.(float64); ok {
				row[k] = x
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return runSection{}, fmt.Errorf("%s: %w", path, err)
	}
	has := func(k string) bool {
		for _, r := range rows {
			if _, ok := r[k]; ok {
				return true
			}
		}
		return false
	}
	get := func(name, key, band string) series {
		s := series{name: name}
		for i, r := range rows {
			v, ok := r[key]
			if !ok {
				continue
			}
			x, ok := r["step"]
			if !ok {
				x = float64(i + 1)
			}
			s.x, s.y = append(s.x, x), append(s.y, v)
			if band != "" {
				s.band = append(s.band, r[band])
			}
		}
		return s
	}
	plot := func(title, ylabel string, ss ...series) template.HTML {
		var keep []series
		for _, s := range ss {
			if len(s.x) > 0 {
				keep = append(keep, s)
			}
		}
		return template.HTML(svgPlot(title, "step", ylabel, keep))
	}
	if len(rows) == 0 {
		return runSection{}, errors.New("no metrics yet (the run stopped before its first logged step)")
	}
	rs := runSection{}
	switch {
	case has("reward_mean"):
		rs.Kind = stageOf(filepath.Dir(path), "ppo")
		rs.Plots = append(rs.Plots, plot("Reward (mean ± std over the rollout)", "reward", get("reward_mean", "reward_mean", "reward_std")))
		for _, k := range []struct{ key, title string }{{"kl", "KL to the reference (nats)"}, {"entropy", "Entropy (nats/token)"},
			{"value_loss", "Value loss"}, {"clip_frac", "Clip fraction"}, {"response_len", "Response length (tokens)"}} {
			if has(k.key) {
				rs.Plots = append(rs.Plots, plot(k.title, k.key, get(k.key, k.key, "")))
			}
		}
	case has("rewards/accuracies"):
		rs.Kind = stageOf(filepath.Dir(path), "dpo")
		rs.Plots = append(rs.Plots, plot("Loss", "loss", get("train", "loss", ""), get("val", "val_loss", "")),
			plot("Preference accuracy (implicit reward)", "accuracy", get("train", "rewards/accuracies", ""), get("val (held out)", "val_rewards/accuracies", "")),
			plot("Implicit reward margin (chosen − rejected)", "margin", get("train", "rewards/margins", ""), get("val (held out)", "val_rewards/margins", "")))
	case has("acc") || has("margin"):
		rs.Kind = "rm"
		rs.Plots = append(rs.Plots, plot("Loss", "loss", get("train", "loss", ""), get("val", "val_loss", "")),
			plot("Pairwise accuracy", "accuracy", get("train", "acc", ""), get("val (held out)", "val_acc", "")))
		rs.Note = "held-out accuracy: no validation data (give rm comparisons with a val split)"
		for i := len(rows) - 1; i >= 0; i-- {
			if v, ok := rows[i]["val_acc"]; ok {
				rs.Note = fmt.Sprintf("held-out accuracy %.3f (step %.0f)", v, rows[i]["step"])
				break
			}
		}
	default:
		rs.Kind = stageOf(filepath.Dir(path), "sft")
		rs.Plots = append(rs.Plots, plot("Loss", "loss", get("train", "loss", ""), get("val", "val_loss", "")))
		if has("val_ppl") {
			rs.Plots = append(rs.Plots, plot("Validation perplexity", "perplexity", get("val", "val_ppl", "")))
		}
	}
	return rs, nil
}

var funcs = template.FuncMap{
	"f3": func(x float64) string { return fmt.Sprintf("%.3f", x) },
	"pct": func(x float64) string {
		if math.IsNaN(x) {
			return "–"
		}
		return fmt.Sprintf("%.1f", x)
	},
	"ci":   func(p, lo, hi float64) string { return fmt.Sprintf("%.3f [%.3f, %.3f]", p, lo, hi) },
	"task": func(m map[string]infer.EvalStats, t string) infer.EvalStats { return m[t] },
}

var pageTmpl = template.Must(template.New("page").Funcs(funcs).Parse(`<html lang="en"><head><meta charset="utf-8">
<title>rlhf report: {{.Dir}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:12px}
.plot{border:1px solid #eee;background:#fff}.ans td{text-align:left;vertical-align:top;max-width:340px;white-space:pre-wrap;word-break:break-word}
.warn{color:#a00;font-weight:bold}.note{color:#555}
</style></head><body>
<h1>rlhf report</h1>
<p class="note">Run folder <code>{{.Dir}}</code>. One file: plots are inline SVG, nothing is fetched.</p>
{{with .Missing}}<p class="note">Not in this folder: {{.}}.</p>{{end}}
{{if .Data}}<section id="data"><h2>Data</h2>
{{range .Data}}<h3><code>{{.Path}}</code>: {{.Rep.Rows}} rows ({{.Rep.TrainRows}} train, {{.Rep.ValRows}} val), mix {{.Rep.Mix}}</h3>
<table><tr><th>task</th><th>target %</th><th>achieved %</th><th>rows</th></tr>
{{range .Rep.Tasks}}{{if .Rows}}<tr><td>{{.Task}}</td><td>{{pct .TargetPct}}</td><td>{{pct .AchievedPct}}</td><td>{{.Rows}}</td></tr>{{end}}{{end}}</table>
{{if .Rep.Pools}}{{$tasks := .Tasks}}<p>Disjoint prompt pools (rows per task):</p>
<table><tr><th>pool</th><th>share %</th><th>train</th><th>val</th>{{range $tasks}}<th>{{.}}</th>{{end}}</tr>
{{range .Rep.Pools}}{{$p := .}}<tr><td>{{.Name}}</td><td>{{pct .SharePct}}</td><td>{{.TrainRows}}</td><td>{{.ValRows}}</td>{{range $tasks}}<td>{{index $p.Tasks .}}</td>{{end}}</tr>{{end}}</table>{{end}}
{{if .Lengths}}<p>Lengths in characters (demonstrations):</p>
<table><tr><th>pool</th><th>rows</th><th>prompt p50</th><th>prompt p90</th><th>response p50</th><th>response p90</th></tr>
{{range .Lengths}}<tr><td>{{.Name}}</td><td>{{.Rows}}</td><td>{{.PromptP50}}</td><td>{{.PromptP90}}</td><td>{{.ResponseP50}}</td><td>{{.ResponseP90}}</td></tr>{{end}}</table>{{end}}
{{end}}
</section>{{end}}
{{if .Runs}}<section id="training"><h2>Training</h2>
{{range .Runs}}<h3 id="run-{{.Kind}}">{{.Kind}}: <code>{{.Path}}</code></h3>{{if .Note}}<p>{{.Note}}</p>{{end}}
<div class="plots">{{range .Plots}}{{.}}{{end}}</div>
{{end}}
</section>{{end}}
{{if .Evals}}<section id="eval"><h2>Evaluation</h2>
{{range .Evals}}{{$r := .Res}}<h3><code>{{.Path}}</code>: <code>{{$r.Policy}}</code> (policy) vs <code>{{$r.Baseline}}</code> (baseline)</h3>
<table><tr><th>prompts</th><th>n</th><th>RM reward policy</th><th>RM reward baseline</th><th>RM win rate [95% CI]</th><th>gold win rate [95% CI]</th><th>KL (nats)</th><th>len policy</th><th>len baseline</th></tr>
<tr><td><b>all</b></td><td>{{$r.All.N}}</td><td>{{f3 $r.All.RewardPolicy}}</td><td>{{f3 $r.All.RewardBaseline}}</td><td>{{ci $r.All.WinRate $r.All.WinLow $r.All.WinHigh}}</td><td>{{with $r.All.Gold}}{{ci .WinRate .WinLow .WinHigh}} n={{.N}} ({{.Fn}}){{else}}no gold judge{{end}}</td><td>{{f3 $r.All.KL}}</td><td>{{f3 $r.All.LenPolicy}}</td><td>{{f3 $r.All.LenBaseline}}</td></tr>
{{range .Tasks}}{{$s := task $r.PerTask .}}<tr><td>{{.}}</td><td>{{$s.N}}</td><td>{{f3 $s.RewardPolicy}}</td><td>{{f3 $s.RewardBaseline}}</td><td>{{ci $s.WinRate $s.WinLow $s.WinHigh}}</td><td>{{with $s.Gold}}{{if .N}}{{ci .WinRate .WinLow .WinHigh}} n={{.N}}{{else}}–{{end}}{{else}}–{{end}}</td><td>{{f3 $s.KL}}</td><td>{{f3 $s.LenPolicy}}</td><td>{{f3 $s.LenBaseline}}</td></tr>{{end}}</table>
{{with $r.All.Gold}}{{if .Warning}}<p class="warn">{{.Warning}}</p>{{end}}{{end}}
{{if .Samples}}<h3>Sampled answers, before (baseline) and after (policy)</h3>
<table class="ans"><tr><th>prompt</th><th>baseline</th><th>policy</th></tr>
{{range .Samples}}<tr><td>{{.Prompt}}</td><td>{{.Baseline}}</td><td>{{.Policy}}</td></tr>{{end}}</table>{{end}}
{{end}}
</section>{{end}}
</body></html>
`))
