package prompts

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

func TestParsePools(t *testing.T) {
	p, err := ParsePools("sft=0.2,rm=0.4,ppo=0.4")
	if err != nil {
		t.Fatal(err)
	}
	want := []Pool{{"sft", 0.18}, {"rm", 0.36}, {"ppo", 0.36}, {"eval", 0.1}}
	if len(p) != len(want) {
		t.Fatalf("pools %v, want %v", p, want)
	}
	for i := range want {
		if p[i].Name != want[i].Name || math.Abs(p[i].Share-want[i].Share) > 1e-9 {
			t.Errorf("pool %d: %v, want %v", i, p[i], want[i])
		}
	}
	p, err = ParsePools("sft=1,eval=1")
	if err != nil || len(p) != 2 || p[1].Name != "eval" || math.Abs(p[1].Share-0.5) > 1e-9 {
		t.Errorf("listed eval share: %v %v", p, err)
	}
	for _, bad := range []string{"sft", "sft=0", "sft=-1", "sft=x", "SFT=1", "a=1,a=2", "eval=1", "a/b=1"} {
		if _, err := ParsePools(bad); err == nil || !strings.Contains(err.Error(), "Pools") {
			t.Errorf("--pools %q: error %v, want one naming --pools", bad, err)
		}
	}
}

// TestPoolsKeepNearDuplicatesTogether: rows of different tasks that share
// a prompt, a source text or a near-duplicate source text go to one pool.
func TestPoolsKeepNearDuplicatesTogether(t *testing.T) {
	text := "West Lake lies in the west of Hangzhou, in Zhejiang province. It is one of the best known scenic areas in China and draws many visitors every year."
	edited := "West Lake lies in the west of Hangzhou in Zhejiang province. It is one of the best-known scenic areas in China and draws many visitors each year."
	b := &builder{opts: Options{NearDup: 0.7}, rows: map[string][]*candidate{}}
	add := func(task, prompt, dedup string) *candidate {
		c := &candidate{task: task, prompt: prompt, dedup: dedup, lang: "en"}
		b.rows[task] = append(b.rows[task], c)
		return c
	}
	// Filler rows, so that the pools' deficits move around.
	for task, n := range map[string]int{"generation": 40, "closed_qa": 41, "summarization": 43} {
		for i := range n {
			s := strings.Repeat(string(rune('a'+i%26)), 3) + " " + task + " unrelated filler text number " + string(rune('A'+i))
			add(task, task+s, s)
		}
	}
	groups := [][]*candidate{
		{add("closed_qa", "Q1: "+text, text), add("summarization", "Summarise: "+edited, edited), add("generation", "Write about: "+text, text)},
		{add("generation", "same prompt", "x y z w"), add("summarization", "same prompt", "p q r s")},
	}
	pools, _ := ParsePools("a=1,b=1,c=1,d=1,e=1,f=1,g=1")
	got := b.assignPools(pools)
	for g, rows := range groups {
		for _, c := range rows[1:] {
			if got[c] != got[rows[0]] {
				t.Errorf("group %d: %s row in pool %d, %s row in pool %d", g, rows[0].task, got[rows[0]], c.task, got[c])
			}
		}
	}
}

func TestPoolsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	specs := append(synth(t, dir, 1200), fixtureSources()...)
	out := filepath.Join(dir, "out")
	const total = 2000
	rep := run(t, Options{Sources: specs, Total: total, Out: out, ValFrac: 0.1, Pools: "sft=0.2,rm=0.4,ppo=0.4", MaxRepeat: 2})
	if len(rep.Pools) != 4 {
		t.Fatalf("report pools %+v", rep.Pools)
	}
	if _, err := os.Stat(filepath.Join(out, "prompts")); err == nil {
		t.Errorf("a pooled build also wrote the unpooled OUT/prompts")
	}
	taskRows := map[string]int64{}
	for _, tr := range rep.Tasks {
		taskRows[tr.Task] = tr.Rows
	}
	seen := map[string]string{} // prompt → pool
	var sum int64
	var texts []struct{ pool, text, lang string }
	for _, p := range rep.Pools {
		var n int64
		tasks := map[string]int64{}
		for _, split := range []string{"train", "val"} {
			sft, err := dataset.ReadAll[dataset.SFT](filepath.Join(out, p.Name, "sft", split))
			if err != nil {
				t.Fatal(err)
			}
			pr, err := dataset.ReadAll[dataset.Prompt](filepath.Join(out, p.Name, "prompts", split))
			if err != nil || len(pr) != len(sft) {
				t.Fatalf("%s/prompts/%s: %d rows (sft %d), %v", p.Name, split, len(pr), len(sft), err)
			}
			if want := map[string]int64{"train": p.TrainRows, "val": p.ValRows}[split]; int64(len(sft)) != want {
				t.Errorf("%s/%s: %d rows, report says %d", p.Name, split, len(sft), want)
			}
			// The eval pool's prompts keep every row's reference (for a gold
			// judge); the others only those of the checkable tasks.
			for i, r := range pr {
				want := ""
				if p.Name == EvalPool || referenceTasks[r.Task] {
					want = sft[i].Response
				}
				if r.Reference != want || r.Prompt != sft[i].Prompt {
					t.Fatalf("%s/prompts/%s row %d (%s): reference %q, want %q", p.Name, split, i, r.Task, r.Reference, want)
				}
			}
			for _, r := range sft {
				n++
				tasks[r.Task]++
				if q, ok := seen[r.Prompt]; ok && q != p.Name {
					t.Fatalf("prompt %q in pools %s and %s", r.Prompt, q, p.Name)
				}
				seen[r.Prompt] = p.Name
				if runeLen(r.Response) >= 40 { // not the class labels many rows share
					texts = append(texts, struct{ pool, text, lang string }{p.Name, r.Response, r.Lang})
				}
			}
		}
		sum += n
		share := p.SharePct / 100
		if n != p.Rows || math.Abs(float64(n)-share*total) > 0.02*total {
			t.Errorf("pool %s: %d rows (report %d), share %.2f of %d", p.Name, n, p.Rows, share, total)
		}
		for task, rows := range taskRows {
			if tasks[task] != p.Tasks[task] {
				t.Errorf("pool %s task %s: %d rows, report says %d", p.Name, task, tasks[task], p.Tasks[task])
			}
			// Each pool keeps the task mix.
			if math.Abs(float64(tasks[task])-share*float64(rows)) > 3+0.05*float64(rows) {
				t.Errorf("pool %s task %s: %d rows, want about %.1f of %d", p.Name, task, tasks[task], share*float64(rows), rows)
			}
		}
		if p.Name == EvalPool {
			if p.TrainRows != 0 || p.ValRows == 0 {
				t.Errorf("eval pool: train %d val %d; want all in val", p.TrainRows, p.ValRows)
			}
		} else if p.ValRows == 0 || p.TrainRows == 0 {
			t.Errorf("pool %s: train %d val %d", p.Name, p.TrainRows, p.ValRows)
		}
	}
	if sum != rep.Rows || rep.TrainRows+rep.ValRows != sum {
		t.Errorf("pools hold %d rows, report rows %d (train %d + val %d)", sum, rep.Rows, rep.TrainRows, rep.ValRows)
	}
	// No near-duplicate demonstration (the source text it repeats) crosses
	// pools: a row derived for several tasks, or repeated with another
	// template, stays in one pool.
	ix := newNearDupIndex(0.7)
	var owner []string
	for _, x := range texts {
		id, added := ix.match(x.text, x.lang)
		switch {
		case !added && owner[id] != x.pool:
			t.Fatalf("near-duplicate responses in pools %s and %s: %q", owner[id], x.pool, x.text)
		case added && id >= 0:
			owner = append(owner, x.pool)
		}
	}
	var js struct {
		Pools []PoolReport `json:"pools"`
	}
	raw, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(raw, &js); err != nil || len(js.Pools) != 4 || js.Pools[3].Name != "eval" || js.Pools[3].Tasks["generation"] == 0 {
		t.Errorf("report.json pools %+v, %v", js.Pools, err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "## Pools") || !strings.Contains(string(md), "| eval | 10.0 |") {
		t.Errorf("report.md lacks the pools:\n%s", md)
	}
}
