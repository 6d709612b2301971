package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

func ptr[T any](v T) *T { return &v }

func writeAll[T Record](t *testing.T, dir string, opts WriterOptions, rows []T) {
	t.Helper()
	w, err := Create[T](dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func roundTrip[T Record](t *testing.T, rows []T) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	writeAll(t, dir, WriterOptions{RowsPerShard: 3, RowGroupRows: 2}, rows)
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindOf[T]() || m.Rows != int64(len(rows)) {
		t.Fatalf("manifest kind %q rows %d, want %q %d", m.Kind, m.Rows, KindOf[T](), len(rows))
	}
	if wantShards := (len(rows) + 2) / 3; len(m.Shards) != wantShards {
		t.Fatalf("%d shards, want %d", len(m.Shards), wantShards)
	}
	got, err := ReadAll[T](dir)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]T, len(rows))
	for i := range rows {
		want[i] = WithID(rows[i])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 123456000, time.UTC)
	var qas []QA
	for i := range 7 {
		q := QA{Site: "baike", URL: fmt.Sprintf("https://baike.example/item/%d", i), Title: "长城",
			Question: "什么是长城？", Context: "", Answer: fmt.Sprintf("长城是中国古代的军事防御工程 %d。", i),
			Category: "open_qa", Lang: "zh", FetchedAt: at}
		if i%2 == 0 {
			q.Votes = ptr(int64(i * 1000))
		}
		q.ContentSHA256 = SHA256Hex(q.Answer)
		qas = append(qas, q)
	}
	roundTrip(t, qas)

	var prompts []Prompt
	var sfts []SFT
	for i := range 5 {
		prompts = append(prompts, Prompt{Task: Tasks[i], Lang: "zh", Prompt: fmt.Sprintf("写一首关于秋天的诗 %d 🍂", i), Source: "test", Template: ""})
		sfts = append(sfts, SFT{Task: Tasks[i], Lang: "en", Prompt: fmt.Sprintf("Say %d", i), Response: "", Source: "s", Template: "t1"})
	}
	roundTrip(t, prompts)
	roundTrip(t, sfts)
	roundTrip(t, []Comparison{
		{GroupID: "g1", Prompt: "问", Chosen: "好", Rejected: "坏", ChosenRank: 1, RejectedRank: 2, Task: "open_qa", Lang: "zh", Source: "alice"},
		{GroupID: "", Prompt: "q", Chosen: "a", Rejected: "", Task: "chat", Lang: "en"},
	})
	roundTrip(t, []Response{
		{PromptID: "p1", Prompt: "问", Response: "答", Model: "m", SampleIndex: 0, Logprob: -1.5, Reward: ptr(0.25)},
		{PromptID: "p1", Prompt: "问", Response: "", Model: "m", SampleIndex: 1, Logprob: 0},
		{PromptID: "p2", Prompt: "", Response: "x", Model: "m", SampleIndex: 0, Logprob: -3},
		{PromptID: "p3", Prompt: "y", Response: "z", Model: "m", SampleIndex: 0, Logprob: -3},
	})
}

func TestIDsAreStableContentHashes(t *testing.T) {
	a := WithID(SFT{Task: "chat", Prompt: "hi", Response: "hello"})
	b := WithID(SFT{Task: "chat", Prompt: "hi", Response: "hello"})
	c := WithID(SFT{Task: "chat", Prompt: "hi", Response: "hello!"})
	if a.ID == "" || a.ID != b.ID || a.ID == c.ID {
		t.Fatalf("ids %q %q %q", a.ID, b.ID, c.ID)
	}
	if kept := WithID(SFT{ID: "mine", Prompt: "x"}); kept.ID != "mine" {
		t.Fatalf("explicit id replaced: %q", kept.ID)
	}
}

