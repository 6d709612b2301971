package scrape

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gocolly/colly/v2"
)

// outcome is what became of one page.
type outcome int

const (
	outOK outcome = iota
	outRobots
	outTooLarge
	outRedirectLoop
	outFailed    // retryable errors on every try
	outHTTPError // non-retryable status or error
	outNotCached
	outNonHTML
	outCancelled // the crawl stopped; the page stays queued
)

var (
	errRedirectLoop    = errors.New("redirect loop")
	errTooManyRedirect = errors.New("more than 10 redirects")
	errOffsiteRedirect = errors.New("redirect to a host that is not allowed")
	errOffline         = errors.New("offline: page is not in the cache")
)

// maxRedirects bounds one redirect chain.
const maxRedirects = 10

// fetched is the result of fetching one page, retries included.
type fetched struct {
	outcome     outcome
	status      int
	body        []byte // UTF-8
	finalURL    *url.URL
	retries     int64
	errorKinds  map[string]int64
	lastErr     error
	contentType string
}

// fetcher wraps one colly collector shared by all workers (colly's
// synchronous Request is safe for concurrent use; its LimitRules enforce
// per-host parallelism and delay).
type fetcher struct {
	c    *colly.Collector
	opts Options
}

// offlineTransport fails every request that colly's cache did not answer.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, errOffline }

func newFetcher(ctx context.Context, o Options) (*fetcher, error) {
	c := colly.NewCollector(
		colly.UserAgent(o.UserAgent),
		// One byte over the limit, so a body that was cut tells us it was too large.
		colly.MaxBodySize(int(o.MaxBodySize)+1),
		// Revisits are our business: the frontier in bbolt decides what is
		// fetched, and retries fetch the same URL again.
		colly.AllowURLRevisit(),
		colly.ParseHTTPErrorResponse(),
		colly.StdlibContext(ctx),
	)
	// colly ignores robots.txt by default; we obey it unless told not to.
	// Offline runs answer from the cache, where disallowed pages never got.
	c.IgnoreRobotsTxt = o.IgnoreRobots || o.Offline
	for _, h := range o.AllowedHosts {
		host := h
		if hn, _, err := net.SplitHostPort(h); err == nil {
			host = hn
		}
		if !contains(c.AllowedDomains, host) {
			c.AllowedDomains = append(c.AllowedDomains, host)
		}
		// One rule per host: parallelism and delay are per host.
		if err := c.Limit(&colly.LimitRule{
			DomainRegexp: "^" + regexp.QuoteMeta(h) + "$",
			Parallelism:  o.Parallelism,
			Delay:        o.Delay,
			RandomDelay:  o.Delay / 2,
		}); err != nil {
			return nil, err
		}
	}
	c.CacheDir = o.CacheDir
	if o.Offline {
		c.WithTransport(offlineTransport{})
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * o.Parallelism
		c.WithTransport(tr)
	}
	c.SetRequestTimeout(o.Timeout)
	c.SetRedirectHandler(func(req *http.Request, via []*http.Request) error {
		if !contains(o.AllowedHosts, req.URL.Host) {
			return errOffsiteRedirect
		}
		for _, v := range via {
			if v.URL.String() == req.URL.String() {
				return errRedirectLoop
			}
		}
		if len(via) >= maxRedirects {
			return errTooManyRedirect
		}
		return nil
	})
	c.OnResponseHeaders(func(r *colly.Response) {
		if n, err := strconv.ParseInt(r.Headers.Get("Content-Length"), 10, 64); err == nil && n > o.MaxBodySize {
			r.Ctx.Put("too_large", true)
			r.Request.Abort()
		}
	})
	c.OnResponse(func(r *colly.Response) { r.Ctx.Put("resp", r) })
	c.OnError(func(r *colly.Response, _ error) {
		if r != nil && r.StatusCode != 0 {
			r.Ctx.Put("resp", r)
		}
	})
	return &fetcher{c: c, opts: o}, nil
}

