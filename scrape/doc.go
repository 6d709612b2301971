// Package scrape holds rlhf's polite, resumable crawler: it fetches
// encyclopedia (Baike-style), question-and-answer (Zhihu-style) and generic
// pages with github.com/gocolly/colly/v2 and turns them into open-QA rows
// (dataset.QA) written as a resumable Parquet dataset.
//
// The pieces, one file each:
//
//   - Options (options.go): every tunable of a crawl, with meaning, unit and
//     default; Run(ctx, opts) is the entry point the CLI and tests call.
//   - Profile (profile.go): what a site looks like: which URLs are entries,
//     which links to follow and CSS selectors (alternatives, first match
//     wins) for each field. Built-in profiles "baike", "zhihu" and "generic";
//     user profiles are YAML files (docs/scrape.md).
//   - Extraction (extract.go, zhihu.go, text.go): HTML to rows, text
//     cleaning, language detection.
//   - Categories (category.go): keyword rules that tag rows "brainstorming"
//     or "open_qa".
//   - State (state.go): the bbolt store holding the URL set, the frontier,
//     row ids and counters, so a killed crawl continues where it stopped.
//   - The crawler (crawl.go, fetch.go): scheduling, retries, robots.txt,
//     size and redirect limits, flushing rows durably.
//   - Stats (stats.go): the counters printed at the end and saved as
//     _crawl_stats.json beside the dataset manifest.
//
// Naming: a "page" is one fetched URL, an "entry" a page that yields rows,
// a "row" one dataset.QA record; "frontier" is the set of URLs queued but not
// yet done.
package scrape
