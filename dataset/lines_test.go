package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEachLinePlainAndGzip(t *testing.T) {
	dir := t.TempDir()
	text := "a\n\n  b  \r\n" + strings.Repeat("x", 200_000) + "\nlast"
	plain := filepath.Join(dir, "in.jsonl")
	os.WriteFile(plain, []byte(text), 0o644)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(text))
	zw.Close()
	zipped := filepath.Join(dir, "in.data") // gzip detected by content, not name
	os.WriteFile(zipped, buf.Bytes(), 0o644)
	for _, p := range []string{plain, zipped} {
		var got []string
		var lines []int
		err := EachLine(p, func(n int, b []byte) error {
			got = append(got, string(b[:min(len(b), 3)]))
			lines = append(lines, n)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != "a,b,xxx,las" || lines[1] != 3 || lines[3] != 5 {
			t.Fatalf("%s: %v %v", p, got, lines)
		}
	}
	stop := errors.New("stop")
	if err := EachLine(plain, func(int, []byte) error { return stop }); err != stop {
		t.Fatalf("want fn's error back, got %v", err)
	}
}
