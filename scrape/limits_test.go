package scrape

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/scrape/demosite"
)

func TestMaxPagesAndMaxDepth(t *testing.T) {
	var h hits
	srv := httptest.NewServer(h.wrap(genSite(300)))
	defer srv.Close()
	o := testOptions(t, "baike", srv.URL+"/item/e0")
	o.MaxPages = 20
	stats, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if stats.PagesOK != 20 || stats.RowsWritten != 20 || stats.Frontier == 0 {
		t.Errorf("--max-pages 20: %d pages, %d rows, %d queued", stats.PagesOK, stats.RowsWritten, stats.Frontier)
	}
	// The budget counts over runs: a rerun with the same limit fetches nothing.
	before := h.total()
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if h.total() != before {
		t.Errorf("rerun with the budget spent made %d requests", h.total()-before)
	}

	// A state made with one profile refuses another.
	o.Site = "zhihu"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "Site baike") {
		t.Errorf("profile change on an existing state: %v", err)
	}

	d := testOptions(t, "baike", srv.URL+"/item/e0")
	d.MaxDepth = 1 // e0 links to e1, e2 (and itself)
	stats, err = Run(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if stats.PagesOK != 3 {
		t.Errorf("--max-depth 1: %d pages, want 3", stats.PagesOK)
	}
}

func TestDuplicateContentAndIgnoreRobots(t *testing.T) {
	var h hits
	mux := http.NewServeMux()
	mux.Handle("/", demosite.Handler())
	mux.HandleFunc("/item/mirror", func(w http.ResponseWriter, r *http.Request) {
		// The same entry under another URL: an exact duplicate by content.
		rec := httptest.NewRecorder()
		demosite.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/item/changcheng", nil))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, rec.Body.String()+`<a href="/item/changcheng">back</a>`)
	})
	srv := httptest.NewServer(h.wrap(mux))
	defer srv.Close()
	o := testOptions(t, "baike", srv.URL+"/item/mirror", srv.URL+"/")
	o.IgnoreRobots = true
	stats, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if stats.RowsDuplicate != 1 {
		t.Errorf("rows_duplicate = %d, want 1", stats.RowsDuplicate)
	}
	n := 0
	for _, r := range rowsByURL(t, o.Out) {
		for _, row := range r {
			if row.Title == "长城" {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("%d rows for the duplicated entry, want 1", n)
	}
	if h.get("/private/draft") != 1 || h.get("/robots.txt") != 0 {
		t.Errorf("--ignore-robots: draft hits %d, robots.txt hits %d", h.get("/private/draft"), h.get("/robots.txt"))
	}
}

// TestNegativeOptionsAreErrors: a negative delay (which made colly panic in
// rand.Int63n) or another negative setting is an error naming it, before
// any request; zero still means the default for library callers.
func TestNegativeOptionsAreErrors(t *testing.T) {
	var h hits
	srv := httptest.NewServer(h.wrap(genSite(3)))
	defer srv.Close()
	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Delay = -time.Second }, "Delay -1s"},
		{func(o *Options) { o.Parallelism = -3 }, "Parallelism -3"},
		{func(o *Options) { o.Timeout = -time.Second }, "Timeout -1s"},
		{func(o *Options) { o.MaxBodySize = -1 }, "MaxBodySize -1"},
		{func(o *Options) { o.RetryBase = -time.Second }, "RetryBase -1s"},
		{func(o *Options) { o.RetryMax = -time.Second }, "RetryMax -1s"},
		{func(o *Options) { o.FlushRows = -1 }, "FlushRows -1"},
		{func(o *Options) { o.FlushInterval = -time.Second }, "FlushInterval -1s"},
		{func(o *Options) { o.MaxAnswersPerQuestion = -1 }, "MaxAnswersPerQuestion -1"},
		{func(o *Options) { o.MinAnswerChars = -1 }, "MinAnswerChars -1"},
		{func(o *Options) { o.MaxAnswerChars = -1 }, "MaxAnswerChars -1"},
		{func(o *Options) { o.RowsPerShard = -1 }, "RowsPerShard -1"},
	} {
		o := testOptions(t, "baike", srv.URL+"/item/e0")
		tc.edit(&o)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", tc.want, p)
				}
			}()
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		}()
	}
	if n := h.total(); n != 0 {
		t.Errorf("%d requests were made with invalid options", n)
	}
}
