package prompts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
)

// Drop reasons, the keys of the per-task "dropped" counts of the report.
const (
	DropLang          = "lang"           // language not in --langs (or undetectable)
	DropPromptShort   = "prompt_short"   // prompt under MinPromptChars
	DropPromptLong    = "prompt_long"    // prompt over MaxPromptChars
	DropResponseShort = "response_short" // response under MinResponseChars
	DropResponseLong  = "response_long"  // response over MaxResponseChars
	DropNoTemplate    = "no_template"    // no template of the task/lang fits the fields
	DropExactDup      = "exact_dup"      // same content (or same prompt) as a kept row
	DropNearDup       = "near_dup"       // MinHash near-duplicate of a kept row
)

// candidate is an Example rendered for one task.
type candidate struct {
	task     string
	src      int
	key      uint64 // sampling key: seeded hash of task and content
	lang     string
	tmpl     *Template
	prompt   string
	response string
	derived  bool
	dedup    string            // text compared for near-duplicates
	fields   map[string]string // kept only where repetition needs it
	nth      int               // template index among the eligible ones
	rep      int               // repetition number (0: first use)
	pii      map[string]int64  // PII replacements made in this row
	eligible []*Template
	history  string // the conversation before the prompt (chat sources), a JSON list of messages
}

// pairStats is what pass 1 learns about one (task, source) pair.
type pairStats struct {
	count  int64    // candidates that passed the filters
	native int64    // of which native (not derived)
	keys   []uint64 // max-heap of the smallest keys seen
	cap    int      // heap capacity
	// after planning:
	quota     int64
	threshold uint64 // keys ≤ threshold are materialised in pass 2
	selected  bool
}

// builder holds the state of one Run.
type builder struct {
	opts    Options
	sources []Source
	bank    *Bank
	langs   map[string]bool
	seed    uint64

	pairs   map[string][]*pairStats // task → per source
	drops   map[string]map[string]int64
	bad     []int64  // malformed records per source
	badAt   []string // the first malformed record of each source and why
	records []int64  // examples read per source
	pass    int
	keep    map[string]bool // tasks whose candidates keep fields (repetition)
	rows    map[string][]*candidate
	pools   []Pool // --pools (none: the unpooled layout)
}

