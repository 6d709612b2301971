package prompts

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
)

func TestMixWeights(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	os.WriteFile(p, []byte("weights:\n  chat: 3\n  open_qa: 1\n"), 0o644)
	w, err := MixWeights(p, nil)
	if err != nil || w["chat"] != 0.75 || w["open_qa"] != 0.25 || w["generation"] != 0 {
		t.Errorf("file mix: %v %v", w, err)
	}
	u, _ := MixWeights("uniform", nil)
	n, _ := MixWeights("natural", map[string]float64{"chat": 10, "extract": 30})
	g, _ := MixWeights("instructgpt", nil)
	if u["rewrite"] != 0.1 || n["extract"] != 0.75 || math.Abs(g["generation"]-0.456) > 1e-3 { // the table sums to 99.9 %: normalised
		t.Errorf("uniform %v natural %v instructgpt %v", u, n, g)
	}
	os.WriteFile(p, []byte("weights:\n  poetry: 1\n"), 0o644)
	if _, err := MixWeights(p, nil); err == nil || !strings.Contains(err.Error(), "poetry") {
		t.Errorf("unknown task: %v", err)
	}
	if got := apportion(10, []float64{1, 1, 1}); got[0]+got[1]+got[2] != 10 {
		t.Errorf("apportion %v", got)
	}
}

func TestFiltersAndCaps(t *testing.T) {
	dir := t.TempDir()
	specs := synth(t, dir, 400)
	// Per-source cap: no source gives a task more than 20 rows.
	specs[0] += "?max=20"
	rep := run(t, Options{Sources: specs, Total: 300, Out: filepath.Join(dir, "a"), Langs: []string{"en"}, MaxPromptChars: 300})
	for _, tr := range rep.Tasks {
		if n := tr.Sources["qa:syn_qa.jsonl"]; n > 20 {
			t.Errorf("%s: qa source gave %d rows over its cap of 20", tr.Task, n)
		}
	}
	var lang, long int64
	for _, tr := range rep.Tasks {
		lang += tr.Dropped[DropLang]
		long += tr.Dropped[DropPromptLong]
	}
	if lang == 0 || long == 0 {
		t.Errorf("language and length filters dropped nothing: lang %d, prompt_long %d", lang, long)
	}
	rows, _ := dataset.ReadAll[dataset.SFT](filepath.Join(dir, "a", "sft", "train"))
	for _, r := range rows {
		if r.Lang != "en" || DetectLang(r.Prompt) == "zh" || runeLen(r.Prompt) > 300 {
			t.Fatalf("row escaped the filters: %+v", r)
		}
	}
}

// The qa adapter reads the Parquet datasets scrape writes.
func TestQAParquet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qa")
	w, err := dataset.Create[dataset.QA](dir, dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(dataset.QA{Site: "s", URL: "u1", Title: "月亮", Question: "月亮为什么有圆缺？", Answer: "因为月球绕地球公转，太阳照亮的部分在我们看来不断变化。", Lang: "zh", FetchedAt: time.Unix(0, 0).UTC()},
		dataset.QA{Site: "s", URL: "u2", Title: "Tides", Question: "What causes tides?", Answer: "Mostly the Moon's gravity pulling on the oceans.", Lang: "en", Category: "closed_qa", FetchedAt: time.Unix(0, 0).UTC()})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	exs, bad := readExamples(t, "qa:"+dir)
	if len(exs) != 2 || len(bad) != 0 || exs[0].Fields["topic"] != "月亮" || exs[1].Tasks[0] != "closed_qa" {
		t.Errorf("examples %+v, malformed %v", exs, bad)
	}
}

// Alpaca ships one JSON array; it is streamed item by item.
func TestInstructionJSONArray(t *testing.T) {
	p := filepath.Join(t.TempDir(), "alpaca_data.json")
	os.WriteFile(p, []byte(`[
  {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep enough and exercise."},
  {"instruction": "把句子改写得更正式。", "input": "这事儿挺好办的。", "output": "此事较易处理。"}
]`), 0o644)
	exs, bad := readExamples(t, "generation=instruction:"+p)
	if len(exs) != 2 || len(bad) != 0 || exs[1].Fields["input"] != "这事儿挺好办的。" || exs[0].Tasks[0] != "generation" {
		t.Errorf("examples %+v, malformed %v", exs, bad)
	}
}

// TestInvalidOptionsAreErrors: 0 means the default for library callers; a
// value below the valid range is an error naming it, not the default.
func TestInvalidOptionsAreErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.MaxRepeat = 0.5 }, "MaxRepeat 0.5"},
		{func(o *Options) { o.MaxRepeat = -1 }, "MaxRepeat -1"},
		{func(o *Options) { o.MaxPerSource = -1 }, "MaxPerSource -1"},
		{func(o *Options) { o.MinPromptChars = -1 }, "MinPromptChars -1"},
		{func(o *Options) { o.MaxResponseChars = -1 }, "MaxResponseChars -1"},
		{func(o *Options) { o.RowsPerShard = -1 }, "RowsPerShard -1"},
	} {
		o := Options{Sources: []string{"squad:none.json"}, Out: filepath.Join(t.TempDir(), "out")}
		tc.edit(&o)
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
}
