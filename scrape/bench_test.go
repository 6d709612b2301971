package scrape

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCrawl2000Pages crawls a 2,000-page loopback site with zero delay
// and parallelism 8, state and dataset on disk as in a real crawl. It
// reports pages/s; measure peak RSS with /usr/bin/time -v on the test binary.
func BenchmarkCrawl2000Pages(b *testing.B) {
	const pages = 2000
	srv := httptest.NewServer(genSite(pages))
	defer srv.Close()
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		o := testOptions(b, "baike", srv.URL+"/item/e0")
		o.Out = filepath.Join(b.TempDir(), "qa")
		o.Parallelism = 8
		start := time.Now()
		stats, err := Run(context.Background(), o)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if stats.PagesOK != pages || stats.RowsWritten != pages {
			b.Fatalf("crawled %d pages, %d rows; want %d", stats.PagesOK, stats.RowsWritten, pages)
		}
	}
	b.ReportMetric(float64(pages*b.N)/elapsed.Seconds(), "pages/s")
}