func TestStringsAreUTF8StringColumns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	writeAll(t, dir, WriterOptions{}, []SFT{{Prompt: "p", Response: "r"}})
	f, err := os.Open(filepath.Join(dir, "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, fld := range pf.Schema().Fields() {
		if lt := fld.Type().LogicalType(); lt == nil || lt.String() != "STRING" {
			t.Errorf("column %s: logical type %v, want STRING", fld.Name(), lt)
		}
	}
	if got := pf.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String(); got != "ZSTD" {
		t.Errorf("codec %s, want ZSTD", got)
	}
}

func TestJSONLInput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "in.jsonl")
	os.WriteFile(p, []byte("{\"prompt\":\"你好\",\"response\":\"世界\",\"task\":\"chat\"}\n\n{\"prompt\":\"a\",\"response\":\"b\"}\n"), 0o644)
	rows, err := ReadAll[SFT](p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Prompt != "你好" || rows[0].ID == "" || rows[1].Response != "b" {
		t.Fatalf("rows %+v", rows)
	}
	os.WriteFile(p, []byte("{\"prompt\":\"a\"}\n{\"prompt\": 3}\n"), 0o644)
	_, err = ReadAll[SFT](p)
	if err == nil || !strings.Contains(err.Error(), p+":2") {
		t.Fatalf("want error naming %s:2, got %v", p, err)
	}
}

func TestGlobAndSeveralDatasets(t *testing.T) {
	root := t.TempDir()
	for i := range 3 {
		writeAll(t, filepath.Join(root, fmt.Sprintf("d%d", i)), WriterOptions{}, []Prompt{{Prompt: fmt.Sprint(i)}})
	}
	r, err := Open[Prompt](filepath.Join(root, "d*"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows() != 3 {
		t.Fatalf("rows %d", r.Rows())
	}
	var got []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Prompt)
	}
	if strings.Join(got, ",") != "0,1,2" {
		t.Fatalf("order %v", got)
	}
}

func TestRefusals(t *testing.T) {
	mk := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "ds")
		var rows []SFT
		for i := range 10 {
			rows = append(rows, SFT{Prompt: fmt.Sprint("p", i), Response: "r"})
		}
		writeAll(t, dir, WriterOptions{RowsPerShard: 4}, rows)
		return dir
	}
	expect := func(t *testing.T, err error, parts ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want one mentioning %q", parts)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not mention %q", err, p)
			}
		}
	}
	t.Run("missing manifest", func(t *testing.T) {
		dir := mk(t)
		os.Remove(filepath.Join(dir, ManifestName))
		_, err := ReadAll[SFT](dir)
		expect(t, err, dir, "incomplete dataset", "interrupted")
	})
	t.Run("truncated shard", func(t *testing.T) {
		dir := mk(t)
		p := filepath.Join(dir, "part-00001.parquet")
		raw, _ := os.ReadFile(p)
		os.WriteFile(p, raw[:len(raw)/2], 0o644)
		_, err := OpenWith[SFT](ReaderOptions{SkipChecksums: true}, dir)
		if err == nil {
			_, err = ReadAllWith[SFT](ReaderOptions{SkipChecksums: true}, dir)
		}
		expect(t, err, p, "truncated")
		_, err = ReadAll[SFT](dir)
		expect(t, err, p, "checksum mismatch")
	})
	t.Run("wrong kind", func(t *testing.T) {
		dir := mk(t)
		_, err := ReadAll[Prompt](dir)
		expect(t, err, dir, `"sft"`, `expected "prompt"`)
	})
	t.Run("wrong kind shard", func(t *testing.T) {
		dir := mk(t)
		single := filepath.Join(dir, "part-00000.parquet")
		_, err := ReadAll[Prompt](single)
		expect(t, err, single, `"sft"`)
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		dir := mk(t)
		p := filepath.Join(dir, "part-00002.parquet")
		raw, _ := os.ReadFile(p)
		raw[len(raw)/3] ^= 0xff
		os.WriteFile(p, raw, 0o644)
		_, err := ReadAll[SFT](dir)
		expect(t, err, p, "checksum mismatch")
	})
	t.Run("missing shard", func(t *testing.T) {
		dir := mk(t)
		p := filepath.Join(dir, "part-00001.parquet")
		os.Remove(p)
		_, err := ReadAll[SFT](dir)
		expect(t, err, p, "missing")
	})
	t.Run("missing column", func(t *testing.T) {
		type partial struct {
			ID     string `parquet:"id"`
			Prompt string `parquet:"prompt"`
		}
		p := filepath.Join(t.TempDir(), "x.parquet")
		if err := parquet.WriteFile(p, []partial{{ID: "1", Prompt: "p"}}); err != nil {
			t.Fatal(err)
		}
		_, err := ReadAll[SFT](p)
		expect(t, err, p, `missing column "task"`)
	})
	t.Run("mistyped column", func(t *testing.T) {
		type bad struct {
			ID       string `parquet:"id"`
			Task     string `parquet:"task"`
			Lang     string `parquet:"lang"`
			Prompt   int64  `parquet:"prompt"`
			Response string `parquet:"response"`
			Source   string `parquet:"source"`
			Template string `parquet:"template"`
		}
		p := filepath.Join(t.TempDir(), "x.parquet")
		if err := parquet.WriteFile(p, []bad{{ID: "1"}}); err != nil {
			t.Fatal(err)
		}
		_, err := ReadAll[SFT](p)
		expect(t, err, p, `column "prompt"`, "INT(64", "STRING")
	})
	t.Run("splits folder", func(t *testing.T) {
		root := t.TempDir()
		writeAll(t, filepath.Join(root, "train"), WriterOptions{}, []SFT{{Prompt: "a"}})
		writeAll(t, filepath.Join(root, "val"), WriterOptions{}, []SFT{{Prompt: "b"}})
		_, err := ReadAll[SFT](root)
		expect(t, err, "train, val")
		tr, va, err := Splits(root)
		if err != nil || len(tr) != 1 || len(va) != 1 {
			t.Fatalf("splits %v %v %v", tr, va, err)
		}
	})
}