// fetch gets one page, retrying 429, 5xx and network errors with
// exponential backoff (Retry-After honoured, both capped at RetryMax).
func (f *fetcher) fetch(ctx context.Context, pageURL string) fetched {
	res := fetched{errorKinds: map[string]int64{}}
	for attempt := 0; ; attempt++ {
		cctx := colly.NewContext()
		err := f.c.Request(http.MethodGet, pageURL, nil, cctx, nil)
		resp, _ := cctx.GetAny("resp").(*colly.Response)
		if ctx.Err() != nil {
			res.outcome = outCancelled
			return res
		}
		res.lastErr = err
		if resp != nil {
			res.status = resp.StatusCode
		}
		out, kind, retryable := classify(err, resp, cctx)
		if kind != "" {
			res.errorKinds[kind]++
		}
		if out == outOK {
			res.contentType = resp.Headers.Get("Content-Type")
			switch {
			case len(resp.Body) > int(f.opts.MaxBodySize):
				res.outcome = outTooLarge
			case res.contentType != "" && !strings.Contains(strings.ToLower(res.contentType), "html"):
				res.outcome = outNonHTML
			default:
				res.outcome = outOK
				res.body = decodeBody(resp.Body, res.contentType)
				res.finalURL = resp.Request.URL
			}
			return res
		}
		if !retryable {
			res.outcome = out
			return res
		}
		f.uncache(pageURL, resp)
		if attempt >= f.opts.Retries {
			res.outcome = outFailed
			return res
		}
		res.retries++
		wait := f.backoff(attempt, resp)
		select {
		case <-ctx.Done():
			res.outcome = outCancelled
			return res
		case <-time.After(wait):
		}
	}
}

// classify maps a colly result to an outcome, an error kind for the stats
// and whether another try may help.
func classify(err error, resp *colly.Response, cctx *colly.Context) (outcome, string, bool) {
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, colly.ErrRobotsTxtBlocked):
			return outRobots, "", false
		case cctx.GetAny("too_large") != nil:
			return outTooLarge, "", false
		case errors.Is(err, errRedirectLoop), errors.Is(err, errTooManyRedirect):
			return outRedirectLoop, "redirect_loop", false
		case errors.Is(err, errOffsiteRedirect), errors.Is(err, colly.ErrForbiddenDomain):
			return outHTTPError, "offsite_redirect", false
		case errors.Is(err, errOffline):
			return outNotCached, "not_cached", false
		case errors.As(err, &ne) && ne.Timeout():
			return outFailed, "timeout", true
		}
		return outFailed, "network", true
	}
	if resp == nil {
		return outFailed, "network", true
	}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return outOK, "", false
	case s == http.StatusTooManyRequests || s >= 500:
		return outFailed, fmt.Sprintf("http_%d", s), true
	default:
		return outHTTPError, fmt.Sprintf("http_%d", s), false
	}
}

// backoff is RetryBase·2^attempt, at least the server's Retry-After, at most
// RetryMax.
func (f *fetcher) backoff(attempt int, resp *colly.Response) time.Duration {
	d := f.opts.RetryBase << attempt
	if resp != nil && resp.Headers != nil {
		if ra := retryAfter(resp.Headers.Get("Retry-After")); ra > d {
			d = ra
		}
	}
	if d > f.opts.RetryMax || d <= 0 {
		d = f.opts.RetryMax
	}
	return d
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// uncache removes a failed response from colly's cache, which keeps every
// status below 500 (a cached 429 would otherwise be replayed forever).
func (f *fetcher) uncache(pageURL string, resp *colly.Response) {
	if f.opts.CacheDir == "" || f.opts.Offline {
		return
	}
	urls := []string{pageURL}
	if resp != nil && resp.Request != nil {
		urls = append(urls, resp.Request.URL.String())
	}
	for _, u := range urls {
		sum := sha1.Sum([]byte(u))
		h := hex.EncodeToString(sum[:])
		os.Remove(filepath.Join(f.opts.CacheDir, h[:2], h))
	}
}
