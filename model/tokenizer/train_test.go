package tokenizer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/dataset"
)

// trainingRows are short texts written for this test, repeated so that
// common pairs pass the minimum frequency.
var trainingRows = []string{
	"the model reads the text and the model learns the tokens",
	"the assistant answers the question with a short answer",
	"我们学习中文，我们也学习英文。",
	"tokens, tokens and more tokens<|endoftext|>",
}

func writeJSONL(t *testing.T, rows []map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.jsonl")
	var sb strings.Builder
	for _, r := range rows {
		b, _ := json.Marshal(r)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrainByteLevelBPE(t *testing.T) {
	var rows []map[string]string
	for i := 0; i < 20; i++ {
		for j, s := range trainingRows {
			if j%2 == 0 {
				rows = append(rows, map[string]string{"text": s})
			} else {
				rows = append(rows, map[string]string{"prompt": s, "response": s})
			}
		}
	}
	data := writeJSONL(t, rows)
	out := filepath.Join(t.TempDir(), "tok", "tokenizer.json")
	if err := Train(context.Background(), TrainOptions{Texts: dataset.Texts([]string{data}, ""), VocabSize: 300, Out: out}); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() <= 257 || tk.VocabSize() > 300 {
		t.Errorf("VocabSize = %d, want in (257, 300]", tk.VocabSize())
	}
	if tk.EOS() != tk.VocabSize()-1 {
		t.Errorf("EOS = %d, want the last id %d", tk.EOS(), tk.VocabSize()-1)
	}
	// Frequent words now take fewer tokens than bytes.
	for _, w := range []string{" the", " model", " tokens", "学习"} {
		if n := len(tk.Encode(w)); n >= len(w) {
			t.Errorf("%q: %d tokens for %d bytes, want merges", w, n, len(w))
		}
	}
	for _, s := range append(roundTripTexts, trainingRows...) {
		if got := tk.Decode(tk.Encode(s)); got != s {
			t.Errorf("round trip %q: got %q", s, got)
		}
	}
	if id, ok := tk.TokenToID("<|endoftext|>"); !ok || !tk.IsSpecial(id) {
		t.Error("<|endoftext|> is not a special token")
	}
}

func TestTrainFromDataset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sft")
	w, err := dataset.Create[dataset.SFT](dir, dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := w.Write(dataset.SFT{ID: fmt.Sprint(i), Task: "chat", Prompt: "say hello hello", Response: "hello hello hello"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := Train(context.Background(), TrainOptions{Texts: dataset.Texts([]string{dir}, ""), VocabSize: 270, Out: out}); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tk.Encode(" hello"); len(ids) != 1 {
		t.Errorf(`Encode(" hello") = %v, want one token`, ids)
	}
}

func TestTrainErrors(t *testing.T) {
	bad := writeJSONL(t, []map[string]string{{"text": "fine"}, {"title": "no text here"}})
	out := filepath.Join(t.TempDir(), "tokenizer.json")
	for _, tc := range []struct {
		opts TrainOptions
		want string
	}{
		{TrainOptions{Texts: dataset.Texts([]string{bad}, ""), Out: out}, bad + ":2"},
		{TrainOptions{Texts: dataset.Texts([]string{bad}, ""), Out: out, VocabSize: 100}, "vocabulary size 100"},
		{TrainOptions{Out: out}, "no training texts"},
		{TrainOptions{Texts: dataset.Texts([]string{bad}, "")}, "no tokenizer.json"},
		{TrainOptions{Texts: dataset.Texts([]string{filepath.Join(t.TempDir(), "none.jsonl")}, ""), Out: out}, "none.jsonl"},
	} {
		err := Train(context.Background(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s", out)
	}
}

func TestRunByteLevel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bl", "tokenizer.json")
	if err := RunByteLevel(context.Background(), ByteLevelOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := "byte-level 字节 ✓"; tk.Decode(tk.Encode(s)) != s {
		t.Error("round trip failed")
	}
	if err := RunByteLevel(context.Background(), ByteLevelOptions{}); err == nil || !strings.Contains(err.Error(), "Out") {
		t.Errorf("missing --out: got %v", err)
	}
}

func TestTrainBPEMerges(t *testing.T) {
	ctx := context.Background()
	vocab, merges, err := trainBPE(ctx, map[string]int{"abab": 3, "ab": 2, "b": 1, "xy": 2, "pq": 2}, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	// (a,b) occurs 8 times (and (b,a) vanishes with it); then (ab,ab) 3
	// times; then the tie (p,q)/(x,y) at 2 goes to the pair that sorts first.
	want := [][2]string{{"a", "b"}, {"ab", "ab"}, {"p", "q"}, {"x", "y"}}
	if fmt.Sprint(merges) != fmt.Sprint(want) {
		t.Errorf("merges = %v, want %v", merges, want)
	}
	if vocab["ab"] != 256 || vocab["abab"] != 257 || len(vocab) != 260 {
		t.Errorf("vocab ids: ab=%d abab=%d, %d tokens", vocab["ab"], vocab["abab"], len(vocab))
	}
	// Overlapping runs merge left to right: "aaaa" -> "aa aa".
	_, merges, _ = trainBPE(ctx, map[string]int{"aaaa": 5}, 1000, 2)
	if fmt.Sprint(merges) != fmt.Sprint([][2]string{{"a", "a"}, {"aa", "aa"}}) {
		t.Errorf("aaaa: merges = %v", merges)
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	var rows []map[string]string
	for i := 0; i < 50; i++ {
		rows = append(rows, map[string]string{"text": fmt.Sprintf("row %d: %s", i, trainingRows[i%len(trainingRows)])})
	}
	data := writeJSONL(t, rows)
	var files [2][]byte
	for i := range files {
		out := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := Train(context.Background(), TrainOptions{Texts: dataset.Texts([]string{data}, ""), VocabSize: 400, Out: out}); err != nil {
			t.Fatal(err)
		}
		var err error
		if files[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if string(files[0]) != string(files[1]) {
		t.Error("two runs on the same data wrote different files")
	}
}

// A GBK corpus is an error naming the file and line, not U+FFFD words; with
// Encoding it trains on the real Chinese.
func TestTrainGBKCorpus(t *testing.T) {
	var sb strings.Builder
	for range 20 {
		sb.WriteString("{\"text\":\"我们学习中文，我们也学习英文。\"}\n")
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "gbk.jsonl")
	os.WriteFile(data, []byte(gbk), 0o644)
	out := filepath.Join(t.TempDir(), "tokenizer.json")
	err = Train(context.Background(), TrainOptions{Texts: dataset.Texts([]string{data}, ""), VocabSize: 300, Out: out})
	if !dataset.IsInvalidUTF8(err) || !strings.Contains(err.Error(), data+`:1: invalid UTF-8 in field "text"`) {
		t.Fatalf("want an error naming %s:1, got %v", data, err)
	}
	if err := Train(context.Background(), TrainOptions{Texts: dataset.Texts([]string{data}, dataset.GBK), VocabSize: 300, Out: out}); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tk.Encode("学习")); n >= len("学习") {
		t.Errorf("学习: %d tokens, want merges learnt from the decoded text", n)
	}
}
