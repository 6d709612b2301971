package scrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/scrape/demosite"
)

// hits counts requests per path.
type hits struct {
	mu sync.Mutex
	n  map[string]int
	at map[string][]time.Time
}

func (h *hits) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		if h.n == nil {
			h.n, h.at = map[string]int{}, map[string][]time.Time{}
		}
		h.n[r.URL.Path]++
		h.at[r.URL.Path] = append(h.at[r.URL.Path], time.Now())
		h.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (h *hits) get(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[path]
}

func (h *hits) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := 0
	for _, n := range h.n {
		t += n
	}
	return t
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "scrape", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// testSite serves the demo site plus the edge cases of testdata/scrape/hub.html.
type testSite struct {
	srv, offsite *httptest.Server
	hits, offHit hits
}

func newTestSite(t testing.TB) *testSite {
	ts := &testSite{}
	ts.offsite = httptest.NewServer(ts.offHit.wrap(demosite.Handler()))
	t.Cleanup(ts.offsite.Close)
	hub := strings.ReplaceAll(string(readFixture(t, "hub.html")), "OFFSITE_URL", ts.offsite.URL)
	flaky := readFixture(t, "flaky.html")
	var flakyN sync.Mutex
	flakyCalls := 0
	big := strings.Repeat("<div class=\"para\">很长的段落。</div>\n", 20000) // ~0.5 MB
	mux := http.NewServeMux()
	mux.Handle("/", demosite.Handler())
	mux.HandleFunc("/test/hub", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, hub)
	})
	mux.HandleFunc("/item/flaky", func(w http.ResponseWriter, _ *http.Request) {
		flakyN.Lock()
		flakyCalls++
		first := flakyCalls == 1
		flakyN.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(flaky)
	})
	mux.HandleFunc("/item/broken", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/item/loop-a", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/item/loop-b", http.StatusFound)
	})
	mux.HandleFunc("/item/loop-b", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/item/loop-a", http.StatusFound)
	})
	mux.HandleFunc("/item/huge-declared", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		io.WriteString(w, big)
	})
	mux.HandleFunc("/item/huge-chunked", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		for i := 0; i < 4; i++ { // flushing first forces chunked encoding: no Content-Length
			io.WriteString(w, big[:len(big)/4])
			w.(http.Flusher).Flush()
		}
	})
	ts.srv = httptest.NewServer(ts.hits.wrap(mux))
	t.Cleanup(ts.srv.Close)
	return ts
}

func testOptions(t testing.TB, site string, seeds ...string) Options {
	o := DefaultOptions()
	o.Site = site
	o.Seeds = seeds
	o.Out = filepath.Join(t.TempDir(), "qa")
	o.Delay = 0
	o.Parallelism = 4
	o.Timeout = 10 * time.Second
	o.RetryBase = 10 * time.Millisecond
	o.RetryMax = 3 * time.Second
	o.MaxBodySize = 128 << 10
	return o
}

func rowsByURL(t testing.TB, dir string) map[string][]dataset.QA {
	t.Helper()
	rows, err := dataset.ReadAll[dataset.QA](dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]dataset.QA{}
	for _, r := range rows {
		u := r.URL[strings.Index(r.URL[8:], "/")+8:]
		out[u] = append(out[u], r)
	}
	return out
}

