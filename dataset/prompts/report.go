package prompts

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
)

// Report describes a build: written as OUT/report.json and OUT/report.md.
// It holds no times or durations so that reruns are byte-identical.
type Report struct {
	Mix       string  `json:"mix"`
	Seed      int64   `json:"seed"`
	Requested int64   `json:"requested_rows"`
	Rows      int64   `json:"rows"`
	TrainRows int64   `json:"train_rows"`
	ValRows   int64   `json:"val_rows"`
	MaxRepeat float64 `json:"max_repeat"`
	// ShortPolicy says how tasks short of data were handled.
	ShortPolicy string         `json:"short_policy"`
	Tasks       []TaskReport   `json:"tasks"`
	Sources     []SourceReport `json:"sources"`
	// PII counts the replacements made in the rows written, per kind
	// (a repeated row counts again).
	PII map[string]int64 `json:"pii_scrubbed"`
	// Pools are the disjoint prompt pools of a --pools build (absent
	// without --pools), in the order listed, eval last unless listed.
	Pools []PoolReport `json:"pools,omitempty"`
	// Notes are warnings: tasks that could not be filled, sources that
	// gave nothing.
	Notes []string `json:"notes"`
}

// TaskReport is one task's line of the report.
type TaskReport struct {
	Task        string  `json:"task"`
	TargetPct   float64 `json:"target_pct"`
	AchievedPct float64 `json:"achieved_pct"`
	Target      int64   `json:"target_rows"`
	Rows        int64   `json:"rows"`
	Repeated    int64   `json:"repeated_rows"`
	Available   int64   `json:"available_candidates"`
	// Sources maps source name to rows; Templates template id to rows.
	Sources   map[string]int64 `json:"sources"`
	Templates map[string]int64 `json:"templates"`
	// Dropped maps a filter (see the Drop* constants) to the candidates it
	// removed: lang, length and no_template over the whole input (pass 1);
	// exact_dup and near_dup among the sampled candidates.
	Dropped map[string]int64 `json:"dropped"`
}

// SourceReport is one source's line of the report.
type SourceReport struct {
	Name      string `json:"name"`
	Adapter   string `json:"adapter"`
	Path      string `json:"path"`
	Records   int64  `json:"records"`
	Malformed int64  `json:"malformed"`
	// Candidates maps task to the candidates that passed the filters.
	Candidates map[string]int64 `json:"candidates"`
	Rows       int64            `json:"rows"`
}

func newReport(b *builder, plans map[string]*taskPlan, weights map[string]float64) *Report {
	rep := &Report{Mix: b.opts.Mix, Seed: b.opts.Seed, Requested: b.opts.Total, MaxRepeat: b.opts.MaxRepeat, PII: map[string]int64{}}
	if b.opts.MaxRepeat > 1 {
		rep.ShortPolicy = fmt.Sprintf("a task short of distinct candidates reuses them with other templates up to %gx; what is still missing is renormalised over the other tasks in proportion to their weights", b.opts.MaxRepeat)
	} else {
		rep.ShortPolicy = "no repetition (--max-repeat 1): the rows a short task cannot fill are renormalised over the other tasks in proportion to their weights"
	}
	for _, t := range dataset.Tasks {
		pl := plans[t]
		rep.Tasks = append(rep.Tasks, TaskReport{Task: t, TargetPct: round2(100 * weights[t]), Target: pl.Target, Available: pl.Available})
	}
	return rep
}

