package scrape

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// StatsFileName is written beside the dataset manifest.
const StatsFileName = "_crawl_stats.json"

// Counters are the crawl totals over all runs of one state.
type Counters struct {
	// PagesOK were fetched with a 2xx status and parsed.
	PagesOK int64 `json:"pages_ok"`
	// SkippedRobots were disallowed by robots.txt and never requested.
	SkippedRobots int64 `json:"skipped_robots"`
	// OffsiteLinks are distinct links to other hosts or non-http(s)
	// schemes, never requested (including off-site redirects).
	OffsiteLinks int64 `json:"offsite_links"`
	// TooLarge pages exceeded --max-body-size and were skipped.
	TooLarge int64 `json:"too_large"`
	// RedirectLoops are pages whose redirects looped or went on too long.
	RedirectLoops int64 `json:"redirect_loops"`
	// FailedAfterRetries gave 429, 5xx or network errors on every try.
	FailedAfterRetries int64 `json:"failed_after_retries"`
	// HTTPErrors are other non-2xx answers (404, 403...), not retried.
	HTTPErrors int64 `json:"http_errors"`
	// NotCached are pages missing from the cache in --offline mode.
	NotCached int64 `json:"not_cached"`
	// NonHTML are pages with a non-HTML content type.
	NonHTML int64 `json:"non_html"`
	// Retries counts retried requests.
	Retries int64 `json:"retries"`
	// RowsWritten are rows published in the dataset.
	RowsWritten int64 `json:"rows_written"`
	// RowsDuplicate were dropped as exact duplicates (same content_sha256
	// or id as an earlier row).
	RowsDuplicate int64 `json:"rows_duplicate"`
	// ErrorsByKind counts failed tries by kind (http_429, http_503,
	// network, timeout...).
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
}

func (c *Counters) add(o Counters) {
	c.PagesOK += o.PagesOK
	c.SkippedRobots += o.SkippedRobots
	c.OffsiteLinks += o.OffsiteLinks
	c.TooLarge += o.TooLarge
	c.RedirectLoops += o.RedirectLoops
	c.FailedAfterRetries += o.FailedAfterRetries
	c.HTTPErrors += o.HTTPErrors
	c.NotCached += o.NotCached
	c.NonHTML += o.NonHTML
	c.Retries += o.Retries
	c.RowsWritten += o.RowsWritten
	c.RowsDuplicate += o.RowsDuplicate
	for k, v := range o.ErrorsByKind {
		if c.ErrorsByKind == nil {
			c.ErrorsByKind = map[string]int64{}
		}
		c.ErrorsByKind[k] += v
	}
}

// pagesFinished is the number of pages that count against --max-pages.
func (c *Counters) pagesFinished() int64 {
	return c.PagesOK + c.SkippedRobots + c.TooLarge + c.RedirectLoops + c.FailedAfterRetries + c.HTTPErrors + c.NotCached + c.NonHTML
}

// Stats is the summary of a crawl, saved as _crawl_stats.json.
type Stats struct {
	Counters
	// Site is the profile name; Seeds the start URLs.
	Site  string   `json:"site"`
	Seeds []string `json:"seeds"`
	// Frontier is the number of pages still queued (0 when the crawl is
	// complete).
	Frontier int `json:"frontier"`
	// Interrupted is true when this run was cancelled before the frontier
	// was empty; rerun the same command to continue.
	Interrupted bool `json:"interrupted"`
	// RunPages and RunSeconds describe this run only; PagesPerSecond is
	// their ratio.
	RunPages       int64     `json:"run_pages"`
	RunSeconds     float64   `json:"run_seconds"`
	PagesPerSecond float64   `json:"pages_per_second"`
	FinishedAt     time.Time `json:"finished_at"`
}

func writeStats(dir string, s *Stats) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, StatsFileName), append(raw, '\n'), 0o644)
}

// Print writes the human summary.
func (s *Stats) Print(w io.Writer) {
	fmt.Fprintf(w, "crawl %s: %d pages ok, %d skipped by robots.txt, %d off-site links not followed, %d too large, %d redirect loops, %d failed after retries, %d other HTTP errors",
		s.Site, s.PagesOK, s.SkippedRobots, s.OffsiteLinks, s.TooLarge, s.RedirectLoops, s.FailedAfterRetries, s.HTTPErrors)
	if s.NotCached > 0 {
		fmt.Fprintf(w, ", %d not cached", s.NotCached)
	}
	fmt.Fprintf(w, "; %d rows written (%d duplicates dropped); %.1f pages/s this run", s.RowsWritten, s.RowsDuplicate, s.PagesPerSecond)
	if s.Interrupted {
		fmt.Fprintf(w, "; interrupted with %d pages queued: rerun the same command to continue", s.Frontier)
	}
	fmt.Fprintln(w)
}

func errorsSummary(m map[string]int64) string {
	if len(m) == 0 {
		return "no errors"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
