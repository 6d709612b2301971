package tokenizer

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/rlhf-project/rlhf/dataset"
)

// randomByteIDs is what a byte-level model that has learnt nothing samples:
// any of the 256 byte tokens, now and then <|endoftext|> (id 256).
func randomByteIDs(rng *rand.Rand, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.Intn(257)
	}
	return ids
}

func TestDecodeGivesValidUTF8(t *testing.T) {
	tk := NewByteLevel()
	rng := rand.New(rand.NewSource(17))
	invalid := 0
	for range 500 {
		ids := randomByteIDs(rng, rng.Intn(64))
		raw := tk.DecodeBytes(ids)
		got := tk.Decode(ids)
		if !utf8.ValidString(got) {
			t.Fatalf("Decode(%v) = %q is not valid UTF-8", ids, got)
		}
		if utf8.Valid(raw) {
			if got != string(raw) {
				t.Fatalf("valid bytes %q decoded as %q", raw, got)
			}
			continue
		}
		invalid++
		// Valid characters pass through; only ill-formed bytes change.
		if strings.ReplaceAll(got, "\uFFFD", "") != strings.ReplaceAll(strings.ToValidUTF8(string(raw), ""), "\uFFFD", "") {
			t.Fatalf("Decode(%v) = %q lost or changed valid text of %q", ids, got, raw)
		}
	}
	if invalid == 0 {
		t.Fatal("no random sequence was invalid UTF-8: the test proves nothing")
	}

	// One U+FFFD per maximal ill-formed subpart, as Rust's
	// String::from_utf8_lossy (HF's ByteLevel decoder) gives; the first case
	// is the example of the Unicode standard (chapter 3, "U+FFFD
	// Substitution of Maximal Subparts").
	for raw, want := range map[string]string{
		"a\xf1\x80\x80\xe1\x80\xc2b\x80c\x80\xbfd": "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd",
		"\xe4\xb8":             "\uFFFD",             // a character cut short
		"\xe4\xb8\xad\xe4":     "中\uFFFD",            // the last one cut short
		"ok\xff\xfeok":         "ok\uFFFD\uFFFDok",   // two invalid bytes
		"\xed\xa0\x80":         "\uFFFD\uFFFD\uFFFD", // a UTF-16 surrogate
		"caf\xe9 <|endo":       "caf\uFFFD <|endo",
		"\xf0\x9f\x98\x80\xf0": "😀\uFFFD",
	} {
		ids := make([]int, len(raw))
		for i := range len(raw) {
			ids[i] = int(raw[i])
		}
		if got := tk.Decode(ids); got != want {
			t.Errorf("Decode(% x) = %q, want %q", raw, got, want)
		}
		if got := tk.DecodeBytes(ids); string(got) != raw {
			t.Errorf("DecodeBytes(% x) = % x, want the bytes themselves", raw, got)
		}
	}
	if got := tk.Decode([]int{0xe4, 256, 0xb8, 0xad}); got != "\uFFFD<|endoftext|>\uFFFD\uFFFD" {
		t.Errorf("special token inside a character: %q", got)
	}
}

// TestRandomByteLevelOutputIsAStrictUTF8Dataset writes the decode of random
// byte tokens (what `rlhf generate` writes for an untrained byte-level
// model) into a response dataset and reads the shards back with parquet-go
// directly, checking every value of every STRING column as DuckDB does.
func TestRandomByteLevelOutputIsAStrictUTF8Dataset(t *testing.T) {
	tk := NewByteLevel()
	rng := rand.New(rand.NewSource(5))
	dir := filepath.Join(t.TempDir(), "responses")
	w, err := dataset.Create[dataset.Response](dir, dataset.WriterOptions{RowGroupRows: 64})
	if err != nil {
		t.Fatal(err)
	}
	invalid := 0
	for i := range 300 {
		ids := randomByteIDs(rng, 1+rng.Intn(48))
		if !utf8.Valid(tk.DecodeBytes(ids)) {
			invalid++
		}
		row := dataset.Response{PromptID: "p", Prompt: "say something", Response: tk.Decode(ids), Model: "random", SampleIndex: int32(i), NumTokens: int32(len(ids))}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if invalid == 0 {
		t.Fatal("no sample was invalid UTF-8: the test proves nothing")
	}
	shards, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if len(shards) == 0 {
		t.Fatal("no shard written")
	}
	values := 0
	for _, p := range shards {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range f.Schema().Columns() {
			leaf, _ := f.Schema().Lookup(col...)
			if lt := leaf.Node.Type().LogicalType(); lt == nil || lt.String() != "STRING" {
				continue
			}
			for _, rg := range f.RowGroups() {
				pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
				for {
					pg, err := pages.ReadPage()
					if err != nil {
						break
					}
					vals := make([]parquet.Value, pg.NumValues())
					n, _ := pg.Values().ReadValues(vals)
					for _, v := range vals[:n] {
						values++
						if !utf8.Valid(v.ByteArray()) {
							t.Fatalf("%s column %s: invalid UTF-8 value %q", p, strings.Join(col, "."), v.ByteArray())
						}
					}
					parquet.Release(pg)
				}
				pages.Close()
			}
		}
	}
	if values < 300*4 {
		t.Fatalf("checked only %d string values", values)
	}
}
