package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
)

// printSummary prints what the demo's eval found: a table of SFT (the
// baseline) against PPO (the policy) and three prompts with both answers
// side by side. A missing or unreadable eval is said, not fatal: the
// artefacts are listed anyway.
func printSummary(w io.Writer, out string) {
	evalDir := filepath.Join(out, "eval")
	raw, err := os.ReadFile(filepath.Join(evalDir, infer.EvalFile))
	var res infer.EvalResult
	if err == nil {
		err = json.Unmarshal(raw, &res)
	}
	if err != nil {
		fmt.Fprintf(w, "\nNo eval summary: %v\n", err)
		return
	}
	a := res.All
	fmt.Fprintf(w, "\nPPO vs its SFT start on %d held-out prompts (eval pool):\n\n", a.N)
	rows := [][3]string{
		{"", "SFT", "PPO"},
		{"RM reward (proxy)", f3(a.RewardBaseline), f3(a.RewardPolicy)},
		{"RM win rate vs SFT [95% CI]", "", winRate(a.WinRate, a.WinLow, a.WinHigh, a.N)},
	}
	if g := a.Gold; g != nil {
		rows = append(rows,
			[3]string{"gold judge score (mean)", f3(g.RewardBaseline), f3(g.RewardPolicy)},
			[3]string{"gold win rate vs SFT [95% CI]", "", winRate(g.WinRate, g.WinLow, g.WinHigh, g.N)})
	} else {
		rows = append(rows, [3]string{"gold win rate vs SFT", "", "no gold judge"})
	}
	rows = append(rows,
		[3]string{"KL to SFT (nats)", "0", f3(a.KL)},
		[3]string{"mean length (tokens)", fmt.Sprintf("%.1f", a.LenBaseline), fmt.Sprintf("%.1f", a.LenPolicy)})
	for i, r := range rows {
		fmt.Fprintf(w, "  %-30s %10s  %s\n", r[0], r[1], r[2])
		if i == 0 {
			fmt.Fprintf(w, "  %s\n", strings.Repeat("-", 66))
		}
	}
	if acc, ok := rmHeldOutAccuracy(filepath.Join(out, "ckpt", "rm", "metrics.jsonl")); ok {
		fmt.Fprintf(w, "\n  reward model: pairwise accuracy %.3f on held-out comparisons\n", acc)
	}
	if g := a.Gold; g != nil {
		fmt.Fprintf(w, "  gold judge: %s\n", g.Fn)
		met := g.N >= TargetPrompts && g.WinRate >= TargetGoldWinRate && g.WinLow > 0.5 && a.KL <= TargetKL
		verdict := "met"
		if !met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "  targets (≥ %d prompts, gold win rate ≥ %.2f with CI low > 0.5, KL ≤ %g nats): %s\n",
			TargetPrompts, TargetGoldWinRate, TargetKL, verdict)
	}
	if g := a.Gold; g != nil && g.Note != "" {
		fmt.Fprintf(w, "\n  note: %s\n", g.Note)
	}
	if g := a.Gold; g != nil && g.Warning != "" {
		fmt.Fprintf(w, "\n  warning: %s\n", g.Warning)
	}

	pol, err1 := dataset.ReadAll[dataset.Response](filepath.Join(evalDir, "policy"))
	base, err2 := dataset.ReadAll[dataset.Response](filepath.Join(evalDir, "baseline"))
	if err1 != nil || err2 != nil || len(pol) != len(base) {
		return
	}
	const col = 38
	n := min(3, len(pol))
	if n > 0 {
		fmt.Fprintf(w, "\nSample answers (eval/baseline vs eval/policy):\n")
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "\n  prompt: %s\n", clip(oneLine(pol[i].Prompt), 2*col))
		left := wrap("SFT: "+oneLine(base[i].Response), col)
		right := wrap("PPO: "+oneLine(pol[i].Response), col)
		for k := 0; k < max(len(left), len(right)) && k < 4; k++ {
			l, r := "", ""
			if k < len(left) {
				l = left[k]
			}
			if k < len(right) {
				r = right[k]
			}
			fmt.Fprintf(w, "  %s%s | %s\n", l, strings.Repeat(" ", col-cells(l)), r)
		}
	}
}

