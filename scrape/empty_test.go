package scrape

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestCrawlWithNoRowsIsAnError: an unreachable seed, or pages without a
// question the profile recognises, end with an error giving the counts and
// the first reason, and no dataset is published.
func TestCrawlWithNoRowsIsAnError(t *testing.T) {
	o := testOptions(t, "baike", "http://"+closedPort(t)+"/item/x")
	o.Retries = 0
	stats, err := Run(context.Background(), o)
	if err == nil {
		t.Fatal("unreachable seed: no error")
	}
	for _, w := range []string{"no rows", "1 pages", "1 failed", "/item/x", "refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("unreachable seed: error %q lacks %q", err, w)
		}
	}
	if stats == nil || stats.FailedAfterRetries != 1 {
		t.Errorf("stats %+v", stats)
	}
	if dataset.IsComplete(o.Out) {
		t.Errorf("%s was published with no rows", o.Out)
	}
	if _, err := os.Stat(filepath.Join(o.Out, StatsFileName)); err != nil {
		t.Errorf("no %s to explain the crawl: %v", StatsFileName, err)
	}

	// A page without any question or answer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html><body><p>nothing here</p></body></html>"))
	}))
	defer srv.Close()
	o = testOptions(t, "baike", srv.URL+"/item/empty")
	_, err = Run(context.Background(), o)
	if err == nil {
		t.Fatal("page without rows: no error")
	}
	for _, w := range []string{"no rows", "1 pages", "1 ok", "baike"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("page without rows: error %q lacks %q", err, w)
		}
	}
}
