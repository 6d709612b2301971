package dataset

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// pandasRow is laid out as pandas (pyarrow) writes a DataFrame: nullable
// (optional) strings, an int64 and a float64 column, a nanosecond
// timestamp, a list column and the index as __index_level_0__.
type pandasRow struct {
	Prompt *string    `parquet:"prompt,optional"`
	Votes  int64      `parquet:"votes"`
	Score  *float64   `parquet:"score,optional"`
	When   *time.Time `parquet:"when,optional,timestamp(nanosecond)"`
	Tags   []string   `parquet:"tags,list"`
	Index  int64      `parquet:"__index_level_0__"`
}

func writeParquet[T any](t *testing.T, path string, rows []T, opts ...parquet.WriterOption) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInspectFiles: inspect takes what the readers take besides dataset
// directories: JSONL files and lone Parquet files (rlhf's own shards and
// files written by other tools); it shows rows, columns and sample rows.
func TestInspectFiles(t *testing.T) {
	dir := t.TempDir()
	jl := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(jl, []byte(`{"prompt":"你好","task":"chat"}

{"prompt":"Say hi","lang":"en"}
not json
{"prompt":"Third"}
`), 0o644)

	s := func(x string) *string { return &x }
	f := func(x float64) *float64 { return &x }
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	pd := filepath.Join(dir, "pandas.parquet")
	writeParquet(t, pd, []pandasRow{
		{Prompt: s("What is rain?"), Votes: 3, Score: f(0.5), When: &when, Tags: []string{"a", "b"}, Index: 0},
		{Prompt: nil, Votes: 4, Tags: nil, Index: 1},
		{Prompt: s("第三"), Votes: 5, Score: f(1.5), Index: 2},
	}, parquet.CreatedBy("parquet-cpp-arrow", "15.0.0", ""), parquet.KeyValueMetadata("pandas", `{"index_columns":["__index_level_0__"]}`))
	duck := filepath.Join(dir, "duck.parquet")
	type duckRow struct {
		ID   int32  `parquet:"id"`
		Text string `parquet:"text"`
	}
	writeParquet(t, duck, []duckRow{{1, "one"}, {2, "two"}}, parquet.CreatedBy("DuckDB", "v1.1.3", "19864453f7"))
	// A shard of an rlhf dataset, on its own.
	ds := filepath.Join(dir, "ds")
	writeAll(t, ds, WriterOptions{}, []Prompt{{Task: "chat", Lang: "zh", Prompt: "你好"}})
	shards, _ := filepath.Glob(filepath.Join(ds, "part-*.parquet"))

	var out bytes.Buffer
	if err := RunInspect(&out, InspectOptions{Dirs: []string{jl, pd, duck, shards[0]}, Head: 2}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"file      " + jl, "format    jsonl", "rows      3", "malformed 1 line(s), the first at " + jl + ":4",
		"prompt", "task", "lang", `{"prompt":"你好","task":"chat"}`,
		"file      " + pd, "format    parquet", "parquet-cpp-arrow", "__index_level_0__", "tags", "TIMESTAMP",
		`"prompt":"What is rain?"`, `"when":"2024-05-06T07:08:09Z"`, `"tags":["a","b"]`, `"prompt":null`,
		"file      " + duck, "DuckDB", `{"id":1,"text":"one"}`,
		"kind      prompt",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if err := RunInspect(&out, InspectOptions{Dirs: []string{jl, pd}, Head: 1, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var parsed []FileInspection
	if err := json.Unmarshal(out.Bytes(), &parsed); err != nil {
		t.Fatalf("json output: %v\n%s", err, out.String())
	}
	if len(parsed) != 2 || parsed[0].Rows != 3 || parsed[1].Rows != 3 || len(parsed[1].Head) != 1 || len(parsed[1].Columns) != 6 {
		t.Fatalf("json: %+v", parsed)
	}

	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("hi"), 0o644)
	if err := RunInspect(&out, InspectOptions{Dirs: []string{other}}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("a .txt file: %v", err)
	}
}

// TestInspectSplitsAndModelFolders: a folder of splits and a model folder
// get the message that says what to pass instead, not "interrupted?".
func TestInspectSplitsAndModelFolders(t *testing.T) {
	dir := t.TempDir()
	sft := filepath.Join(dir, "sft")
	writeAll(t, filepath.Join(sft, "train"), WriterOptions{}, []SFT{{Prompt: "p", Response: "r"}})
	writeAll(t, filepath.Join(sft, "val"), WriterOptions{}, []SFT{{Prompt: "q", Response: "s"}})
	var out bytes.Buffer
	err := RunInspect(&out, InspectOptions{Dirs: []string{sft}})
	if err == nil || !strings.Contains(err.Error(), "holds the splits train, val: pass one of them") || strings.Contains(err.Error(), "interrupted") {
		t.Errorf("split folder: %v", err)
	}
	m := filepath.Join(dir, "model")
	os.MkdirAll(m, 0o755)
	os.WriteFile(filepath.Join(m, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644)
	err = RunInspect(&out, InspectOptions{Dirs: []string{m}})
	if err == nil || !strings.Contains(err.Error(), "model folder") || !strings.Contains(err.Error(), "rlhf model inspect") {
		t.Errorf("model folder: %v", err)
	}
}