// The demo's targets: PPO beats its SFT start under the gold judge on
// enough held-out prompts, without drifting far from it.
const (
	TargetPrompts     = 64
	TargetGoldWinRate = 0.65
	TargetKL          = 10.0
)

// rmHeldOutAccuracy is the last validation accuracy in an RM's
// metrics.jsonl.
func rmHeldOutAccuracy(path string) (float64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	acc, ok := 0.0, false
	for _, line := range strings.Split(string(raw), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if v, has := m["val_acc"].(float64); has {
			acc, ok = v, true
		}
	}
	return acc, ok
}

// printStepTimes prints how long each pipeline step took, from the
// pipeline's state file, in the order they finished.
func printStepTimes(w io.Writer, out string) {
	raw, err := os.ReadFile(filepath.Join(out, "_pipeline_state.json"))
	if err != nil {
		return
	}
	var st struct {
		Steps map[string]struct {
			Finished string  `json:"finished"`
			Seconds  float64 `json:"seconds"`
		} `json:"steps"`
	}
	if json.Unmarshal(raw, &st) != nil || len(st.Steps) == 0 {
		return
	}
	names := make([]string, 0, len(st.Steps))
	for n := range st.Steps {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return st.Steps[names[i]].Finished < st.Steps[names[j]].Finished })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.1fs", n, st.Steps[n].Seconds)
	}
	fmt.Fprintf(w, "\nTime per step: %s\n", strings.Join(parts, ", "))
}

func f3(x float64) string { return fmt.Sprintf("%.3f", x) }

func winRate(p, lo, hi float64, n int) string {
	if n == 0 {
		return "n=0 (no prompt scored)"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f] n=%d", p, lo, hi, n)
}

// oneLine makes model output printable on one line: line breaks and tabs
// as spaces, other control characters and invalid bytes as '?'.
func oneLine(s string) string {
	var sb strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			sb.WriteByte('?')
		case r == '\n' || r == '\t' || r == '\r':
			sb.WriteByte(' ')
		case !unicode.IsPrint(r):
			sb.WriteByte('?')
		default:
			sb.WriteRune(r)
		}
	}
	return strings.TrimSpace(sb.String())
}

// cells is the width of s in terminal cells (East Asian wide characters
// take two).
func cells(s string) int {
	n := 0
	for _, r := range s {
		n += runeCells(r)
	}
	return n
}

func runeCells(r rune) int {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// clip cuts s to at most n cells, marking a cut with "…".
func clip(s string, n int) string {
	if cells(s) <= n {
		return s
	}
	var sb strings.Builder
	c := 0
	for _, r := range s {
		if c+runeCells(r) > n-1 {
			break
		}
		c += runeCells(r)
		sb.WriteRune(r)
	}
	return sb.String() + "…"
}

// wrap breaks s into lines of at most n cells, at a space where the line
// has one (a word longer than a line is cut).
func wrap(s string, n int) []string {
	var lines []string
	line := []rune{}
	c := 0
	for _, r := range s {
		if c+runeCells(r) > n {
			cut := len(line)
			if sp := lastSpace(line); sp > 0 && r != ' ' {
				cut = sp
			}
			lines = append(lines, strings.TrimRight(string(line[:cut]), " "))
			line = append([]rune{}, []rune(strings.TrimLeft(string(line[cut:]), " "))...)
			c = cells(string(line))
			if r == ' ' && len(line) == 0 {
				continue
			}
		}
		c += runeCells(r)
		line = append(line, r)
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, string(line))
	}
	return lines
}

// lastSpace is the index of the last space in line (-1: none).
func lastSpace(line []rune) int {
	for i := len(line) - 1; i >= 0; i-- {
		if line[i] == ' ' {
			return i
		}
	}
	return -1
}