func TestCrawlBaikeBothGenerationsAndEdgeCases(t *testing.T) {
	ts := newTestSite(t)
	o := testOptions(t, "baike", ts.srv.URL+"/test/hub", ts.srv.URL+"/")
	start := time.Now()
	stats, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsByURL(t, o.Out)

	// Legacy markup: title from dd.lemmaWgt-lemmaTitle-title > h1, summary
	// as answer, body paragraphs as context, citation marks stripped.
	legacy := rows["/item/changcheng"]
	if len(legacy) != 1 {
		t.Fatalf("legacy entry: %d rows, want 1", len(legacy))
	}
	if r := legacy[0]; r.Title != "长城" || !strings.Contains(r.Question, "长城") ||
		r.Answer != "长城是中国古代修建的大型军事防御工程，由城墙、关隘和烽火台组成，总长度超过两万千米。" ||
		!strings.HasPrefix(r.Context, "最早的长城修建于春秋战国时期") || strings.Contains(r.Context, "[2]") ||
		strings.Contains(r.Context, "编辑") || r.Lang != "zh" || r.Category != "open_qa" || r.Site != "baike" {
		t.Errorf("legacy row wrong: %+v", r)
	}
	if r := rows["/item/go-language"]; len(r) != 1 || r[0].Lang != "en" || r[0].Question == "" || !strings.Contains(r[0].Question, "Go (programming language)") {
		t.Errorf("English legacy row wrong: %+v", r)
	}
	// Current markup: hashed class names, J-* hooks.
	cur := rows["/item/jieqi"]
	if len(cur) != 1 {
		t.Fatalf("current entry: %d rows, want 1", len(cur))
	}
	if r := cur[0]; r.Title != "二十四节气" || r.Answer != "二十四节气是中国古代根据太阳在黄道上的位置划分的二十四个时段，用来指导农事安排。" ||
		strings.Count(r.Context, "\n") != 2 || strings.Contains(r.Context, "[") || strings.Contains(r.Context, "PAGE_DATA") {
		t.Errorf("current row wrong: %+v", r)
	}
	// Every entry of the demo site yields exactly one row; no question
	// pages in the baike profile.
	s, _ := demosite.Load()
	for _, e := range s.Entries {
		if len(rows["/item/"+e.Slug]) != 1 {
			t.Errorf("entry %s: %d rows, want 1", e.Slug, len(rows["/item/"+e.Slug]))
		}
	}
	for u := range rows {
		if strings.HasPrefix(u, "/question/") {
			t.Errorf("baike profile made rows from %s", u)
		}
	}

	// GBK page declared only in <meta>: decoded correctly.
	if r := rows["/item/yuebing"]; len(r) != 1 || r[0].Title != "月饼" || !strings.HasPrefix(r[0].Answer, "月饼是中秋节的传统糕点") {
		t.Errorf("GBK row wrong: %+v", r)
	}
	// robots.txt: the disallowed draft is never requested.
	if n := ts.hits.get("/private/draft"); n != 0 {
		t.Errorf("/private/draft requested %d times despite robots.txt", n)
	}
	if stats.SkippedRobots != 1 {
		t.Errorf("skipped_robots = %d, want 1", stats.SkippedRobots)
	}
	// Off-site and non-http links are never requested.
	if n := ts.offHit.total(); n != 0 {
		t.Errorf("off-site server got %d requests", n)
	}
	if stats.OffsiteLinks < 2 {
		t.Errorf("offsite_links = %d, want >= 2", stats.OffsiteLinks)
	}
	// 429 then 200: captured after waiting Retry-After.
	if r := rows["/item/flaky"]; len(r) != 1 || r[0].Title != "限流" {
		t.Errorf("flaky page rows: %+v", r)
	}
	ts.hits.mu.Lock()
	at := ts.hits.at["/item/flaky"]
	ts.hits.mu.Unlock()
	if len(at) != 2 || at[1].Sub(at[0]) < 900*time.Millisecond {
		t.Errorf("flaky page fetched at %v: want 2 tries at least 1 s apart (Retry-After)", at)
	}
	// Permanent 500: 1 + Retries tries, then counted.
	if n := ts.hits.get("/item/broken"); n != 1+o.Retries {
		t.Errorf("/item/broken requested %d times, want %d", n, 1+o.Retries)
	}
	if stats.FailedAfterRetries != 1 || stats.ErrorsByKind["http_500"] != int64(1+o.Retries) || stats.ErrorsByKind["http_429"] != 1 {
		t.Errorf("failed_after_retries = %d, errors = %v", stats.FailedAfterRetries, stats.ErrorsByKind)
	}
	// Redirect loop: detected and counted, not followed forever.
	if stats.RedirectLoops != 1 || ts.hits.get("/item/loop-a") > 2 {
		t.Errorf("redirect_loops = %d, loop-a hits %d", stats.RedirectLoops, ts.hits.get("/item/loop-a"))
	}
	// Oversized pages (declared and chunked): skipped and counted.
	if stats.TooLarge != 2 || len(rows["/item/huge-declared"])+len(rows["/item/huge-chunked"]) != 0 {
		t.Errorf("too_large = %d, want 2", stats.TooLarge)
	}
	if stats.Frontier != 0 || stats.Interrupted {
		t.Errorf("crawl not complete: %+v", stats)
	}
	// Stats file beside the manifest.
	raw, err := os.ReadFile(filepath.Join(o.Out, StatsFileName))
	if err != nil || !strings.Contains(string(raw), `"too_large": 2`) {
		t.Errorf("stats file: %v %s", err, raw)
	}
	if stats.RowsWritten != int64(len(s.Entries)+2) {
		t.Errorf("rows_written = %d, want %d", stats.RowsWritten, len(s.Entries)+2)
	}
	t.Logf("crawl took %v: %+v", time.Since(start), stats.Counters)

	// A rerun of the finished crawl fetches nothing and adds no rows.
	before := ts.hits.total()
	stats2, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if ts.hits.total() != before || stats2.RowsWritten != stats.RowsWritten {
		t.Errorf("rerun of a finished crawl made %d requests, rows %d -> %d", ts.hits.total()-before, stats.RowsWritten, stats2.RowsWritten)
	}
}

