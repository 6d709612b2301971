package progress

import (
	"bytes"
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
	SetEnabled(false)
	defer SetEnabled(true)

	b := New(10, "pages")
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
