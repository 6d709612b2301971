package prompts

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// EvalPool is the held-out pool every pooled build has: the prompts the
// trained models are evaluated on, never trained on.
const EvalPool = "eval"

// DefaultEvalShare is the eval pool's share when --pools does not list it.
const DefaultEvalShare = 0.1

// Pool is one disjoint prompt pool of a pooled build.
type Pool struct {
	Name  string
	Share float64 // fraction of the rows, the shares summing to 1
}

var poolName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// ParsePools parses the --pools value: comma-separated name=share, such as
// "sft=0.2,rm=0.4,ppo=0.4". The shares are weights, normalised to sum to 1
// over the listed pools; when the list has no eval pool, eval gets
// DefaultEvalShare of the rows and the listed pools share the rest in their
// proportions. An empty spec gives no pools (the unpooled layout).
func ParsePools(spec string) ([]Pool, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var pools []Pool
	seen := map[string]bool{}
	var sum float64
	for _, part := range strings.Split(spec, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, option.Errorf("{Pools} %q: %q is not name=share", spec, part)
		}
		name = strings.TrimSpace(name)
		if !poolName.MatchString(name) {
			return nil, option.Errorf("{Pools} %q: pool name %q: want lower-case letters, digits, - or _", spec, name)
		}
		if seen[name] {
			return nil, option.Errorf("{Pools} %q: pool %q listed twice", spec, name)
		}
		seen[name] = true
		share, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(share > 0) || math.IsInf(share, 0) {
			return nil, option.Errorf("{Pools} %q: share of %q is %q: want a positive number", spec, name, v)
		}
		pools = append(pools, Pool{name, share})
		sum += share
	}
	scale := 1 / sum
	if !seen[EvalPool] {
		scale *= 1 - DefaultEvalShare
		pools = append(pools, Pool{EvalPool, DefaultEvalShare / scale})
	}
	for i := range pools {
		pools[i].Share *= scale
	}
	if len(pools) < 2 {
		return nil, option.Errorf("{Pools} %q: want at least one pool besides %s", spec, EvalPool)
	}
	return pools, nil
}

// PoolReport is one pool's line of the report.
type PoolReport struct {
	Name      string  `json:"name"`
	SharePct  float64 `json:"share_pct"`
	Rows      int64   `json:"rows"`
	TrainRows int64   `json:"train_rows"`
	ValRows   int64   `json:"val_rows"`
	// Tasks maps task to the pool's rows of it.
	Tasks map[string]int64 `json:"tasks"`
}

// assignPools puts every row in one pool. Rows that share content (the same
// prompt, the same source text, or near-duplicate source text, across all
// tasks; a repetition shares its row's text) form one group, and a group
// goes to one pool, so no prompt and no near-duplicate crosses pools. Within
// each task, groups go, in sampling order, to the pool furthest below its
// share of the task's rows, which keeps the task mix in every pool.
func (b *builder) assignPools(pools []Pool) map[*candidate]int {
	var all []*candidate
	for _, t := range dataset.Tasks {
		all = append(all, b.rows[t]...)
	}
	parent := make([]int, len(all))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(i, j int) {
		if ri, rj := find(i), find(j); ri != rj {
			parent[max(ri, rj)] = min(ri, rj)
		}
	}
	byPrompt, byText := map[string]int{}, map[string]int{}
	thr := b.opts.NearDup
	if thr <= 0 {
		thr = 0.7 // within-task removal may be off; pools still stay apart
	}
	ix := newNearDupIndex(thr)
	owner := []int{} // near-dup index id → row
	for i, c := range all {
		if j, ok := byPrompt[c.prompt]; ok {
			union(i, j)
		} else {
			byPrompt[c.prompt] = i
		}
		if c.dedup == "" {
			continue
		}
		if j, ok := byText[c.dedup]; ok {
			union(i, j)
			continue
		}
		byText[c.dedup] = i
		if id, added := ix.match(c.dedup, c.lang); !added {
			union(i, owner[id])
		} else if id >= 0 {
			owner = append(owner, i)
		}
	}
	group := map[int]int{} // root → pool
	out := make(map[*candidate]int, len(all))
	i := 0
	for _, t := range dataset.Tasks {
		counts := make([]float64, len(pools))
		for k, c := range b.rows[t] {
			r := find(i)
			i++
			p, ok := group[r]
			if !ok {
				best := math.Inf(-1)
				for q, pl := range pools {
					if d := pl.Share*float64(k+1) - counts[q]; d > best+1e-9 {
						best, p = d, q
					}
				}
				group[r] = p
			}
			counts[p]++
			out[c] = p
		}
	}
	return out
}