func TestCrawlZhihuEmbeddedJSONAndDOM(t *testing.T) {
	ts := newTestSite(t)
	o := testOptions(t, "zhihu", ts.srv.URL+"/")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	rows := rowsByURL(t, o.Out)
	votes := func(rs []dataset.QA) []int64 {
		var v []int64
		for _, r := range rs {
			if r.Votes == nil {
				v = append(v, -1)
			} else {
				v = append(v, *r.Votes)
			}
		}
		sort.Slice(v, func(i, j int) bool { return v[i] > v[j] })
		return v
	}
	// With embedded JSON: all three answers (the DOM shows two) with exact
	// vote counts.
	q1 := rows["/question/1001"]
	if got := fmt.Sprint(votes(q1)); got != "[12345 860 42]" {
		t.Errorf("JSON question votes = %s, want [12345 860 42]", got)
	}
	for _, r := range q1 {
		if r.Question != "学习围棋有哪些好的入门方法？" || r.Context != "完全零基础，想利用业余时间学围棋。" || r.Category != "brainstorming" || r.Lang != "zh" {
			t.Errorf("JSON row wrong: %+v", r)
		}
	}
	// Without JSON: DOM answers, votes parsed from "赞同 2.1 万".
	q2 := rows["/question/1002"]
	if got := fmt.Sprint(votes(q2)); got != "[21000 1500]" {
		t.Errorf("DOM question votes = %s, want [21000 1500]", got)
	}
	if len(q2) > 0 && (q2[0].Question != "为什么大熊猫是黑白色的？" || q2[0].Category != "open_qa" || !strings.Contains(q2[0].Answer, "伪装")) {
		t.Errorf("DOM row wrong: %+v", q2[0])
	}
	if q3 := rows["/question/1003"]; len(q3) != 2 || q3[0].Lang != "en" || q3[0].Category != "brainstorming" {
		t.Errorf("English question rows: %+v", q3)
	}

	// --min-votes and --max-answers-per-question.
	o2 := testOptions(t, "zhihu", ts.srv.URL+"/")
	o2.MinVotes, o2.MaxAnswersPerQuestion = 100, 1
	if _, err := Run(context.Background(), o2); err != nil {
		t.Fatal(err)
	}
	rows = rowsByURL(t, o2.Out)
	if got := fmt.Sprint(votes(rows["/question/1001"]), votes(rows["/question/1002"]), votes(rows["/question/1003"])); got != "[12345] [21000] [3400]" {
		t.Errorf("filtered votes = %s", got)
	}
}

// genSite is a site of n legacy-markup entries linking to each other.
func genSite(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			io.WriteString(w, "User-agent: *\nDisallow: /private/\n")
			return
		}
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/item/e%d", &i); err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>条目%d</title></head><body>
<div class="main-content"><dl><dd class="lemmaWgt-lemmaTitle-title"><h1>条目%d</h1></dd></dl>
<div class="lemma-summary"><div class="para">条目%d是测试站点中的第%d个词条，用于检验爬虫的续传与吞吐。<sup>[1]</sup></div></div>
<div class="para">它链接到后面的几个词条，也链接回第一个词条。</div>
`, i, i, i, i)
		for _, j := range []int{i + 1, i + 2, 2*i + 1, 0} {
			if j < n {
				fmt.Fprintf(w, "<div class=\"para\"><a href=\"/item/e%d\">条目%d</a></div>\n", j, j)
			}
		}
		io.WriteString(w, "</div></body></html>\n")
	})
}

func idSet(t testing.TB, dir string) map[string]bool {
	t.Helper()
	rows, err := dataset.ReadAll[dataset.QA](dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rows {
		if ids[r.ID] {
			t.Errorf("duplicate row id %s (%s)", r.ID, r.URL)
		}
		ids[r.ID] = true
	}
	return ids
}

func TestResumeAfterInterruptEqualsUninterrupted(t *testing.T) {
	const pages = 300
	// One server for both crawls (row ids include the URL); the
	// interruption is armed only for the second crawl.
	var armed atomic.Bool
	var served atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && served.Add(1) == 120 {
			cancel() // interrupt part-way
		}
		genSite(pages).ServeHTTP(w, r)
	}))
	defer srv.Close()

	full := testOptions(t, "baike", srv.URL+"/item/e0")
	if _, err := Run(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	want := idSet(t, full.Out)
	if len(want) != pages {
		t.Fatalf("uninterrupted crawl: %d rows, want %d", len(want), pages)
	}

	armed.Store(true)
	o := testOptions(t, "baike", srv.URL+"/item/e0")
	o.FlushRows = 7 // several durable shards before the interruption
	stats, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) || stats == nil || !stats.Interrupted {
		t.Fatalf("interrupted run: err %v, stats %+v", err, stats)
	}
	partial := idSet(t, o.Out) // the interrupted run leaves a readable dataset
	if len(partial) == 0 || len(partial) >= pages {
		t.Fatalf("interrupted run wrote %d rows, want some but not all", len(partial))
	}
	stats, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	got := idSet(t, o.Out)
	for id := range partial {
		if !got[id] {
			t.Errorf("row %s written before the interruption was lost", id)
		}
	}
	if len(got) != len(want) || stats.RowsWritten != int64(pages) {
		t.Errorf("resumed crawl: %d rows (stats %d), want %d", len(got), stats.RowsWritten, len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("resumed crawl lacks row %s", id)
		}
	}
	if stats.PagesOK != int64(pages) {
		t.Errorf("pages_ok over both runs = %d, want %d", stats.PagesOK, pages)
	}
}
