package cmd

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/scrape"
	"github.com/rlhf-project/rlhf/scrape/demosite"
)

func init() { register(newScrapeCmd) }

func newScrapeCmd() *cobra.Command {
	o := scrape.DefaultOptions()
	c := &cobra.Command{
		Use:   "scrape",
		Short: "Crawl Baike/Zhihu-style pages politely and resumably into an open-QA dataset",
		Long: `scrape crawls from --seed URLs with a site profile and writes open-QA rows
(dataset kind "qa") to --out, plus _crawl_stats.json beside the manifest.

robots.txt is obeyed unless --ignore-robots. Only the seeds' hosts are
requested. The crawl state lives under --state (default OUT/_state): kill the
process at any time and rerun the same command to continue without duplicate
or lost rows. Site profiles and their YAML format: docs/scrape.md.`,
		Example: `  rlhf scrape --site baike --seed https://baike.example/item/x --out data/qa --max-pages 50000
  rlhf scrape --site ./mysite.yaml --seed https://example.org/ --out data/qa-mysite --delay 2s
  rlhf scrape demo-site --addr 127.0.0.1:8089 &
  rlhf scrape --site baike --seed http://127.0.0.1:8089/ --out data/qa-demo --delay 0`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			stats, err := scrape.Run(c.Context(), o)
			if stats != nil {
				stats.Print(c.OutOrStdout())
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Site, "site", o.Site, "site profile: baike, zhihu, generic or a YAML profile file (docs/scrape.md)")
	f.StringArrayVar(&o.Seeds, "seed", nil, "start URL (repeatable); the seeds' hosts are the only hosts crawled unless --allow-host is given")
	f.StringVar(&o.Out, "out", "", "output qa dataset directory (appended to; rerun to resume)")
	f.StringVar(&o.State, "state", "", "crawl state directory (default OUT/_state)")
	f.StringArrayVar(&o.AllowedHosts, "allow-host", nil, "host or host:port that may be crawled (repeatable; default: the seeds' hosts)")
	f.IntVar(&o.MaxPages, "max-pages", 0, "stop after this many pages over all runs (0 = no limit)")
	f.IntVar(&o.MaxDepth, "max-depth", 0, "largest link distance from a seed (0 = no limit)")
	f.DurationVar(&o.Delay, "delay", o.Delay, "pause after each request to a host, plus random jitter up to half of it")
	f.IntVar(&o.Parallelism, "parallelism", o.Parallelism, "concurrent requests per host")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "limit for one request, body and redirects included")
	f.Int64Var(&o.MaxBodySize, "max-body-size", o.MaxBodySize, "largest page in bytes; larger pages are skipped and counted")
	f.StringVar(&o.UserAgent, "user-agent", o.UserAgent, "User-Agent header; put a contact URL or address of yours in it")
	f.IntVar(&o.Retries, "retries", o.Retries, "retries for 429, 5xx and network errors (exponential backoff, Retry-After honoured; 0: none)")
	f.DurationVar(&o.RetryBase, "retry-base", o.RetryBase, "first retry backoff (doubles on each retry)")
	f.DurationVar(&o.RetryMax, "retry-max", o.RetryMax, "cap of one retry backoff, Retry-After included")
	f.BoolVar(&o.IgnoreRobots, "ignore-robots", false, "do not fetch or obey robots.txt (logs a warning)")
	f.StringVar(&o.CacheDir, "cache-dir", "", "keep raw responses in this directory (for --offline re-parsing)")
	f.BoolVar(&o.Offline, "offline", false, "answer every request from --cache-dir only (use a fresh --out to re-parse with a changed profile)")
	f.Int64Var(&o.MinVotes, "min-votes", 0, "drop answers with fewer up-votes (qa profiles)")
	f.IntVar(&o.MaxAnswersPerQuestion, "max-answers-per-question", 0, "keep the most voted answers of a question (0 = all)")
	f.IntVar(&o.MinAnswerChars, "min-answer-chars", o.MinAnswerChars, "drop rows whose answer is shorter, in characters")
	f.IntVar(&o.MaxAnswerChars, "max-answer-chars", o.MaxAnswerChars, "drop rows whose answer is longer, in characters (0 = no limit)")
	f.StringVar(&o.CategoriesFile, "categories", "", "YAML category keyword rules (default: built-in zh/en rules)")
	f.IntVar(&o.FlushRows, "flush-rows", o.FlushRows, "publish a durable shard once this many rows are pending")
	f.DurationVar(&o.FlushInterval, "flush-interval", o.FlushInterval, "publish pending rows at least this often")
	f.Int64Var(&o.RowsPerShard, "rows-per-shard", 0, "rows per Parquet shard (0 = dataset default)")
	limits(f, map[string]numRange{
		"max-pages": atLeast(0), "max-depth": atLeast(0), "delay": atLeast(0), "parallelism": atLeast(1),
		"timeout": above(0), "max-body-size": atLeast(1), "retries": atLeast(0), "retry-base": above(0),
		"retry-max": above(0), "min-votes": atLeast(0), "max-answers-per-question": atLeast(0),
		"min-answer-chars": atLeast(0), "max-answer-chars": atLeast(0), "flush-rows": atLeast(1),
		"flush-interval": above(0), "rows-per-shard": atLeast(0),
	})
	c.AddCommand(newScrapeDemoSiteCmd())
	return nameFlags(c, &o)
}

func newScrapeDemoSiteCmd() *cobra.Command {
	addr := "127.0.0.1:8089"
	c := &cobra.Command{
		Use:   "demo-site",
		Short: "Serve the built-in demo site (Baike/Zhihu-style pages) for trying rlhf scrape",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return demosite.Serve(c.Context(), addr, func(url string) {
				slog.Info("serving the demo site", "url", url+"/")
			})
		},
	}
	c.Flags().StringVar(&addr, "addr", addr, "listen address")
	return c
}
