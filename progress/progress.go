// Package progress reports the advance of long commands: a progress bar with
// rate and ETA (github.com/schollz/progressbar) when stderr is a terminal,
// and plain periodic slog lines otherwise or when bars are disabled
// (--no-progress, carried by the context: WithBars). Every long loop in rlhf (crawling, building prompts,
// training) reports through a *Bar so the behaviour is the same everywhere.
package progress

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

type barsKey struct{}

// WithBars returns a context under which New draws terminal bars (on) or
// only logs progress every LogEvery (off). Without it bars are on.
func WithBars(ctx context.Context, on bool) context.Context {
	return context.WithValue(ctx, barsKey{}, on)
}

func barsOn(ctx context.Context) bool {
	on, ok := ctx.Value(barsKey{}).(bool)
	return on || !ok
}

// LogEvery is the interval between plain progress log lines when no bar is
// drawn. Default 10 s.
var LogEvery = 10 * time.Second

// Bar is one unit of progress reporting. It is safe for concurrent use.
type Bar struct {
	mu      sync.Mutex
	desc    string
	total   int64 // -1 when unknown
	done    int64
	base    int64 // units done before this process started (StartAt)
	start   time.Time
	lastLog time.Time
	status  string
	bar     *progressbar.ProgressBar
}

// New starts reporting progress over total units (-1 when unknown) of the
// given description, e.g. New(ctx, 1000, "pages").
func New(ctx context.Context, total int64, desc string) *Bar {
	b := &Bar{desc: desc, total: total, start: time.Now()}
	b.lastLog = b.start
	if barsOn(ctx) && term.IsTerminal(int(os.Stderr.Fd())) {
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(desc),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return b
}

// Add advances the bar by n units.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.bar != nil {
		_ = b.bar.Add64(n)
		return
	}
	if now := time.Now(); now.Sub(b.lastLog) >= LogEvery {
		b.lastLog = now
		b.logLine("progress")
	}
}

// StartAt records n units done before this process (a resumed run): they
// count towards the total but not towards the rate and the ETA.
func (b *Bar) StartAt(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.base = n, n
	if b.bar != nil && n > 0 {
		// The terminal bar counts this process's units only.
		if b.total > 0 {
			b.bar.ChangeMax64(max(b.total-n, 1))
		}
	}
}

// SetStatus sets a short status (e.g. "loss 1.23") shown next to the bar and
// in the periodic log lines.
func (b *Bar) SetStatus(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = s
	if b.bar != nil {
		b.bar.Describe(fmt.Sprintf("%s %s", b.desc, s))
	}
}

// Done returns how many units have been reported.
func (b *Bar) Done() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// Finish closes the bar and logs a final line with the total and the rate.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Finish()
		_ = b.bar.Exit()
	}
	b.logLine("done")
}

func (b *Bar) logLine(msg string) {
	elapsed := time.Since(b.start)
	rate := float64(b.done-b.base) / max(elapsed.Seconds(), 1e-9)
	attrs := []any{"what", b.desc, "done", b.done, "rate_per_s", fmt.Sprintf("%.1f", rate), "elapsed", elapsed.Round(time.Second).String()}
	if b.total > 0 {
		attrs = append(attrs, "total", b.total)
		if rate > 0 && b.done < b.total {
			eta := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
			attrs = append(attrs, "eta", eta.Round(time.Second).String())
		}
	}
	if b.status != "" {
		attrs = append(attrs, "status", b.status)
	}
	slog.Info(msg, attrs...)
}
