package scrape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	bolt "go.etcd.io/bbolt"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
)

// Run crawls from opts.Seeds and appends the rows to the qa dataset in
// opts.Out, continuing the state in opts.State when there is one. It writes
// _crawl_stats.json beside the manifest and returns the stats. When ctx is
// cancelled it stops fetching, publishes every row already extracted,
// closes the dataset and returns the stats with an error wrapping
// ctx.Err(); rerunning the same options continues the crawl.
//
// Out may be missing, an empty folder, a qa dataset or the folder of an
// interrupted crawl (see Dest); anything else is refused before anything
// is written. When the run fails before the crawl starts, what it created
// at Out (and at State) is removed again.
func Run(ctx context.Context, opts Options) (_ *Stats, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := Dest(o).Check(); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	prof, err := LoadProfile(o.Site)
	if err != nil {
		return nil, err
	}
	cats, err := LoadCategorizer(o.CategoriesFile)
	if err != nil {
		return nil, err
	}
	crawling := false
	createdOut, createdState := atomicfile.Track(o.Out), atomicfile.Track(o.State)
	defer func() {
		// Deferred before the state is opened, so it runs after st.close.
		if err != nil && !crawling {
			createdState.Undo()
			createdOut.Undo()
		}
	}()
	if o.IgnoreRobots {
		slog.Warn("robots.txt is ignored (--ignore-robots): make sure the site owners allow this crawl")
	}
	if o.UserAgent == DefaultUserAgent && !o.Offline {
		slog.Info("using the default user agent; set --user-agent to name a contact address", "user_agent", o.UserAgent)
	}
	st, err := openState(o.State)
	if err != nil {
		return nil, err
	}
	defer st.close()
	if err := st.checkSite(o.State, o.Site); err != nil {
		return nil, err
	}
	w, err := dataset.Create[dataset.QA](o.Out, dataset.WriterOptions{
		Append: true, RowsPerShard: o.RowsPerShard,
		Meta: map[string]string{"site": prof.Name, "seeds": strings.Join(o.Seeds, " ")},
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	if err := indexShards(st, o.Out); err != nil {
		return nil, err
	}
	err = st.db.Update(func(tx *bolt.Tx) error {
		for _, s := range o.Seeds {
			if _, err := st.enqueue(tx, normalizeURL(s), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("crawl state: %w", err)
	}
	f, err := newFetcher(ctx, o)
	if err != nil {
		return nil, err
	}
	cr := &crawler{
		opts: o, prof: prof, st: st, w: w, f: f,
		x: &Extractor{Profile: prof, Categories: cats, MinVotes: o.MinVotes, MaxAnswers: o.MaxAnswersPerQuestion,
			MinAnswerChars: o.MinAnswerChars, MaxAnswerChars: o.MaxAnswerChars},
	}
	start := time.Now()
	crawling = true
	runPages, err := cr.run(ctx)
	if err != nil {
		return nil, err
	}
	stats := &Stats{Counters: cr.total, Site: prof.Name, Seeds: o.Seeds, Frontier: st.frontierLen(),
		RunPages: runPages, RunSeconds: time.Since(start).Seconds(), FinishedAt: time.Now().UTC()}
	stats.Interrupted = ctx.Err() != nil && stats.Frontier > 0
	if stats.RunSeconds > 0 {
		stats.PagesPerSecond = float64(runPages) / stats.RunSeconds
	}
	if w.Rows() == 0 && !stats.Interrupted {
		// Nothing to publish: a 0-row dataset would pass for a crawl's
		// result. The stats stay beside the state to explain it.
		w.Abort()
		if err := writeStats(o.Out, stats); err != nil {
			return stats, err
		}
		return stats, cr.noRows(stats)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := writeStats(o.Out, stats); err != nil {
		return stats, err
	}
	if stats.Interrupted {
		return stats, fmt.Errorf("crawl interrupted with %d pages queued; rerun the same command to continue: %w", stats.Frontier, ctx.Err())
	}
	return stats, nil
}

// Dest is the destination of a crawl with options o (defaults filled; see
// atomicfile.Dest). The crawl appends to Out, so Out may be missing, an empty
// folder, a qa dataset, or the folder of an interrupted crawl: no manifest,
// and nothing but shards (part-*.parquet), names starting with "_" or "."
// (the state, the stats, temporary files) and the state and cache folders
// when they are inside Out. The site profile and categories files are
// inputs.
func Dest(o Options) atomicfile.Dest {
	var inputs []string
	if _, builtin := builtinProfiles[o.Site]; !builtin {
		inputs = append(inputs, o.Site)
	}
	inputs = append(inputs, o.CategoriesFile)
	own := map[string]bool{}
	for _, p := range []string{o.State, o.CacheDir} {
		if rel, err := filepath.Rel(o.Out, p); p != "" && err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			own[strings.Split(filepath.ToSlash(rel), "/")[0]] = true
		}
	}
	return atomicfile.Dest{Path: o.Out, What: "qa dataset", Inputs: inputs, Ours: func(dir string) bool {
		if _, err := dataset.ReadManifest(dir); err == nil {
			return dataset.IsKind(dir, dataset.KindQA)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return false
		}
		for _, e := range entries {
			n := e.Name()
			shard, _ := filepath.Match("part-*.parquet", n)
			if !shard && !own[n] && !strings.HasPrefix(n, "_") && !strings.HasPrefix(n, ".") {
				return false
			}
		}
		return true
	}}
}

// noRows is the error of a crawl that wrote no row: the page counts, the
// first page that failed (or gave no row) and why, and how to start over.
func (cr *crawler) noRows(s *Stats) error {
	var counts []string
	add := func(n int64, what string) {
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.PagesOK, "ok")
	add(s.FailedAfterRetries, "failed after retries")
	add(s.HTTPErrors, "HTTP errors")
	add(s.SkippedRobots, "skipped by robots.txt")
	add(s.TooLarge, "too large")
	add(s.RedirectLoops, "redirect loops")
	add(s.NotCached, "not cached")
	add(s.NonHTML, "not HTML")
	add(s.RowsDuplicate, "duplicate rows dropped")
	msg := fmt.Sprintf("no rows from %d pages (%s)", s.pagesFinished(), strings.Join(counts, ", "))
	switch {
	case cr.firstFailure != "":
		msg += "; the first failure: " + cr.firstFailure
	case cr.firstEmpty != "":
		msg += fmt.Sprintf("; the site profile %s found no question and answer in %s", cr.prof.Name, cr.firstEmpty)
	}
	if s.Frontier > 0 {
		msg += fmt.Sprintf("; %d pages are still queued: rerun to continue", s.Frontier)
	} else {
		msg += fmt.Sprintf("; the crawl state %s holds these pages as done: remove it to fetch them again", cr.opts.State)
	}
	return errors.New(msg)
}

// failure says why a page gave no row.
func failure(r result) string {
	switch r.f.outcome {
	case outOK:
		return ""
	case outRobots:
		return r.t.url + ": disallowed by robots.txt"
	case outTooLarge:
		return r.t.url + ": larger than the body size limit"
	case outRedirectLoop:
		return r.t.url + ": redirect loop"
	case outNotCached:
		return r.t.url + ": not in the cache (offline)"
	case outNonHTML:
		return fmt.Sprintf("%s: content type %q is not HTML", r.t.url, r.f.contentType)
	}
	why := ""
	if r.f.status != 0 {
		why = fmt.Sprintf("HTTP %d", r.f.status)
	}
	if r.f.lastErr != nil && (r.f.status == 0 || !strings.Contains(r.f.lastErr.Error(), http.StatusText(r.f.status))) {
		if why != "" {
			why += ": "
		}
		why += r.f.lastErr.Error()
	}
	if r.f.outcome == outFailed {
		return fmt.Sprintf("%s: %s (%d tries)", r.t.url, why, r.f.retries+1)
	}
	return r.t.url + ": " + why
}

// normalizeURL drops the fragment so one page has one key.
func normalizeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// indexShards records the ids and content hashes of dataset shards the
// state has not seen yet: rows published just before a crash whose state
// update was lost, or every shard when the state is new. Reruns then skip
// those rows instead of writing them twice.
func indexShards(st *state, dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil {
		return err
	}
	for _, name := range names {
		base := filepath.Base(name)
		known := false
		st.db.View(func(tx *bolt.Tx) error { known = has(tx, bucketShards, base); return nil })
		if known {
			continue
		}
		rows, err := dataset.ReadAll[dataset.QA](name)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		err = st.db.Update(func(tx *bolt.Tx) error {
			for _, r := range rows {
				if err := put(tx, bucketIDs, r.ID); err != nil {
					return err
				}
				if err := put(tx, bucketSHAs, r.ContentSHA256); err != nil {
					return err
				}
			}
			return put(tx, bucketShards, base)
		})
		if err != nil {
			return fmt.Errorf("crawl state: %w", err)
		}
	}
	return nil
}

// crawler is the state of one run.
type crawler struct {
	opts Options
	prof *Profile
	x    *Extractor
	st   *state
	w    *dataset.Writer[dataset.QA]
	f    *fetcher

	// total are the counters made durable so far (all runs).
	total Counters
	// Pages finished this run whose rows are written but not yet flushed,
	// with their counters, row ids and hashes.
	pending         []task
	pendingCounters Counters
	pendingIDs      map[string]bool
	pendingSHAs     map[string]bool
	pendingRows     int
	lastFlush       time.Time
	exhausted       bool
	bar             *progress.Bar
	// firstFailure is the first page of this run that failed and why;
	// firstEmpty the first fetched page that gave no row.
	firstFailure, firstEmpty string
}

// result is one processed page.
type result struct {
	t     task
	f     fetched
	rows  []dataset.QA
	links []string
}

func (cr *crawler) process(ctx context.Context, t task) result {
	r := result{t: t, f: cr.f.fetch(ctx, t.url)}
	if r.f.outcome != outOK {
		return r
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.f.body))
	r.f.body = nil
	if err != nil {
		r.f.outcome, r.f.errorKinds["parse"] = outHTTPError, 1
		return r
	}
	if cr.opts.MaxDepth == 0 || t.depth < cr.opts.MaxDepth {
		r.links = Links(doc, r.f.finalURL)
	}
	r.rows = cr.x.Extract(doc, t.url, time.Now())
	return r
}

// run is the scheduler: it feeds frontier pages to the workers, records
// their results and flushes rows and state. It returns the number of pages
// finished in this run.
func (cr *crawler) run(ctx context.Context) (int64, error) {
	o := cr.opts
	var err error
	if cr.total, err = cr.st.loadCounters(); err != nil {
		return 0, fmt.Errorf("crawl state: %w", err)
	}
	cr.pendingIDs, cr.pendingSHAs = map[string]bool{}, map[string]bool{}
	cr.lastFlush = time.Now()
	total := int64(-1)
	if o.MaxPages > 0 {
		total = int64(o.MaxPages)
	}
	cr.bar = progress.New(ctx, total, "pages")
	if done := cr.total.pagesFinished(); done > 0 {
		cr.bar.Add(done)
	}
	defer cr.bar.Finish()

	workers := min(max(o.Parallelism*len(o.AllowedHosts), 1), 256)
	tasks := make(chan task, workers)
	results := make(chan result, workers)
	for range workers {
		go func() {
			for t := range tasks {
				results <- cr.process(ctx, t)
			}
		}()
	}
	defer close(tasks)

	var ready []task
	var lastKey []byte
	inflight, dispatched, finished := 0, int64(0), int64(0)
	budgetLeft := func() bool {
		return o.MaxPages == 0 || cr.total.pagesFinished()+cr.pendingCounters.pagesFinished()+int64(inflight) < int64(o.MaxPages)
	}
	done := ctx.Done()
	stopping := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for !stopping && inflight < workers && budgetLeft() {
			if len(ready) == 0 {
				if cr.exhausted {
					break
				}
				if ready, err = cr.st.nextTasks(lastKey, 256); err != nil {
					return finished, fmt.Errorf("crawl state: %w", err)
				}
				if len(ready) == 0 {
					cr.exhausted = true
					break
				}
				lastKey = ready[len(ready)-1].key
			}
			tasks <- ready[0]
			ready = ready[1:]
			inflight++
			dispatched++
		}
		if inflight == 0 {
			break // frontier empty, budget spent or stopping
		}
		select {
		case r := <-results:
			inflight--
			batch := []result{r}
		drain:
			for len(batch) < 256 {
				select {
				case r := <-results:
					inflight--
					batch = append(batch, r)
				default:
					break drain
				}
			}
			n, err := cr.record(batch)
			finished += n
			if err != nil {
				return finished, err
			}
		case <-tick.C:
		case <-done:
			stopping, done = true, nil
			slog.Info("stopping: waiting for requests in flight", "in_flight", inflight)
		}
		if cr.pendingRows >= o.FlushRows || len(cr.pending) >= 4096 || time.Since(cr.lastFlush) >= o.FlushInterval {
			if err := cr.flush(); err != nil {
				return finished, err
			}
		}
	}
	err = cr.flush()
	cr.bar.SetStatus(fmt.Sprintf("%d rows written, errors: %s", cr.total.RowsWritten, errorsSummary(cr.total.ErrorsByKind)))
	return finished, err
}

// record applies finished pages: queues their links, writes their new rows
// and counts their outcome. The pages stay in the frontier until flush.
func (cr *crawler) record(batch []result) (int64, error) {
	var finished int64
	err := cr.st.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			if r.f.outcome == outCancelled {
				continue // stays queued for the next run
			}
			finished++
			if cr.firstFailure == "" {
				cr.firstFailure = failure(r)
			}
			if cr.firstEmpty == "" && r.f.outcome == outOK && len(r.rows) == 0 {
				cr.firstEmpty = r.t.url
			}
			c := &cr.pendingCounters
			c.Retries += r.f.retries
			for k, v := range r.f.errorKinds {
				if c.ErrorsByKind == nil {
					c.ErrorsByKind = map[string]int64{}
				}
				c.ErrorsByKind[k] += v
			}
			switch r.f.outcome {
			case outOK:
				c.PagesOK++
			case outRobots:
				c.SkippedRobots++
			case outTooLarge:
				c.TooLarge++
			case outRedirectLoop:
				c.RedirectLoops++
			case outFailed:
				c.FailedAfterRetries++
				slog.Debug("giving up", "url", r.t.url, "status", r.f.status, "err", r.f.lastErr)
			case outHTTPError:
				c.HTTPErrors++
			case outNotCached:
				c.NotCached++
			case outNonHTML:
				c.NonHTML++
			}
			for _, l := range r.links {
				u, err := url.Parse(l)
				if err != nil {
					continue
				}
				if (u.Scheme != "http" && u.Scheme != "https") || !contains(cr.opts.AllowedHosts, u.Host) {
					isNew, err := cr.st.markOffsite(tx, l)
					if err != nil {
						return err
					}
					if isNew {
						c.OffsiteLinks++
					}
					continue
				}
				if !cr.prof.ShouldFollow(l) {
					continue
				}
				isNew, err := cr.st.enqueue(tx, l, r.t.depth+1)
				if err != nil {
					return err
				}
				if isNew {
					cr.exhausted = false
				}
			}
			for _, row := range r.rows {
				if cr.pendingIDs[row.ID] || cr.pendingSHAs[row.ContentSHA256] ||
					has(tx, bucketIDs, row.ID) || has(tx, bucketSHAs, row.ContentSHA256) {
					c.RowsDuplicate++
					continue
				}
				if err := cr.w.Write(row); err != nil {
					return err
				}
				cr.pendingIDs[row.ID], cr.pendingSHAs[row.ContentSHA256] = true, true
				cr.pendingRows++
			}
			cr.pending = append(cr.pending, r.t)
		}
		return nil
	})
	if err != nil {
		return finished, fmt.Errorf("crawl state: %w", err)
	}
	cr.bar.Add(finished)
	cr.bar.SetStatus(fmt.Sprintf("%d rows written, %d pending, errors: %s",
		cr.total.RowsWritten, cr.pendingRows, errorsSummary(mergeKinds(cr.total.ErrorsByKind, cr.pendingCounters.ErrorsByKind))))
	return finished, nil
}