func TestInterruptedWriterLeavesNothingAcceptable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ds")
	w, err := Create[SFT](dir, WriterOptions{RowsPerShard: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.Write(SFT{Prompt: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The process dies here: no Close. Nothing under dir may be accepted.
	if _, err := ReadAll[SFT](dir); err == nil {
		t.Fatal("a reader accepted the output of an interrupted writer")
	}
	if _, err := ReadAll[SFT](filepath.Join(root, ".ds.*.tmp")); err == nil {
		t.Fatal("a reader accepted the temporary directory of an interrupted writer")
	}
	w.Abort()
	left, _ := filepath.Glob(filepath.Join(root, "*"))
	hidden, _ := filepath.Glob(filepath.Join(root, ".*"))
	if len(left)+len(hidden) != 0 {
		t.Fatalf("abort left %v %v", left, hidden)
	}

	// Rewriting an existing dataset: until Close, readers see the old one.
	writeAll(t, dir, WriterOptions{}, []SFT{{Prompt: "old"}})
	w, _ = Create[SFT](dir, WriterOptions{})
	w.Write(SFT{Prompt: "new"})
	rows, err := ReadAll[SFT](dir)
	if err != nil || len(rows) != 1 || rows[0].Prompt != "old" {
		t.Fatalf("during rewrite: %v %v", rows, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, _ = ReadAll[SFT](dir)
	if len(rows) != 1 || rows[0].Prompt != "new" {
		t.Fatalf("after rewrite: %v", rows)
	}
}

func TestAppendKeepsFlushedShardsAfterCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create[SFT](dir, WriterOptions{Append: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(SFT{Prompt: "a"}, SFT{Prompt: "b"})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Write(SFT{Prompt: "lost"})
	// crash: neither Close nor Abort
	if _, err := ReadAll[SFT](dir); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("want incomplete, got %v", err)
	}
	w2, err := Create[SFT](dir, WriterOptions{Append: true})
	if err != nil {
		t.Fatal(err)
	}
	if w2.Rows() != 2 {
		t.Fatalf("kept %d rows, want 2", w2.Rows())
	}
	w2.Write(SFT{Prompt: "c"})
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadAll[SFT](dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Prompt)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("got %v", got)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(tmps) != 1 { // the abandoned temp shard of the crashed writer
		t.Logf("temp files left by the crash: %v", tmps)
	}
}

func TestMalformedJSONLLineCanBeSkipped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(p, []byte("{\"prompt\":\"a\"}\nnot json\n{\"prompt\":\"b\"}\n"), 0o644)
	r, err := Open[Prompt](p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	var bad []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad = append(bad, r.Position())
			continue
		}
		got = append(got, row.Prompt)
	}
	if strings.Join(got, ",") != "a,b" || len(bad) != 1 || bad[0] != p+":2" {
		t.Fatalf("rows %v, bad lines %v", got, bad)
	}
}

func TestCloseMidwayStopsReading(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	var rows []SFT
	for i := range 5000 {
		rows = append(rows, SFT{Prompt: fmt.Sprint(i)})
	}
	writeAll(t, dir, WriterOptions{RowsPerShard: 500}, rows)
	before, files := runtime.NumGoroutine(), openFiles()
	for range 5 {
		r, err := Open[SFT](dir)
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for (runtime.NumGoroutine() > before+1 || openFiles() > files) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Fatalf("%d goroutines left running after Close (had %d)", n, before)
	}
	if n := openFiles(); n > files {
		t.Fatalf("%d files left open after Close (had %d)", n, files)
	}
}

// openFiles counts the open file descriptors of the process (Linux), or 0.
func openFiles() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// TestPositionNamesShardAndRow: rows are numbered from 1 within each shard,
// across its row groups.
func TestPositionNamesShardAndRow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	var rows []SFT
	for i := range 25 {
		rows = append(rows, SFT{Prompt: fmt.Sprint(i)})
	}
	writeAll(t, dir, WriterOptions{RowsPerShard: 10, RowGroupRows: 3}, rows)
	r, err := Open[SFT](dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 25 {
		row, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s row %d", filepath.Join(dir, fmt.Sprintf("part-%05d.parquet", i/10)), i%10+1)
		if row.Prompt != fmt.Sprint(i) || r.Position() != want {
			t.Fatalf("row %d: prompt %q at %q, want %q", i, row.Prompt, r.Position(), want)
		}
	}
}

// TestMixedSourcesKeepOrder reads a multi-shard dataset, a JSONL file and
// another dataset in one Reader: rows come in the order given, and each
// row's position names its own file.
func TestMixedSourcesKeepOrder(t *testing.T) {
	root := t.TempDir()
	var first, last []Prompt
	for i := range 50 {
		first = append(first, Prompt{Prompt: fmt.Sprintf("a%d", i)})
		last = append(last, Prompt{Prompt: fmt.Sprintf("c%d", i)})
	}
	writeAll(t, filepath.Join(root, "a"), WriterOptions{RowsPerShard: 20, RowGroupRows: 7}, first)
	writeAll(t, filepath.Join(root, "c"), WriterOptions{RowsPerShard: 30, RowGroupRows: 4}, last)
	jsonl := filepath.Join(root, "b.jsonl")
	if err := os.WriteFile(jsonl, []byte("{\"prompt\":\"b0\"}\n{\"prompt\":\"b1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open[Prompt](filepath.Join(root, "a"), jsonl, filepath.Join(root, "c"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Prompt)
		if row.Prompt == "b1" && r.Position() != jsonl+":2" {
			t.Errorf("b1 at %q", r.Position())
		}
		if row.Prompt == "c35" && r.Position() != filepath.Join(root, "c", "part-00001.parquet")+" row 6" {
			t.Errorf("c35 at %q", r.Position())
		}
	}
	var want []string
	for _, p := range first {
		want = append(want, p.Prompt)
	}
	want = append(want, "b0", "b1")
	for _, p := range last {
		want = append(want, p.Prompt)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
}
