package dataset

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspectStatistics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sft")
	var rows []SFT
	for i := range 10 {
		task, lang := "chat", "zh"
		if i < 3 {
			task, lang = "generation", "en"
		}
		rows = append(rows, SFT{Task: task, Lang: lang, Prompt: strings.Repeat("问", i+1), Response: strings.Repeat("a", 10*(i+1))})
	}
	writeAll(t, dir, WriterOptions{RowsPerShard: 4}, rows)
	in, err := Inspect(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Head) != 2 || in.Manifest.Rows != 10 || len(in.Manifest.Shards) != 3 {
		t.Fatalf("head %d rows %d shards %d", len(in.Head), in.Manifest.Rows, len(in.Manifest.Shards))
	}
	if in.Tasks[0] != (Share{Value: "chat", Count: 7, Percent: 70}) || in.Tasks[1] != (Share{Value: "generation", Count: 3, Percent: 30}) {
		t.Fatalf("tasks %+v", in.Tasks)
	}
	if in.Langs[0].Value != "zh" || in.Langs[0].Count != 7 {
		t.Fatalf("langs %+v", in.Langs)
	}
	// prompt lengths are 1..10 characters (Chinese counted as characters, not bytes)
	if got := in.Lengths[0]; got != (LengthStats{Column: "prompt", P50: 5, P90: 9, P99: 10, Max: 10}) {
		t.Fatalf("prompt lengths %+v", got)
	}
	if got := in.Lengths[1]; got.P50 != 50 || got.Max != 100 {
		t.Fatalf("response lengths %+v", got)
	}
	if !strings.Contains(in.Schema, "response") {
		t.Fatalf("schema %q", in.Schema)
	}

	var text, js bytes.Buffer
	if err := RunInspect(&text, InspectOptions{Dirs: []string{dir}, Head: 1}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind      sft", "rows      10 in 3 shard(s)", "chat", "70.0%", "p50", "first 1 row(s)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
	if err := RunInspect(&js, InspectOptions{Dirs: []string{dir}, Head: 1, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var parsed []Inspection
	if err := json.Unmarshal(js.Bytes(), &parsed); err != nil {
		t.Fatalf("json output: %v\n%s", err, js.String())
	}
	if len(parsed) != 1 || parsed[0].Manifest.Kind != KindSFT || len(parsed[0].Head) != 1 {
		t.Fatalf("parsed %+v", parsed)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	v := make([]int, 100)
	for i := range v {
		v[i] = i + 1
	}
	for _, c := range []struct {
		p    float64
		want int
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {1, 1}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("p%v = %d, want %d", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 || Percentile([]int{7}, 99) != 7 {
		t.Error("edge cases")
	}
}