func mergeKinds(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// flush publishes the pending rows as a durable shard, then, in one state
// transaction, takes their pages off the frontier and records their row
// ids and counters. A crash between the two re-fetches those pages on the
// next run; their rows are then recognised (indexShards) and not repeated.
func (cr *crawler) flush() error {
	cr.lastFlush = time.Now()
	if len(cr.pending) == 0 {
		return nil
	}
	if err := cr.w.Flush(); err != nil {
		return err
	}
	next := cr.total
	next.add(cr.pendingCounters)
	next.RowsWritten += int64(cr.pendingRows)
	err := cr.st.db.Update(func(tx *bolt.Tx) error {
		for _, t := range cr.pending {
			if err := cr.st.done(tx, t); err != nil {
				return err
			}
		}
		for id := range cr.pendingIDs {
			if err := put(tx, bucketIDs, id); err != nil {
				return err
			}
		}
		for sha := range cr.pendingSHAs {
			if err := put(tx, bucketSHAs, sha); err != nil {
				return err
			}
		}
		return saveCounters(tx, next)
	})
	if err != nil {
		return fmt.Errorf("crawl state: %w", err)
	}
	cr.total = next
	cr.pending, cr.pendingCounters, cr.pendingRows = cr.pending[:0], Counters{}, 0
	clear(cr.pendingIDs)
	clear(cr.pendingSHAs)
	return nil
}
