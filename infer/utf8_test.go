package infer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
)

// strictUTF8 reads every value of every STRING column of the shards of a
// dataset with parquet-go and fails on one that is not valid UTF-8, as
// DuckDB does; it returns the values read.
func strictUTF8(t *testing.T, dir string) []string {
	t.Helper()
	shards, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if len(shards) == 0 {
		t.Fatalf("%s: no shard", dir)
	}
	var values []string
	for _, p := range shards {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range pf.Schema().Columns() {
			leaf, _ := pf.Schema().Lookup(col...)
			if lt := leaf.Node.Type().LogicalType(); lt == nil || lt.String() != "STRING" {
				continue
			}
			for _, rg := range pf.RowGroups() {
				pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
				for {
					pg, err := pages.ReadPage()
					if err != nil {
						break
					}
					vals := make([]parquet.Value, pg.NumValues())
					n, _ := pg.Values().ReadValues(vals)
					for _, v := range vals[:n] {
						if !utf8.Valid(v.ByteArray()) {
							t.Fatalf("%s column %s: invalid UTF-8 %q", p, strings.Join(col, "."), v.ByteArray())
						}
						values = append(values, string(v.ByteArray()))
					}
					parquet.Release(pg)
				}
				pages.Close()
			}
		}
		f.Close()
	}
	return values
}

// TestGenerateRandomByteLevelWritesValidUTF8: an untrained byte-level model
// samples arbitrary bytes; generate writes their decode (U+FFFD for the
// ill-formed ones), which a strict UTF-8 reader accepts.
func TestGenerateRandomByteLevelWritesValidUTF8(t *testing.T) {
	dir := initTiny(t, model.ArchGPT2)
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "prompts.jsonl")
	os.WriteFile(prompts, []byte("{\"prompt\":\"Say hi\"}\n{\"prompt\":\"你好\"}\n"), 0o644)
	out := filepath.Join(tmp, "gen")
	if err := RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{prompts}, Out: out,
		NumSamples: 8, MaxNewTokens: 24, Temperature: 1, Seed: 3, BatchSize: 16, Backend: "go"}); err != nil {
		t.Fatal(err)
	}
	replaced := 0
	for _, v := range strictUTF8(t, out) {
		replaced += strings.Count(v, "\uFFFD")
	}
	if replaced == 0 {
		t.Fatal("no ill-formed byte was sampled: the test proves nothing")
	}
}

// TestGenerateGBKPrompts: GBK prompts are an error naming the file and
// line, or decoded with Encoding.
func TestGenerateGBKPrompts(t *testing.T) {
	dir := initTiny(t, model.ArchGPT2)
	tmp := t.TempDir()
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String("{\"prompt\":\"你好，世界\"}\n")
	prompts := filepath.Join(tmp, "prompts.jsonl")
	os.WriteFile(prompts, []byte(gbk), 0o644)
	out := filepath.Join(tmp, "gen")
	o := GenerateOptions{Model: dir, Prompts: []string{prompts}, Out: out, MaxNewTokens: 2, Temperature: 0, Backend: "go"}
	if err := RunGenerate(context.Background(), o); !dataset.IsInvalidUTF8(err) || !strings.Contains(err.Error(), prompts+":1:") {
		t.Fatalf("want an error naming %s:1, got %v", prompts, err)
	}
	o.Encoding = dataset.GBK
	if err := RunGenerate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Response](out)
	if err != nil || len(rows) != 1 || rows[0].Prompt != "你好，世界" {
		t.Fatalf("rows %+v, %v", rows, err)
	}
}