// Run builds the prompt and SFT datasets described by opts.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	if opts.Out == "" {
		return nil, option.Errorf("{Out} is required")
	}
	if len(opts.Sources) == 0 {
		return nil, option.Errorf("at least one {Sources} is required")
	}
	if opts.Total < 0 {
		return nil, option.Errorf("{Total} %d: want a positive row count", opts.Total)
	}
	if opts.ValFrac < 0 || opts.ValFrac >= 1 {
		return nil, option.Errorf("{ValFrac} %v: want a fraction in [0, 1)", opts.ValFrac)
	}
	if opts.MaxRepeat < 1 {
		return nil, fmt.Errorf("MaxRepeat %v: want 1 or more", opts.MaxRepeat)
	}
	for _, x := range []struct {
		name string
		v    int64
	}{
		{"MaxPerSource", opts.MaxPerSource}, {"RowsPerShard", opts.RowsPerShard},
		{"MinPromptChars", int64(opts.MinPromptChars)}, {"MaxPromptChars", int64(opts.MaxPromptChars)},
		{"MinResponseChars", int64(opts.MinResponseChars)}, {"MaxResponseChars", int64(opts.MaxResponseChars)},
	} {
		if x.v < 0 { // 0 means the default (or no cap)
			return nil, fmt.Errorf("%s %d: must not be negative", x.name, x.v)
		}
	}
	if opts.MaxPromptChars < opts.MinPromptChars || opts.MaxResponseChars < opts.MinResponseChars {
		return nil, errors.New("length limits: a maximum is below its minimum")
	}
	pools, err := ParsePools(opts.Pools)
	if err != nil {
		return nil, err
	}
	b := &builder{opts: opts, langs: map[string]bool{}, pools: pools,
		drops: map[string]map[string]int64{}, pairs: map[string][]*pairStats{}}
	b.seed = mix64(uint64(opts.Seed))
	for _, l := range opts.Langs {
		if l != "zh" && l != "en" {
			return nil, option.Errorf("{Langs} %q: want zh and/or en", l)
		}
		b.langs[l] = true
	}
	if _, err := dataset.ParseEncoding(string(opts.Encoding)); err != nil {
		return nil, option.Errorf("{Encoding}: %w", err)
	}
	names := map[string]bool{}
	for _, spec := range opts.Sources {
		s, err := ParseSource(spec)
		if err != nil {
			return nil, err
		}
		if s.Encoding == "" {
			s.Encoding = opts.Encoding
		}
		if names[s.Name] {
			return nil, option.Errorf("{Sources} %q: another source is also named %q; set name= on one of them", spec, s.Name)
		}
		names[s.Name] = true
		b.sources = append(b.sources, s)
	}
	if err := b.dest().Check(); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	if b.bank, err = LoadBank(opts.Templates, opts.TemplatesOnly); err != nil {
		return nil, err
	}
	b.bad = make([]int64, len(b.sources))
	b.badAt = make([]string, len(b.sources))
	b.records = make([]int64, len(b.sources))
	for _, t := range dataset.Tasks {
		b.drops[t] = map[string]int64{}
		b.pairs[t] = make([]*pairStats, len(b.sources))
		for i := range b.sources {
			b.pairs[t][i] = &pairStats{cap: b.heapCap(i)}
		}
	}

	// Pass 1: count candidates and keep the smallest keys per (task, source).
	b.pass = 1
	n, workers, err := b.readAll(ctx, -1, "records (pass 1/2)")
	if err != nil {
		return nil, err
	}
	for _, t := range dataset.Tasks {
		for i, p := range b.pairs[t] {
			for _, w := range workers {
				wp := w.pairs[t][i]
				p.count += wp.count
				p.native += wp.native
				p.keys = append(p.keys, wp.keys...)
				wp.keys = nil
			}
		}
	}
	slog.Info("build-prompts: pass 1 done", "records", n)
	if err := b.checkSources(); err != nil {
		return nil, err
	}

	// Plan the mix.
	natural := map[string]float64{}
	avail := map[string]int64{}
	for _, t := range dataset.Tasks {
		for i, p := range b.pairs[t] {
			// Duplicates are counted among the keys up to the cap-th
			// distinct one, which every worker's heap holds whatever the
			// number of workers.
			slices.Sort(p.keys)
			all := len(p.keys)
			u := slices.Compact(slices.Clone(p.keys))
			u = slices.Clip(u[:min(len(u), p.cap)])
			if len(u) > 0 {
				below, _ := slices.BinarySearch(p.keys[:all], u[len(u)-1]+1)
				if u[len(u)-1] == ^uint64(0) {
					below = all
				}
				dups := int64(below - len(u))
				b.drops[t][DropExactDup] += dups
				p.count -= dups
			}
			p.keys = u
			natural[t] += float64(p.native)
			avail[t] += p.available(b.srcCap(i))
		}
	}
	weights, err := MixWeights(opts.Mix, natural)
	if err != nil {
		return nil, err
	}
	plans := plan(opts.Total, weights, avail, opts.MaxRepeat)
	b.keep = map[string]bool{}
	for _, t := range dataset.Tasks {
		pl := plans[t]
		if pl.Repeats > 0 {
			b.keep[t] = true
		}
		caps := make([]float64, len(b.sources))
		for i, p := range b.pairs[t] {
			caps[i] = float64(p.available(b.srcCap(i)))
		}
		quotas := apportion(pl.Unique, caps)
		for i, p := range b.pairs[t] {
			p.quota = quotas[i]
			if p.quota == 0 {
				continue
			}
			// Keep some spare candidates to replace near-duplicates.
			k := min(len(p.keys), int(math.Ceil(float64(p.quota)*opts.Oversample))+8)
			p.threshold, p.selected = p.keys[k-1], true
			p.keys = p.keys[:k]
		}
	}

	// Pass 2: materialise the selected candidates.
	b.pass = 2
	b.rows = map[string][]*candidate{}
	_, workers, err = b.readAll(ctx, n, "records (pass 2/2)")
	if err != nil {
		return nil, err
	}
	for _, w := range workers {
		for _, c := range w.rows {
			b.rows[c.task] = append(b.rows[c.task], c)
		}
		w.rows = nil
	}
	// The same content read from two sources has one key: keep the copy
	// from the first source, as a sequential read would.
	for t, rows := range b.rows {
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].key != rows[j].key {
				return rows[i].key < rows[j].key
			}
			return rows[i].src < rows[j].src
		})
		b.rows[t] = slices.CompactFunc(rows, func(x, y *candidate) bool { return x.key == y.key })
	}
	for _, t := range dataset.Tasks {
		for _, p := range b.pairs[t] {
			p.keys = nil
		}
	}

	rep := b.finish(plans, weights)
	if rep.Rows == 0 && opts.Total > 0 {
		return nil, b.noRows(n)
	}
	if err := b.write(rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// checkSources refuses a source that gave no record: an empty input, or
// one whose every record is malformed (most likely the wrong adapter or
// columns), rather than build from the other sources as if it were fine.
func (b *builder) checkSources() error {
	for i, s := range b.sources {
		if b.records[i] > 0 {
			continue
		}
		if b.bad[i] > 0 {
			return fmt.Errorf("source %s (%s): all %d records are malformed, the first at %s", s.Name, s.Path, b.bad[i], b.badAt[i])
		}
		return fmt.Errorf("source %s (%s): no records (empty input)", s.Name, s.Path)
	}
	return nil
}

// noRows is the error of a run whose every candidate was dropped: the
// records read and the drop counts, the most common reason first.
func (b *builder) noRows(records int64) error {
	total := map[string]int64{}
	for _, m := range b.drops {
		for k, v := range m {
			total[k] += v
		}
	}
	keys := make([]string, 0, len(total))
	for k, v := range total {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if total[keys[i]] != total[keys[j]] {
			return total[keys[i]] > total[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, total[k])
	}
	why := "no task of the mix could use them"
	if len(parts) > 0 {
		why = "every candidate was dropped (" + strings.Join(parts, ", ") + "; see --langs and the length limits)"
	}
	return fmt.Errorf("no rows built from %d records of %d source(s): %s", records, len(b.sources), why)
}

// heapCap bounds the keys kept per (task, source) in pass 1: no pair can
// need more than --total rows (or the source's cap), plus spares.
func (b *builder) heapCap(src int) int {
	c := b.opts.Total
	if m := b.srcCap(src); m > 0 {
		c = min(c, m)
	}
	return int(math.Ceil(float64(c)*b.opts.Oversample)) + 8
}

// srcCap is the per-(task, source) cap: the source's max=, else
// --max-per-source (0: none).
func (b *builder) srcCap(src int) int64 {
	if m := b.sources[src].maxRows(); m > 0 {
		return int64(m)
	}
	return b.opts.MaxPerSource
}

// available is the number of distinct candidates the pair can give: its
// count (duplicates found among the kept keys removed), capped by the
// source's cap.
func (p *pairStats) available(capRows int64) int64 {
	if capRows > 0 {
		return min(p.count, capRows)
	}
	return p.count
}

// worker renders candidates on one goroutine with its own counters, so
// that the merge, not the scheduling, fixes the result.
type worker struct {
	b     *builder
	bank  *Bank // a copy with its own lookup cache
	drops map[string]map[string]int64
	pairs map[string][]*pairStats // pass 1: counts and smallest keys
	rows  []*candidate            // pass 2: the selected candidates
}

func (b *builder) newWorker() *worker {
	bank := *b.bank
	bank.cache = map[eligibleKey][]*Template{}
	w := &worker{b: b, bank: &bank, drops: map[string]map[string]int64{}, pairs: map[string][]*pairStats{}}
	for _, t := range dataset.Tasks {
		w.drops[t] = map[string]int64{}
		w.pairs[t] = make([]*pairStats, len(b.sources))
		for i := range b.sources {
			w.pairs[t][i] = &pairStats{cap: b.pairs[t][i].cap}
		}
	}
	return w
}

// job is one example handed to a worker.
type job struct {
	src int
	ex  Example
}

// readAll streams every source through the adapters (on this goroutine)
// and renders the candidates on GOMAXPROCS workers. Batches go to workers
// round-robin, so which worker sees which example does not depend on
// timing. It returns the number of examples read and the workers' state.
func (b *builder) readAll(ctx context.Context, total int64, what string) (int64, []*worker, error) {
	bar := progress.New(ctx, total, what)
	defer bar.Finish()
	const batchSize = 256
	workers := make([]*worker, max(1, runtime.GOMAXPROCS(0)))
	chans := make([]chan []job, len(workers))
	var wg sync.WaitGroup
	for k := range workers {
		w := b.newWorker()
		workers[k], chans[k] = w, make(chan []job, 4)
		wg.Add(1)
		go func(in chan []job) {
			defer wg.Done()
			for batch := range in {
				for _, j := range batch {
					w.candidates(j.src, j.ex)
				}
			}
		}(chans[k])
	}
	var n, sent int64
	batch := make([]job, 0, batchSize)
	flush := func() {
		chans[sent%int64(len(chans))] <- batch
		sent++
		batch = make([]job, 0, batchSize)
	}
	err := func() error {
		for i := range b.sources {
			s := &b.sources[i]
			var bad int64
			emit := func(ex Example) error {
				n++
				if b.pass == 1 {
					b.records[i]++
				}
				batch = append(batch, job{i, ex})
				if len(batch) == batchSize {
					flush()
				}
				if n%4096 == 0 {
					bar.Add(4096)
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				return nil
			}
			badFn := func(pos string, err error) {
				bad++
				if b.pass == 1 && bad == 1 {
					b.badAt[i] = fmt.Sprintf("%s: %v", pos, err)
				}
				if b.pass == 1 && bad <= int64(b.opts.MaxBadReported) {
					slog.Warn("build-prompts: skipping malformed record", "source", s.Name, "at", pos, "err", err)
				}
			}
			if err := adapters[s.Adapter](s, emit, badFn); err != nil {
				return fmt.Errorf("source %s: %w", s.Name, err)
			}
			if b.pass == 1 {
				b.bad[i] = bad
				if bad > int64(b.opts.MaxBadReported) {
					slog.Warn("build-prompts: more malformed records not shown", "source", s.Name, "total_malformed", bad)
				}
			}
		}
		return nil
	}()
	if len(batch) > 0 {
		flush()
	}
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	bar.Add(n % 4096)
	if err != nil {
		return n, nil, err
	}
	// Merge the counters; keys and rows are merged by the caller.
	for _, w := range workers {
		for t, m := range w.drops {
			for k, v := range m {
				b.drops[t][k] += v
			}
		}
	}
	return n, workers, nil
}

// sourceForcesTask reports whether the source's task= replaces the native
// tasks (it is only a fallback for adapters whose rows carry a category).
func sourceForcesTask(s *Source) bool {
	return s.Task != "" && s.Adapter != "instruction" && s.Adapter != "qa" && s.Adapter != "chat"
}

// candidates renders ex for each task it can serve and keeps those that
// pass the filters (observe in pass 1, collect in pass 2).
func (w *worker) candidates(src int, ex Example) {
	b := w.b
	s := &b.sources[src]
	if sourceForcesTask(s) {
		ex.Tasks = []string{s.Task}
	}
	names := make([]string, 0, len(ex.Fields)+1)
	for k, v := range ex.Fields {
		if v != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	// The content hash identifies the example whatever source it came from.
	h := b.seed
	for _, k := range names {
		h = mix64(h ^ fnv64(k))
		h = mix64(h ^ fnv64(ex.Fields[k]))
	}
	lang := ex.Lang
	if lang == "" {
		lang = DetectLang(dedupText(ex.Fields, names))
	}
	if !b.langs[lang] {
		if b.pass == 1 {
			w.drops[ex.Tasks[0]][DropLang]++
		}
		return
	}
	ex.Fields["lang"] = lang
	fieldSet := FieldSet(names) // "lang" is always set, so it needs no place here
	dtext := ""
	try := func(task string, derived bool) {
		key := mix64(h ^ fnv64(task))
		if b.pass == 2 {
			p := b.pairs[task][src]
			if !p.selected || key > p.threshold {
				return
			}
		}
		el := w.bank.Eligible(task, lang, !derived, fieldSet, ex.Fields)
		if len(el) == 0 {
			if !derived && b.pass == 1 {
				w.drops[task][DropNoTemplate]++
			}
			return
		}
		c := &candidate{task: task, src: src, key: key, lang: lang, derived: derived, eligible: el, history: ex.Fields["conversation"]}
		c.nth = int((key >> 40) % uint64(len(el)))
		if !w.render(c, ex.Fields, true) {
			return
		}
		if b.pass == 2 {
			if dtext == "" {
				dtext = dedupText(ex.Fields, names)
			}
			c.dedup = dtext
			if b.keep[task] {
				c.fields = ex.Fields
			}
		}
		if b.pass == 1 {
			w.observe(c)
		} else {
			w.rows = append(w.rows, c)
		}
	}
	for _, t := range ex.Tasks {
		try(t, false)
	}
	if !b.opts.NoDerive {
		for _, t := range derivable {
			if !slices.Contains(ex.Tasks, t) {
				try(t, true)
			}
		}
	}
}

// render fills c.prompt and c.response with template c.nth, scrubbing PII
// and applying the length limits. It reports whether c passed; count says
// whether a failure is counted as a drop.
func (w *worker) render(c *candidate, fields map[string]string, count bool) bool {
	b := w.b
	c.tmpl = c.eligible[c.nth%len(c.eligible)]
	p, r, err := c.tmpl.Render(fields)
	if err != nil {
		// Templates are checked at load; a failure here is a bug in a
		// template function: count it as no_template rather than abort.
		slog.Debug("build-prompts: template failed", "err", err)
		return w.drop(c.task, DropNoTemplate, count)
	}
	var pii map[string]int64
	if b.pass == 2 && count {
		pii = map[string]int64{}
	}
	c.prompt, c.response = scrubPII(p, pii), scrubPII(r, pii)
	if len(pii) > 0 {
		c.pii = pii
	}
	pl, rl := runeLen(c.prompt), runeLen(c.response)
	switch {
	case pl < b.opts.MinPromptChars:
		return w.drop(c.task, DropPromptShort, count)
	case pl > b.opts.MaxPromptChars:
		return w.drop(c.task, DropPromptLong, count)
	case rl < b.opts.MinResponseChars:
		return w.drop(c.task, DropResponseShort, count)
	case rl > b.opts.MaxResponseChars:
		return w.drop(c.task, DropResponseLong, count)
	case c.tmpl.MinResponseLines > 0 && strings.Count(c.response, "\n")+1 < c.tmpl.MinResponseLines:
		return w.drop(c.task, DropResponseShort, count)
	}
	return true
}

func (w *worker) drop(task, why string, count bool) bool {
	if count && w.b.pass == 1 {
		w.drops[task][why]++
	}
	return false
}

// observe is pass 1's candidate handler.
func (w *worker) observe(c *candidate) {
	p := w.pairs[c.task][c.src]
	p.count++
	if !c.derived {
		p.native++
	}
	heapPushBounded(&p.keys, c.key, p.cap)
}

// heapPushBounded keeps in h (a max-heap) the k smallest keys pushed.
func heapPushBounded(h *[]uint64, key uint64, k int) {
	a := *h
	if len(a) < k {
		a = append(a, key)
		for i := len(a) - 1; i > 0; {
			parent := (i - 1) / 2
			if a[parent] >= a[i] {
				break
			}
			a[parent], a[i] = a[i], a[parent]
			i = parent
		}
		*h = a
		return
	}
	if key >= a[0] {
		return
	}
	a[0] = key
	for i := 0; ; {
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(a) && a[l] > a[big] {
			big = l
		}
		if r < len(a) && a[r] > a[big] {
			big = r
		}
		if big == i {
			break
		}
		a[i], a[big] = a[big], a[i]
		i = big
	}
}

// finish removes duplicates, fills quotas, repeats where planned and builds
// the report. The selected rows are left in b.rows.
func (b *builder) finish(plans map[string]*taskPlan, weights map[string]float64) *Report {
	rep := newReport(b, plans, weights)
	w := b.newWorker()
	for _, t := range dataset.Tasks {
		rows := b.rows[t]
		sort.Slice(rows, func(i, j int) bool { return rows[i].key < rows[j].key })
		ix := newNearDupIndex(b.opts.NearDup)
		prompts := map[string]bool{}
		kept := rows[:0]
		for _, c := range rows {
			// A conversation is the same prompt only with the same history.
			pk := c.history + "\x1f" + c.prompt
			if prompts[pk] {
				b.drops[t][DropExactDup]++
				continue
			}
			if b.opts.NearDup > 0 && !ix.addIfNew(c.dedup, c.lang) {
				b.drops[t][DropNearDup]++
				continue
			}
			prompts[pk] = true
			kept = append(kept, c)
		}
		// Take each source's quota in key order, then fill any shortfall
		// (rows lost to duplicates) from the other sources' spares.
		taken := make([]int64, len(b.sources))
		var out, spare []*candidate
		for _, c := range kept {
			if taken[c.src] < b.pairs[t][c.src].quota {
				taken[c.src]++
				out = append(out, c)
			} else {
				spare = append(spare, c)
			}
		}
		pl := plans[t]
		for _, c := range spare {
			if int64(len(out)) >= pl.Unique {
				break
			}
			if cp := b.srcCap(c.src); cp > 0 && taken[c.src] >= cp {
				continue
			}
			taken[c.src]++
			out = append(out, c)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
		// Repetition: reuse rows with the next template, up to MaxRepeat.
		unique := len(out)
		for r := 1; int64(len(out)-unique) < pl.Repeats && float64(r) < b.opts.MaxRepeat; r++ {
			added := false
			for _, c := range out[:unique] {
				if int64(len(out)-unique) >= pl.Repeats {
					break
				}
				if c.fields == nil || len(c.eligible) < 2 {
					continue
				}
				d := *c
				d.nth = c.nth + r
				d.rep = r
				if !w.render(&d, c.fields, false) || prompts[d.prompt] {
					continue
				}
				prompts[d.prompt] = true
				d.key = mix64(c.key + uint64(r))
				out = append(out, &d)
				added = true
			}
			if !added {
				break
			}
		}
		for _, c := range out {
			c.fields = nil
		}
		b.rows[t] = out
	}
	rep.fill(b)
	return rep
}

// split divides each task's rows of rows (in b.rows order) into train and
// val.
func (b *builder) split(keep func(*candidate) bool) (train, val []*candidate) {
	for _, t := range dataset.Tasks {
		var rows []*candidate
		for _, c := range b.rows[t] {
			if keep(c) {
				rows = append(rows, c)
			}
		}
		vk := func(c *candidate) uint64 { return mix64(c.key ^ 0x76616c) }
		sort.Slice(rows, func(i, j int) bool { return vk(rows[i]) < vk(rows[j]) })
		nv := int(math.Round(float64(len(rows)) * b.opts.ValFrac))
		val = append(val, rows[:nv]...)
		train = append(train, rows[nv:]...)
	}
	return train, val
}

// write splits the rows and writes the four datasets (per pool with
// --pools) and the reports.
func (b *builder) write(rep *Report) error {
	type part struct {
		dir        string // "" or the pool's folder
		train, val []*candidate
	}
	var parts []part
	if len(b.pools) == 0 {
		train, val := b.split(func(*candidate) bool { return true })
		parts = append(parts, part{"", train, val})
	} else {
		pool := b.assignPools(b.pools)
		for i, p := range b.pools {
			train, val := b.split(func(c *candidate) bool { return pool[c] == i })
			if p.Name == EvalPool {
				// Held out: nothing trains on it, so all of it is val,
				// where eval reads a folder with splits.
				train, val = nil, append(train, val...)
			}
			parts = append(parts, part{p.Name, train, val})
			pr := PoolReport{Name: p.Name, SharePct: round2(100 * p.Share), TrainRows: int64(len(train)), ValRows: int64(len(val)), Tasks: map[string]int64{}}
			for _, c := range append(slices.Clone(train), val...) {
				pr.Tasks[c.task]++
			}
			pr.Rows = pr.TrainRows + pr.ValRows
			if pr.Rows == 0 {
				rep.Notes = append(rep.Notes, fmt.Sprintf("pool %s is empty: raise --total or its share", p.Name))
			}
			rep.Pools = append(rep.Pools, pr)
		}
	}
	order := func(rows []*candidate) {
		ok := func(c *candidate) uint64 { return mix64(c.key ^ 0x6f7264) }
		sort.Slice(rows, func(i, j int) bool { return ok(rows[i]) < ok(rows[j]) })
	}
	for _, p := range parts {
		order(p.train)
		order(p.val)
	}
	// Everything goes into a temporary folder that replaces Out only once
	// complete: a failure leaves Out as it was (or absent).
	created := atomicfile.Track(b.opts.Out)
	tmp, err := atomicfile.TempDirFor(b.opts.Out)
	if err != nil {
		return err
	}
	meta := map[string]string{"seed": strconv.FormatInt(b.opts.Seed, 10), "mix": b.opts.Mix, "total": strconv.FormatInt(b.opts.Total, 10)}
	wopts := dataset.WriterOptions{RowsPerShard: b.opts.RowsPerShard, Meta: meta}
	rep.TrainRows, rep.ValRows = 0, 0
	for _, p := range parts {
		rep.TrainRows += int64(len(p.train))
		rep.ValRows += int64(len(p.val))
	}
	err = func() error {
		for _, p := range parts {
			for split, rows := range map[string][]*candidate{"train": p.train, "val": p.val} {
				// The held-out eval pool keeps every row's reference: a
				// gold judge compares answers with it on every task.
				allRefs := p.dir == EvalPool
				if err := writeRows[dataset.Prompt](filepath.Join(tmp, p.dir, "prompts", split), wopts, rows, b, allRefs); err != nil {
					return err
				}
				if err := writeRows[dataset.SFT](filepath.Join(tmp, p.dir, "sft", split), wopts, rows, b, false); err != nil {
					return err
				}
			}
		}
		if err := rep.write(tmp); err != nil {
			return err
		}
		return atomicfile.ReplaceDir(tmp, b.opts.Out)
	}()
	if err != nil {
		os.RemoveAll(tmp)
		created.RemoveEmptyParents()
	}
	return err
}

// Dest is the destination of Run (see atomicfile.Dest): a missing or empty
// folder, or the folder of an earlier run (with report.json), which is
// replaced; never one of inputs (the sources, a mix file, a templates
// folder).
func Dest(out string, inputs ...string) atomicfile.Dest {
	return atomicfile.Dest{Path: out, What: "build-prompts output", Inputs: inputs, Ours: func(p string) bool {
		st, err := os.Stat(filepath.Join(p, "report.json"))
		return err == nil && st.Mode().IsRegular()
	}}
}

// dest is Run's destination with its inputs: the sources' paths (each
// file a glob matches), a mix file and the templates folder.
func (b *builder) dest() atomicfile.Dest {
	var inputs []string
	for _, s := range b.sources {
		inputs = append(inputs, s.Path)
		if matches, err := filepath.Glob(s.Path); err == nil {
			inputs = append(inputs, matches...)
		}
	}
	switch b.opts.Mix {
	case "", "instructgpt", "uniform", "natural":
	default:
		inputs = append(inputs, b.opts.Mix)
	}
	inputs = append(inputs, b.opts.Templates)
	return Dest(b.opts.Out, inputs...)
}

// referenceTasks are the tasks whose demonstration is a checkable answer
// (every task's in the eval pool, whose prompts are only evaluated on)
// (a passage's answer, the extracted items, the class label): their prompt
// rows carry it as the reference for rule rewards (rlhf ppo --reward-fn).
var referenceTasks = map[string]bool{"closed_qa": true, "extract": true, "classification": true}

func writeRows[T dataset.Record](dir string, opts dataset.WriterOptions, rows []*candidate, b *builder, allRefs bool) error {
	w, err := dataset.Create[T](dir, opts)
	if err != nil {
		return err
	}
	defer w.Abort()
	const batch = 4096
	buf := make([]T, 0, batch)
	for i, c := range rows {
		var row any
		src := b.sources[c.src].Name
		switch any(*new(T)).(type) {
		case dataset.Prompt:
			p := dataset.Prompt{Task: c.task, Lang: c.lang, Prompt: c.prompt, Source: src, Template: c.tmpl.ID, History: scrubHistory(c.history)}
			if referenceTasks[c.task] || allRefs {
				p.Reference = c.response
			}
			row = p
		case dataset.SFT:
			row = dataset.SFT{Task: c.task, Lang: c.lang, Prompt: c.prompt, Response: c.response, Source: src, Template: c.tmpl.ID, History: scrubHistory(c.history)}
		}
		buf = append(buf, row.(T))
		if len(buf) == batch || i == len(rows)-1 {
			if err := w.Write(buf...); err != nil {
				return fmt.Errorf("write %s: %w", dir, err)
			}
			buf = buf[:0]
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return nil
}

func (c *candidate) repeated() bool { return c.rep > 0 }