// fill counts the final rows.
func (rep *Report) fill(b *builder) {
	srcRows := make([]int64, len(b.sources))
	for i := range rep.Tasks {
		tr := &rep.Tasks[i]
		tr.Sources, tr.Templates, tr.Dropped = map[string]int64{}, map[string]int64{}, b.drops[tr.Task]
		for _, c := range b.rows[tr.Task] {
			tr.Rows++
			tr.Sources[b.sources[c.src].Name]++
			tr.Templates[c.tmpl.ID]++
			srcRows[c.src]++
			for k, v := range c.pii {
				rep.PII[k] += v
			}
		}
		rep.Rows += tr.Rows
	}
	for i := range rep.Tasks {
		tr := &rep.Tasks[i]
		if rep.Rows > 0 {
			tr.AchievedPct = round2(100 * float64(tr.Rows) / float64(rep.Rows))
		}
		var uniq int64
		for _, c := range b.rows[tr.Task] {
			if !c.repeated() {
				uniq++
			}
		}
		tr.Repeated = tr.Rows - uniq
		if tr.Rows < tr.Target {
			if tr.Available == 0 {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s cannot be filled: no source gives %s candidates (target %d rows); its share went to the other tasks", tr.Task, tr.Task, tr.Target))
			} else {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s is short: %d of %d target rows (%d distinct candidates); the rest went to the other tasks", tr.Task, tr.Rows, tr.Target, tr.Available))
			}
		}
	}
	if rep.Rows < rep.Requested {
		rep.Notes = append(rep.Notes, fmt.Sprintf("only %d of the %d requested rows could be built: add sources or raise --max-repeat", rep.Rows, rep.Requested))
	}
	for i, s := range b.sources {
		sr := SourceReport{Name: s.Name, Adapter: s.Adapter, Path: s.Path, Records: b.records[i], Malformed: b.bad[i], Candidates: map[string]int64{}, Rows: srcRows[i]}
		for _, t := range dataset.Tasks {
			if n := b.pairs[t][i].count; n > 0 {
				sr.Candidates[t] = n
			}
		}
		if sr.Rows == 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("source %s contributed no rows", s.Name))
		}
		rep.Sources = append(rep.Sources, sr)
	}
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// write publishes report.json and report.md atomically.
func (rep *Report) write(dir string) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "report.md"), []byte(rep.Markdown()), 0o644)
}

// Markdown renders the report for people.
func (rep *Report) Markdown() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# build-prompts report\n\nMix `%s`, seed %d: %d rows (%d train, %d val) of %d requested.\n\n", rep.Mix, rep.Seed, rep.Rows, rep.TrainRows, rep.ValRows, rep.Requested)
	fmt.Fprintf(&sb, "Short tasks: %s.\n\n", rep.ShortPolicy)
	sb.WriteString("| task | target % | achieved % | rows | target rows | repeated | candidates | sources | templates used | dropped |\n|---|---:|---:|---:|---:|---:|---:|---|---:|---|\n")
	for _, t := range rep.Tasks {
		fmt.Fprintf(&sb, "| %s | %.1f | %.1f | %d | %d | %d | %d | %s | %d | %s |\n", t.Task, t.TargetPct, t.AchievedPct, t.Rows, t.Target, t.Repeated, t.Available, kv(t.Sources), len(t.Templates), kv(t.Dropped))
	}
	if len(rep.Pools) > 0 {
		sb.WriteString("\n## Pools\n\nDisjoint prompt pools: no prompt and no near-duplicate is in two pools. Each is OUT/POOL/{prompts,sft}/{train,val}.\n\n| pool | share % | rows | train | val | rows per task |\n|---|---:|---:|---:|---:|---|\n")
		for _, p := range rep.Pools {
			fmt.Fprintf(&sb, "| %s | %.1f | %d | %d | %d | %s |\n", p.Name, p.SharePct, p.Rows, p.TrainRows, p.ValRows, kv(p.Tasks))
		}
	}
	sb.WriteString("\n## Sources\n\n| source | adapter | path | records | malformed | candidates per task | rows |\n|---|---|---|---:|---:|---|---:|\n")
	for _, s := range rep.Sources {
		fmt.Fprintf(&sb, "| %s | %s | `%s` | %d | %d | %s | %d |\n", s.Name, s.Adapter, s.Path, s.Records, s.Malformed, kv(s.Candidates), s.Rows)
	}
	sb.WriteString("\n## Templates used\n\n")
	for _, t := range rep.Tasks {
		if len(t.Templates) > 0 {
			fmt.Fprintf(&sb, "- %s: %s\n", t.Task, kv(t.Templates))
		}
	}
	fmt.Fprintf(&sb, "\n## PII scrubbed\n\n%s\n", orNone(kv(rep.PII)))
	if len(rep.Notes) > 0 {
		sb.WriteString("\n## Notes\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(&sb, "- %s\n", n)
		}
	}
	return sb.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// kv formats a map as "k=v, ..." sorted by key, skipping zeros.
func kv(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
