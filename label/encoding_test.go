package label

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/dataset"
)

// A GBK preference file is an error naming the file and line (it used to
// import as U+FFFD mojibake tagged lang=zh); with Encoding it imports as
// the original Chinese.
func TestImportGBK(t *testing.T) {
	dir := t.TempDir()
	text := `{"prompt":"Say hi.","chosen":"Hi!","rejected":"No."}` + "\n" +
		`{"prompt":"用一句话介绍长城。","chosen":"长城是中国古代修建的军事防御工程。","rejected":"长城是一条河。"}` + "\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "prefs.jsonl")
	os.WriteFile(in, gbk, 0o644)
	_, err = Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{in}, Out: filepath.Join(dir, "bad")})
	if !dataset.IsInvalidUTF8(err) || !strings.Contains(err.Error(), in+`:2: invalid UTF-8 in field "prompt"`) || !strings.Contains(err.Error(), "Encoding gbk") {
		t.Fatalf("want an error naming %s:2 and the prompt field, got %v", in, err)
	}
	out := filepath.Join(dir, "out")
	if _, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{in}, Out: out, Encoding: dataset.GBK}); err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	if len(rows) != 2 || rows[1].Prompt != "用一句话介绍长城。" || rows[1].Chosen != "长城是中国古代修建的军事防御工程。" || rows[1].Lang != "zh" || rows[0].Lang != "en" {
		t.Fatalf("rows %+v", rows)
	}
	if _, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{in}, Out: out, Encoding: "utf-16"}); err == nil || !strings.Contains(err.Error(), "Encoding") {
		t.Fatalf("unknown encoding: %v", err)
	}

	// A Parquet file from a writer that does not check UTF-8.
	type trlParquet struct {
		Prompt   string `parquet:"prompt"`
		Chosen   string `parquet:"chosen"`
		Rejected string `parquet:"rejected"`
	}
	pq := filepath.Join(dir, "train.parquet")
	if err := parquet.WriteFile(pq, []trlParquet{{"p", "a", "b"}, {"p", string(gbk[60:80]), "b"}}); err != nil {
		t.Fatal(err)
	}
	_, err = Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{pq}, Out: filepath.Join(dir, "pq")})
	if err == nil || !strings.Contains(err.Error(), pq+`: row 2: invalid UTF-8 in column "chosen"`) {
		t.Fatalf("parquet: %v", err)
	}
}

func TestGoldFileGBK(t *testing.T) {
	s := newStore(t)
	p := filepath.Join(t.TempDir(), "gold.jsonl")
	os.WriteFile(p, []byte(`{"prompt_id":"p1","order":["p1-a","p1-b","p1-c"]}`+"\n"+"{\"prompt_id\":\"\xb3\xa4\xb3\xc7\",\"order\":[\"a\"]}\n"), 0o644)
	var out bytes.Buffer
	err := ImportGoldFile(context.Background(), GoldOptions{DB: s.Path(), From: p}, &out)
	if !dataset.IsInvalidUTF8(err) || !strings.Contains(err.Error(), p+`:2: invalid UTF-8 in field "prompt_id"`) {
		t.Fatalf("got %v", err)
	}
}
