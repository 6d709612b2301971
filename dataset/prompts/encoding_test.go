package prompts

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/dataset"
)

// readErr runs one adapter over a source spec and returns its error.
func readErr(t *testing.T, spec string) error {
	t.Helper()
	s, err := ParseSource(spec)
	if err != nil {
		t.Fatal(err)
	}
	return adapters[s.Adapter](&s, func(Example) error { return nil }, func(string, error) {})
}

// TestGBKSources runs every reader path (JSONL lines, a JSON array, SQuAD
// JSON, CSV, TSV, BIO, dialogue lines and the qa adapter's dataset reader)
// over GBK copies of the adapter fixtures: without an encoding each is an
// error naming the file and a line and suggesting --encoding gbk, not
// U+FFFD mojibake; with encoding=gbk each yields what the UTF-8 original
// yields.
func TestGBKSources(t *testing.T) {
	dir := t.TempDir()
	alpaca := filepath.Join(dir, "alpaca.json")
	os.WriteFile(alpaca, []byte(`[
  {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep enough and exercise."},
  {"instruction": "把句子改写得更正式。", "input": "这事儿挺好办的。", "output": "此事较易处理。"}
]`), 0o644)
	specs := []string{
		"squad:" + fixtures + "squad.json",
		"dureader:" + fixtures + "dureader.jsonl",
		"summarization:" + fixtures + "summarization.csv",
		"classification:" + fixtures + "classification.tsv?labels=sports:体育|finance:财经|tech:科技",
		"cluener:" + fixtures + "cluener.jsonl",
		"bio:" + fixtures + "ner.bio",
		"pairs:" + fixtures + "pairs.jsonl",
		"dialogue:" + fixtures + "dialogue.jsonl",
		"instruction:" + fixtures + "instruction.jsonl",
		"qa:" + fixtures + "qa.jsonl",
		"generation=instruction:" + alpaca,
	}
	gbkDir := filepath.Join(dir, "gbk")
	os.Mkdir(gbkDir, 0o755)
	for _, spec := range specs {
		head, rest, _ := strings.Cut(spec, ":")
		path, opts, _ := strings.Cut(rest, "?")
		name := filepath.Base(path)
		t.Run(head+"/"+name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(raw)
			if err != nil {
				t.Fatalf("%s is not GBK-encodable: %v", path, err)
			}
			if string(gbk) == string(raw) {
				t.Fatalf("%s is ASCII: the test proves nothing", path)
			}
			gpath := filepath.Join(gbkDir, name)
			os.WriteFile(gpath, gbk, 0o644)
			sep := "?"
			if opts != "" {
				opts, sep = "?"+opts, ","
			}
			err = readErr(t, head+":"+gpath+opts)
			var ie *dataset.InvalidUTF8Error
			if !errors.As(err, &ie) || ie.Path != gpath || ie.Line < 1 || ie.Guess != dataset.GBK {
				t.Fatalf("want an invalid UTF-8 error naming %s and a line, got %v", gpath, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, gpath+":") || !strings.Contains(msg, "Encoding gbk") {
				t.Fatalf("message %q", msg)
			}
			want, wantBad := readExamples(t, head+":"+path+opts)
			got, gotBad := readExamples(t, head+":"+gpath+opts+sep+"encoding=gbk")
			if len(got) != len(want) || len(gotBad) != len(wantBad) || len(want) == 0 {
				t.Fatalf("encoding=gbk: %d examples (%d malformed), want %d (%d)", len(got), len(gotBad), len(want), len(wantBad))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i].Fields, want[i].Fields) || !reflect.DeepEqual(got[i].Tasks, want[i].Tasks) || got[i].Lang != want[i].Lang {
					t.Fatalf("example %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestBuildPromptsEncoding: Options.Encoding decodes every source, a
// GBK source without it stops the build with the file and line, and the
// rows of a decoded source are tagged by their real language.
func TestBuildPromptsEncoding(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(fixtures + "instruction.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	gbk, _ := simplifiedchinese.GBK.NewEncoder().Bytes(raw)
	p := filepath.Join(dir, "ins.jsonl")
	os.WriteFile(p, gbk, 0o644)
	_, err = Run(t.Context(), Options{Sources: []string{"instruction:" + p}, Total: 10, Out: filepath.Join(dir, "bad")})
	if !dataset.IsInvalidUTF8(err) || !strings.Contains(err.Error(), p+":") {
		t.Fatalf("want an invalid UTF-8 error naming %s, got %v", p, err)
	}
	out := filepath.Join(dir, "out")
	rep := run(t, Options{Sources: []string{"instruction:" + p}, Total: 10, Out: out, Encoding: dataset.GBK})
	if rep.Rows == 0 {
		t.Fatal("no rows")
	}
	rows, err := dataset.ReadAll[dataset.SFT](filepath.Join(out, "sft", "train"))
	if err != nil {
		t.Fatal(err)
	}
	zh := 0
	for _, r := range rows {
		if strings.ContainsRune(r.Prompt+r.Response, '\uFFFD') {
			t.Fatalf("mojibake in %+v", r)
		}
		if r.Lang == "zh" {
			zh++
		}
	}
	if zh == 0 {
		t.Fatalf("no Chinese row in %+v", rows)
	}
	if _, err := Run(t.Context(), Options{Sources: []string{"instruction:" + p}, Out: out, Encoding: "latin1"}); err == nil || !strings.Contains(err.Error(), "Encoding") {
		t.Fatalf("bad encoding: %v", err)
	}
	if _, err := ParseSource("instruction:" + p + "?encoding=ebcdic"); err == nil || !strings.Contains(err.Error(), "gbk") {
		t.Fatalf("bad encoding= option: %v", err)
	}
}
