package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/dataset"
)

// TestEncodingFlag: a GBK JSONL given to `comparisons import` fails with
// the file and line (it used to import as U+FFFD mojibake tagged zh), and
// with --encoding gbk imports the real text; a bad --encoding names the
// flag and the valid values; every command that reads JSONL has the flag.
func TestEncodingFlag(t *testing.T) {
	dir := t.TempDir()
	text := `{"prompt":"Say hi.","chosen":"Hi!","rejected":"No."}` + "\n" +
		`{"prompt":"长城有多长？","chosen":"长城全长两万多公里。","rejected":"长城只有一公里。"}` + "\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "prefs.jsonl")
	os.WriteFile(in, []byte(gbk), 0o644)
	out := filepath.Join(dir, "cmp")

	_, err = run(t, "comparisons", "import", "--format", "trl", "--in", in, "--out", out)
	if err == nil || !strings.Contains(err.Error(), in+`:2: invalid UTF-8 in field "prompt"`) || !strings.Contains(err.Error(), "--encoding gbk") {
		t.Fatalf("want an error naming %s:2 and suggesting --encoding gbk, got %v", in, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("the failed import left an output")
	}
	// A command that reads its inputs itself names the flag too.
	_, err = run(t, "tokenizer", "train", "--data", in, "--out", filepath.Join(dir, "tok.json"))
	if err == nil || !strings.Contains(err.Error(), in+":2: invalid UTF-8") || !strings.Contains(err.Error(), "--encoding gbk") {
		t.Fatalf("tokenizer train: want an error naming %s:2 and suggesting --encoding gbk, got %v", in, err)
	}

	if _, err := run(t, "comparisons", "import", "--format", "trl", "--in", in, "--out", out, "--encoding", "gbk"); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Prompt != "长城有多长？" || rows[1].Chosen != "长城全长两万多公里。" || rows[1].Lang != "zh" {
		t.Fatalf("rows %+v", rows)
	}

	_, err = run(t, "comparisons", "import", "--format", "trl", "--in", in, "--out", out, "--encoding", "latin-1")
	if err == nil || !strings.Contains(err.Error(), "--encoding") || !strings.Contains(err.Error(), "utf-8, gbk, gb18030, big5") {
		t.Fatalf("want an error naming --encoding and its values, got %v", err)
	}

	root := NewRootCmd()
	for _, path := range [][]string{{"sft"}, {"rm"}, {"ppo"}, {"eval"}, {"generate"}, {"score"}, {"build-prompts"}, {"comparisons", "import"}, {"tokenizer", "train"}} {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup("encoding")
		if f == nil || f.DefValue != "utf-8" {
			t.Errorf("%s: no --encoding flag defaulting to utf-8", strings.Join(path, " "))
		}
	}
}
