package prompts

import (
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// InstructGPTMix is the task distribution of the InstructGPT API prompt
// dataset (Ouyang et al. 2022, table 1), in percent. The published values
// sum to 99.9; like every mix they are normalised to sum to 1.
var InstructGPTMix = map[string]float64{
	"generation": 45.6, "open_qa": 12.4, "brainstorming": 11.2, "chat": 8.4, "rewrite": 6.6,
	"summarization": 4.2, "classification": 3.5, "other": 3.5, "closed_qa": 2.6, "extract": 1.9,
}

// mixFile is the layout of a --mix FILE.yaml: task weights in any unit
// (they are normalised), either at the top level or under "weights".
// Tasks left out get weight 0.
//
//	weights:
//	  generation: 30
//	  open_qa: 30
//	  chat: 40
type mixFile struct {
	Weights map[string]float64 `yaml:"weights"`
}

// MixWeights resolves --mix: instructgpt, uniform, natural (from natural,
// the per-task native candidate counts) or a YAML file. The result sums to
// 1 over dataset.Tasks.
func MixWeights(mix string, natural map[string]float64) (map[string]float64, error) {
	w := map[string]float64{}
	switch mix {
	case "", "instructgpt":
		for t, v := range InstructGPTMix {
			w[t] = v
		}
	case "uniform":
		for _, t := range dataset.Tasks {
			w[t] = 1
		}
	case "natural":
		for t, v := range natural {
			w[t] = v
		}
	default:
		raw, err := os.ReadFile(mix)
		if err != nil {
			return nil, option.Errorf("{Mix} %q: want instructgpt, uniform, natural or a YAML file: %w", mix, err)
		}
		var mf mixFile
		if err := yaml.Unmarshal(raw, &mf); err != nil {
			return nil, option.Errorf("{Mix} %s: not valid YAML: %w", mix, err)
		}
		if mf.Weights == nil {
			if err := yaml.Unmarshal(raw, &mf.Weights); err != nil {
				return nil, option.Errorf("{Mix} %s: want a map of task to weight (top level or under weights:): %w", mix, err)
			}
		}
		for t, v := range mf.Weights {
			if !dataset.IsTask(t) {
				return nil, option.Errorf("{Mix} %s: %q is not a task (want %s)", mix, t, strings.Join(dataset.Tasks, ", "))
			}
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, option.Errorf("{Mix} %s: weight of %s is %v; want a non-negative number", mix, t, v)
			}
			w[t] = v
		}
	}
	sum := 0.0
	for _, v := range w {
		sum += v
	}
	if sum <= 0 {
		return nil, option.Errorf("{Mix} %q: all weights are zero (for natural: no input candidates)", mix)
	}
	for t := range w {
		w[t] /= sum
	}
	return w, nil
}

// apportion splits n into integer parts proportional to weights, by largest
// remainder (ties broken by index), so the parts sum to n exactly.
func apportion(n int64, weights []float64) []int64 {
	out := make([]int64, len(weights))
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	if sum <= 0 || n <= 0 {
		return out
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(weights))
	var given int64
	for i, w := range weights {
		exact := float64(n) * w / sum
		out[i] = int64(math.Floor(exact))
		given += out[i]
		rems[i] = rem{i, exact - float64(out[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; given < n; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}

// taskPlan is the outcome of mixing for one task.
type taskPlan struct {
	Target    int64 // rows wanted by the mix weights alone
	Want      int64 // rows after repetition and renormalisation
	Unique    int64 // distinct rows to select
	Repeats   int64 // extra rows filled by repetition (another template)
	Available int64 // distinct candidates after per-source caps
	Short     bool  // the task could not reach Target
}

// plan allocates total rows over tasks: each task gets its weight's share;
// a task with fewer distinct candidates than that is filled by repetition
// up to maxRepeat times its candidates, and whatever is still missing is
// given to the other tasks in proportion to their weights (renormalisation),
// repeatedly until every task is either satisfied or exhausted.
func plan(total int64, weights map[string]float64, avail map[string]int64, maxRepeat float64) map[string]*taskPlan {
	if maxRepeat < 1 {
		maxRepeat = 1
	}
	tasks := dataset.Tasks
	ws := make([]float64, len(tasks))
	for i, t := range tasks {
		ws[i] = weights[t]
	}
	plans := map[string]*taskPlan{}
	targets := apportion(total, ws)
	for i, t := range tasks {
		plans[t] = &taskPlan{Target: targets[i], Available: avail[t]}
	}
	limit := func(t string) int64 { return int64(math.Floor(float64(avail[t]) * maxRepeat)) }
	fixed := map[string]bool{}
	remaining := total
	for {
		var free []int
		var fw []float64
		for i, t := range tasks {
			if !fixed[t] && ws[i] > 0 {
				free = append(free, i)
				fw = append(fw, ws[i])
			}
		}
		if len(free) == 0 {
			break
		}
		share := apportion(remaining, fw)
		changed := false
		for k, i := range free {
			t := tasks[i]
			plans[t].Want = share[k]
			if share[k] > limit(t) {
				fixed[t] = true
				plans[t].Want = limit(t)
				remaining -= limit(t)
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for _, t := range tasks {
		p := plans[t]
		p.Unique = min(p.Want, p.Available)
		p.Repeats = p.Want - p.Unique
		p.Short = p.Want < p.Target
	}
	return plans
}

// formatPct formats a share as a percentage with one decimal.
func formatPct(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) }
