package progress

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestPlainLogLinesWithoutTerminal(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	oldEvery := LogEvery
	LogEvery = 0 // a line on every Add
	defer func() { LogEvery = oldEvery }()
	b := New(WithBars(context.Background(), false), 10, "pages")
	b.SetStatus("3 rows")
	b.Add(4)
	time.Sleep(time.Millisecond)
	b.Add(6)
	b.Finish()
	out := buf.String()
	for _, want := range []string{"msg=progress", "what=pages", "done=4", "total=10", "eta=", `status="3 rows"`, "msg=done", "done=10"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if b.Done() != 10 {
		t.Fatalf("Done %d", b.Done())
	}
}

// TestResumedRateCountsOnlyThisProcess: units done before a resume (StartAt)
// count towards done, not towards the rate.
func TestResumedRateCountsOnlyThisProcess(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	b := New(WithBars(context.Background(), false), 2000, "steps")
	b.StartAt(1000)
	time.Sleep(20 * time.Millisecond)
	b.Add(1)
	b.Finish()
	out := buf.String()
	i := strings.Index(out, "rate_per_s=")
	if i < 0 || !strings.Contains(out, "done=1001") {
		t.Fatalf("log: %s", out)
	}
	var rate float64
	fmt.Sscanf(out[i+len("rate_per_s="):], "%g", &rate)
	if rate > 100 { // 1 unit in ≥ 20 ms: at most 50/s; counting the 1000 resumed ones gives ~50000/s
		t.Fatalf("rate %v counts the units done before the resume:\n%s", rate, out)
	}
}
