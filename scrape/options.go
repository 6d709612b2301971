package scrape

import (
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/rlhf-project/rlhf/option"
)

// DefaultUserAgent names the tool and a contact placeholder; set
// --user-agent to a URL or address where site owners can reach you.
const DefaultUserAgent = "rlhf-scrape/1.0 (+https://example.invalid/contact-set-me)"

// Options are the settings of one crawl (flags of `rlhf scrape`).
type Options struct {
	// Site is a built-in profile name (baike, zhihu, generic) or the path
	// of a YAML profile. Default baike.
	Site string
	// Seeds are the start URLs. Required unless the state already holds a
	// frontier.
	Seeds []string
	// Out is the qa dataset directory (written in append mode, so a rerun
	// continues it). Required.
	Out string
	// State is the directory of the crawl state (bbolt file crawl.db).
	// Default Out/_state.
	State string
	// AllowedHosts are the hosts (host or host:port) whose pages may be
	// requested. Default: the seeds' hosts.
	AllowedHosts []string

	// MaxPages stops the crawl after this many pages were fetched or given
	// up, counted over all runs of the same state; 0 means no limit.
	MaxPages int
	// MaxDepth is the largest link distance from a seed that is fetched
	// (seeds are depth 0); 0 means no limit.
	MaxDepth int
	// Delay is the pause after each request to one host, in addition to a
	// random jitter of up to Delay/2. Default 1 s; 0 disables both.
	Delay time.Duration
	// Parallelism is the number of concurrent requests per host. Default 2.
	Parallelism int
	// Timeout bounds one HTTP request, redirects and body included.
	// Default 30 s.
	Timeout time.Duration
	// MaxBodySize is the largest page in bytes; larger pages are skipped and
	// counted as too_large. Default 10 MiB.
	MaxBodySize int64
	// UserAgent is sent with every request and matched against robots.txt
	// groups. Default DefaultUserAgent.
	UserAgent string
	// Retries is how often a request failing with 429, 5xx or a network
	// error is retried, with exponential backoff from RetryBase up to
	// RetryMax (Retry-After is honoured, capped at RetryMax). Default 3;
	// negative disables retries.
	Retries int
	// RetryBase is the first backoff. Default 1 s.
	RetryBase time.Duration
	// RetryMax caps one backoff wait. Default 60 s.
	RetryMax time.Duration
	// IgnoreRobots skips robots.txt (a warning is logged). Default false.
	IgnoreRobots bool
	// CacheDir, when set, keeps raw responses on disk (colly's cache) so a
	// later Offline run can re-parse them.
	CacheDir string
	// Offline answers every request from CacheDir and fails pages that are
	// not cached; robots.txt is not fetched. Use it with a fresh Out (or
	// State) to re-parse a crawl with a changed profile.
	Offline bool

	// MinVotes drops answers with fewer up-votes (zhihu/qa profiles).
	// Default 0.
	MinVotes int64
	// MaxAnswersPerQuestion keeps the most voted answers of a question;
	// 0 keeps all. Default 0.
	MaxAnswersPerQuestion int
	// MinAnswerChars drops rows with shorter answers, in characters.
	// Default 2.
	MinAnswerChars int
	// MaxAnswerChars drops rows with longer answers, in characters; 0 means
	// no limit. Default 20000.
	MaxAnswerChars int
	// CategoriesFile is a YAML file of category keyword rules; empty uses
	// the built-in zh/en rules.
	CategoriesFile string

	// FlushRows publishes a durable shard once this many rows are pending.
	// Default 1000.
	FlushRows int
	// FlushInterval publishes pending rows at least this often. Default 30 s.
	FlushInterval time.Duration
	// RowsPerShard bounds the rows of one Parquet shard. Default 100,000.
	RowsPerShard int64
}

// withDefaults fills unset fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Site == "" {
		o.Site = "baike"
	}
	if o.Out == "" {
		return o, option.Errorf("{Out} is required")
	}
	if o.State == "" {
		o.State = filepath.Join(o.Out, "_state")
	}
	// Zero means the default; a negative value is an error, never a
	// default in disguise (a negative Delay made colly panic).
	for _, c := range []struct {
		name string
		v    int64
		show string
	}{
		{"Delay", int64(o.Delay), o.Delay.String()},
		{"Parallelism", int64(o.Parallelism), ""},
		{"Timeout", int64(o.Timeout), o.Timeout.String()},
		{"MaxBodySize", o.MaxBodySize, ""},
		{"RetryBase", int64(o.RetryBase), o.RetryBase.String()},
		{"RetryMax", int64(o.RetryMax), o.RetryMax.String()},
		{"MaxAnswersPerQuestion", int64(o.MaxAnswersPerQuestion), ""},
		{"MinAnswerChars", int64(o.MinAnswerChars), ""},
		{"MaxAnswerChars", int64(o.MaxAnswerChars), ""},
		{"FlushRows", int64(o.FlushRows), ""},
		{"FlushInterval", int64(o.FlushInterval), o.FlushInterval.String()},
		{"RowsPerShard", o.RowsPerShard, ""},
	} {
		if c.v < 0 {
			if c.show == "" {
				c.show = fmt.Sprint(c.v)
			}
			return o, fmt.Errorf("scrape: %s %s: must not be negative", c.name, c.show)
		}
	}
	if o.Parallelism == 0 {
		o.Parallelism = 2
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBodySize == 0 {
		o.MaxBodySize = 10 << 20
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.Retries < 0 {
		o.Retries = 0 // documented: negative disables retries
	}
	if o.RetryBase == 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = time.Minute
	}
	if o.FlushRows == 0 {
		o.FlushRows = 1000
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 30 * time.Second
	}
	if o.Offline && o.CacheDir == "" {
		return o, option.Errorf("{Offline} needs {CacheDir}")
	}
	if o.MaxPages < 0 || o.MaxDepth < 0 {
		return o, option.Errorf("{MaxPages} and {MaxDepth} must not be negative")
	}
	if len(o.Seeds) == 0 {
		return o, option.Errorf("{Seeds} is required (give the same seeds when resuming)")
	}
	userHosts := len(o.AllowedHosts) > 0
	for _, s := range o.Seeds {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, option.Errorf("{Seeds} %q: want an absolute http(s) URL", s)
		}
		if !userHosts && !contains(o.AllowedHosts, u.Host) {
			o.AllowedHosts = append(o.AllowedHosts, u.Host)
		}
	}
	return o, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// DefaultOptions returns the defaults the CLI shows (Delay 1 s, Retries 3,
// MinAnswerChars 2, MaxAnswerChars 20000).
func DefaultOptions() Options {
	return Options{
		Site: "baike", Delay: time.Second, Parallelism: 2, Timeout: 30 * time.Second,
		MaxBodySize: 10 << 20, UserAgent: DefaultUserAgent, Retries: 3, RetryBase: time.Second,
		RetryMax: time.Minute, MinAnswerChars: 2, MaxAnswerChars: 20000, FlushRows: 1000,
		FlushInterval: 30 * time.Second,
	}
}
