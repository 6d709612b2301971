package prompts

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/rlhf-project/rlhf/dataset"
)

const fixtures = "../../testdata/prompts/"

// readExamples runs one adapter over a source spec and returns what it
// yields and the positions it reported as malformed.
func readExamples(t *testing.T, spec string) ([]Example, []string) {
	t.Helper()
	s, err := ParseSource(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out []Example
	var bad []string
	err = adapters[s.Adapter](&s, func(ex Example) error { out = append(out, ex); return nil },
		func(pos string, err error) { bad = append(bad, pos+": "+err.Error()) })
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return out, bad
}

func TestAdapters(t *testing.T) {
	cases := []struct {
		spec  string
		n     int
		tasks string
		check func(t *testing.T, exs []Example)
	}{
		{"squad:" + fixtures + "squad.json", 5, "closed_qa,extract", func(t *testing.T, exs []Example) {
			if f := exs[0].Fields; f["answer"] != "嘉峪关" || !strings.HasPrefix(f["context"], "长城") || f["title"] != "长城" {
				t.Errorf("first squad example: %v", f)
			}
		}},
		{"dureader:" + fixtures + "dureader.jsonl", 4, "", func(t *testing.T, exs []Example) {
			if exs[0].Fields["context"] == "" || !strings.Contains(exs[0].Fields["context"], "加湿器") {
				t.Errorf("most_related_para not used: %v", exs[0].Fields)
			}
			if len(exs[2].Tasks) != 1 || exs[2].Tasks[0] != "open_qa" {
				t.Errorf("no documents → open_qa only, got %v", exs[2].Tasks)
			}
		}},
		{"summarization:" + fixtures + "summarization.csv", 4, "summarization", func(t *testing.T, exs []Example) {
			if exs[2].Fields["summary"] != "Council extends late-night buses to all suburbs from next month" {
				t.Errorf("csv summary: %v", exs[2].Fields)
			}
		}},
		{"classification:" + fixtures + "classification.tsv?labels=sports:体育|finance:财经|tech:科技", 6, "classification", func(t *testing.T, exs []Example) {
			if f := exs[0].Fields; f["label"] != "体育" || f["options"] != "体育"+ListSep+"科技"+ListSep+"财经" {
				t.Errorf("label map: %q %q", f["label"], f["options"])
			}
		}},
		{"cluener:" + fixtures + "cluener.jsonl", 7, "extract", func(t *testing.T, exs []Example) {
			if f := exs[0].Fields; f["entity_type"] != "company" || f["entities"] != "浙商银行" || f["entity_type_zh"] != "公司" {
				t.Errorf("cluener: %v", f)
			}
		}},
		{"bio:" + fixtures + "ner.bio", 6, "extract", func(t *testing.T, exs []Example) {
			if f := exs[0].Fields; f["text"] != "李明在北京工作。" || f["entities"] != "北京" {
				t.Errorf("bio zh: %v", f)
			}
			if f := exs[2].Fields; f["text"] != "Marie Curie worked in Paris ." || f["entities"] != "Paris" {
				t.Errorf("bio en: %v", f)
			}
			if f := exs[5].Fields; f["entities"] != "张华" {
				t.Errorf("bio last sentence without trailing blank line: %v", f)
			}
		}},
		{"pairs:" + fixtures + "pairs.jsonl", 6, "rewrite", func(t *testing.T, exs []Example) {
			if exs[2].Fields["source_lang"] != "zh" || exs[2].Lang != "zh" || exs[3].Fields["target_text"] != "今天天气很好，我们去公园散步吧。" {
				t.Errorf("translation: %v %v", exs[2], exs[3])
			}
		}},
		{"dialogue:" + fixtures + "dialogue.jsonl", 4, "chat", func(t *testing.T, exs []Example) {
			if f := exs[0].Fields; f["reply"] != "那也不错，好好休息" || len(strings.Split(f["history"], ListSep)) != 3 || f["history"][:len("你周末")] != "你周末" {
				t.Errorf("LCCC line: %q", f)
			}
			if f := exs[2].Fields; f["reply"] != "Great, see you at noon." {
				t.Errorf("__eou__ line: %q", f)
			}
		}},
		{"instruction:" + fixtures + "instruction.jsonl", 5, "", func(t *testing.T, exs []Example) {
			want := []string{"generation", "rewrite", "brainstorming", "classification", "summarization"}
			for i, ex := range exs {
				if ex.Tasks[0] != want[i] {
					t.Errorf("row %d: task %v, want %s", i+1, ex.Tasks, want[i])
				}
			}
			if exs[4].Fields["input"] == "" || exs[4].Fields["output"] == "" {
				t.Errorf("Dolly context/response columns: %v", exs[4].Fields)
			}
		}},
		{"qa:" + fixtures + "qa.jsonl", 5, "", func(t *testing.T, exs []Example) {
			if exs[0].Tasks[0] != "open_qa" || exs[4].Tasks[0] != "brainstorming" || exs[0].Lang != "zh" || exs[0].Fields["topic"] != "大熊猫" {
				t.Errorf("qa: %v / %v", exs[0], exs[4])
			}
		}},
	}
	for _, c := range cases {
		name, _, _ := strings.Cut(c.spec, ":")
		t.Run(name, func(t *testing.T) {
			exs, bad := readExamples(t, c.spec)
			if len(bad) > 0 {
				t.Errorf("malformed: %v", bad)
			}
			if len(exs) != c.n {
				t.Fatalf("got %d examples, want %d", len(exs), c.n)
			}
			if c.tasks != "" {
				for _, ex := range exs {
					if strings.Join(ex.Tasks, ",") != c.tasks {
						t.Errorf("%s: tasks %v, want %s", ex.Pos, ex.Tasks, c.tasks)
					}
				}
			}
			c.check(t, exs)
		})
	}
}

func TestGzipTransparent(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(fixtures + "dureader.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	// Both a .gz name and a misleading plain name are detected by content.
	for _, name := range []string{"d.jsonl.gz", "d.jsonl"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, buf.Bytes(), 0o644)
		exs, bad := readExamples(t, "dureader:"+p)
		if len(exs) != 4 || len(bad) != 0 {
			t.Errorf("%s: %d examples, %v malformed", name, len(exs), bad)
		}
		os.Remove(p)
	}
}

func TestParseSource(t *testing.T) {
	s, err := ParseSource("closed_qa=squad:data/cmrc.json?question=q,context=ctx,max=10")
	if err != nil {
		t.Fatal(err)
	}
	if s.Task != "closed_qa" || s.Adapter != "squad" || s.Path != "data/cmrc.json" || s.col("question", "question") != "q" || s.maxRows() != 10 {
		t.Errorf("parsed %+v", s)
	}
	for _, bad := range []string{"nosuch:x", "squad", "foo=squad:x", "squad:x?novalue", "squad:x?max=-1"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestTemplateBank(t *testing.T) {
	b, err := LoadBank("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range dataset.Tasks {
		want := 8
		switch task {
		case "generation", "open_qa", "brainstorming", "chat":
			want = 10
		}
		for _, lang := range []string{"zh", "en"} {
			if n := b.Count(task, lang); n < want {
				t.Errorf("%s/%s: %d templates, want at least %d", task, lang, n, want)
			}
		}
	}
	// A user directory adds templates and replaces by id.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(`task: chat
templates:
  - {id: chat.zh.01, lang: zh, requires: [history, reply], prompt: "REPLACED {{lines .history}}", response: "{{.reply}}"}
  - {id: my.chat, lang: en, requires: [history, reply], prompt: "MINE {{lines .history}}", response: "{{.reply}}"}
`), 0o644)
	b2, err := LoadBank(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if b2.Count("chat", "en") != b.Count("chat", "en")+1 || !strings.HasPrefix(b2.byID["chat.zh.01"].Prompt, "REPLACED") {
		t.Errorf("--templates did not add/replace")
	}
	only, err := LoadBank(dir, true)
	if err != nil || len(only.byID) != 2 {
		t.Errorf("--templates-only: %v, %d templates", err, len(only.byID))
	}
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("task: chat\ntemplates:\n  - {id: x, lang: zh, requires: [a], prompt: \"{{nosuchfunc .a}}\", response: r}\n"), 0o644)
	if _, err := LoadBank(dir, false); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("bad template: want an error naming the file, got %v", err)
	}
}

func TestPII(t *testing.T) {
	counts := map[string]int64{}
	in := "联系 zhang.san@example.com 或 13812345678，身份证 11010519491231002X，电话 010-12345678，call +1 (555) 123-4567. 2024年共有1200人。"
	got := scrubPII(in, counts)
	for _, leak := range []string{"zhang.san", "13812345678", "11010519491231002X", "12345678", "555"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q left in %q", leak, got)
		}
	}
	if !strings.Contains(got, "2024年共有1200人") {
		t.Errorf("ordinary numbers scrubbed: %q", got)
	}
	if counts[PIIEmail] != 1 || counts[PIIID] != 1 || counts[PIIPhone] != 3 {
		t.Errorf("counts %v", counts)
	}
}

func TestDetectLang(t *testing.T) {
	for in, want := range map[string]string{"今天天气很好": "zh", "The weather is nice": "en", "用 Python 写一个 web 服务": "zh", "12345 !!": "", "Привет мир": ""} {
		if got := DetectLang(in); got != want {
			t.Errorf("DetectLang(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlan(t *testing.T) {
	w, _ := MixWeights("instructgpt", nil)
	avail := map[string]int64{}
	for _, task := range dataset.Tasks {
		avail[task] = 1_000_000
	}
	avail["chat"] = 10 // chat is short
	p := plan(1000, w, avail, 1)
	var sum int64
	for _, t := range dataset.Tasks {
		sum += p[t].Want
	}
	if sum != 1000 || p["chat"].Want != 10 || !p["chat"].Short {
		t.Errorf("renormalise: sum %d, chat %+v", sum, p["chat"])
	}
	if p["generation"].Want <= p["generation"].Target {
		t.Errorf("generation should absorb chat's share: %+v", p["generation"])
	}
	p = plan(1000, w, avail, 3)
	if p["chat"].Want != 30 || p["chat"].Repeats != 20 {
		t.Errorf("max-repeat 3: chat %+v", p["chat"])
	}
}

// run is Run with logs silenced.
func run(t testing.TB, opts Options) *Report {
	t.Helper()
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer slog.SetDefault(old)
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func fixtureSources() []string {
	return []string{
		"squad:" + fixtures + "squad.json", "dureader:" + fixtures + "dureader.jsonl",
		"summarization:" + fixtures + "summarization.csv", "classification:" + fixtures + "classification.tsv",
		"cluener:" + fixtures + "cluener.jsonl", "bio:" + fixtures + "ner.bio", "pairs:" + fixtures + "pairs.jsonl",
		"dialogue:" + fixtures + "dialogue.jsonl", "instruction:" + fixtures + "instruction.jsonl", "qa:" + fixtures + "qa.jsonl",
	}
}

func TestEndToEndMix(t *testing.T) {
	dir := t.TempDir()
	specs := synth(t, dir, 1200)
	out := filepath.Join(dir, "out")
	const total = 2000
	rep := run(t, Options{Sources: specs, Total: total, Out: out, ValFrac: 0.05})
	if rep.Rows != total {
		t.Fatalf("rows %d, want %d; notes %v", rep.Rows, total, rep.Notes)
	}
	for _, tr := range rep.Tasks {
		if math.Abs(tr.AchievedPct-InstructGPTMix[tr.Task]) > 1 {
			t.Errorf("%s: achieved %.2f%%, target %.1f%%", tr.Task, tr.AchievedPct, InstructGPTMix[tr.Task])
		}
		if len(tr.Templates) < 2 {
			t.Errorf("%s: templates used %v", tr.Task, tr.Templates)
		}
	}
	// The datasets hold what the report says, with both languages.
	tr, _ := dataset.ReadAll[dataset.SFT](filepath.Join(out, "sft", "train"))
	va, _ := dataset.ReadAll[dataset.SFT](filepath.Join(out, "sft", "val"))
	pr, _ := dataset.ReadAll[dataset.Prompt](filepath.Join(out, "prompts", "train"))
	if len(tr)+len(va) != total || len(pr) != len(tr) || len(va) < 80 || len(va) > 120 {
		t.Errorf("sft train %d + val %d, prompts train %d", len(tr), len(va), len(pr))
	}
	langs := map[string]int{}
	for _, r := range tr {
		langs[r.Lang]++
		if r.Template == "" || r.Source == "" || r.Prompt == "" || r.Response == "" {
			t.Fatalf("incomplete row %+v", r)
		}
	}
	if langs["zh"] < 500 || langs["en"] < 500 {
		t.Errorf("languages %v", langs)
	}
	// Rows with a checkable answer carry it as the reference (the SFT
	// response of the same row); the others have none.
	resp := map[string]string{}
	for _, r := range tr {
		resp[r.Task+"\x00"+r.Prompt] = r.Response
	}
	withRef := map[string]int{}
	for _, p := range pr {
		switch p.Task {
		case "closed_qa", "extract", "classification":
			if p.Reference == "" || p.Reference != resp[p.Task+"\x00"+p.Prompt] {
				t.Fatalf("%s row %q: reference %q, want the demonstration %q", p.Task, p.Prompt, p.Reference, resp[p.Task+"\x00"+p.Prompt])
			}
			withRef[p.Task]++
		default:
			if p.Reference != "" {
				t.Fatalf("%s row has a reference %q", p.Task, p.Reference)
			}
		}
	}
	if withRef["closed_qa"] == 0 || withRef["extract"] == 0 || withRef["classification"] == 0 {
		t.Errorf("rows with a reference: %v", withRef)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "| generation | 45.6 | 45.6 |") {
		t.Errorf("report.md:\n%s", md)
	}
}

func TestShortTaskRenormalised(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	rep := run(t, Options{Sources: fixtureSources(), Total: 200, Out: out})
	if rep.Rows >= 200 || len(rep.Notes) == 0 {
		t.Errorf("tiny fixtures cannot give 200 rows: got %d, notes %v", rep.Rows, rep.Notes)
	}
	// The fixture's e-mail address and phone number never reach the output.
	rows, _ := dataset.ReadAll[dataset.SFT](filepath.Join(out, "sft", "train"))
	for _, r := range rows {
		if strings.Contains(r.Prompt+r.Response, "someone@example.com") || strings.Contains(r.Prompt+r.Response, "13812345678") {
			t.Fatalf("PII left in %+v", r)
		}
	}
	if rep.PII[PIIEmail] == 0 || rep.PII[PIIPhone] == 0 {
		t.Errorf("pii_scrubbed %v", rep.PII)
	}
	rep2 := run(t, Options{Sources: fixtureSources(), Total: 200, Out: out, MaxRepeat: 2})
	var rep1, rep2n int64
	for i := range rep.Tasks {
		rep1 += rep.Tasks[i].Repeated
		rep2n += rep2.Tasks[i].Repeated
	}
	if rep1 != 0 || rep2n == 0 || rep2.Rows <= rep.Rows {
		t.Errorf("max-repeat 2: repeated %d→%d, rows %d→%d", rep1, rep2n, rep.Rows, rep2.Rows)
	}
}

func TestDeterminism(t *testing.T) {
	dir := t.TempDir()
	specs := append(synth(t, dir, 400), fixtureSources()...)
	outs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	for i, o := range outs {
		seed := int64(5)
		if i == 2 {
			seed = 6
		}
		run(t, Options{Sources: specs, Total: 500, Out: o, Seed: seed, ValFrac: 0.1})
	}
	files, _ := filepath.Glob(filepath.Join(outs[0], "*", "*", "part-*.parquet"))
	files = append(files, filepath.Join(outs[0], "report.json"), filepath.Join(outs[0], "report.md"))
	if len(files) != 6 {
		t.Fatalf("outputs: %v", files)
	}
	differs := false
	for _, f := range files {
		rel, _ := filepath.Rel(outs[0], f)
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(outs[1], rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed", rel)
		}
		c, _ := os.ReadFile(filepath.Join(outs[2], rel))
		differs = differs || !bytes.Equal(a, c)
	}
	if !differs {
		t.Errorf("another seed gave the same output")
	}
}

func TestNearDup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "qa.jsonl")
	orig := `{"title":"西湖","question":"西湖在哪里？","answer":"西湖位于浙江省杭州市西部，是中国著名的风景名胜区。湖中有孤山、白堤、苏堤等景观，每年吸引大量游客前来游览。","lang":"zh"}`
	edited := `{"title":"西湖","question":"西湖在哪里呢？","answer":"西湖位于浙江省杭州市的西部，是中国著名的风景名胜区。湖中有孤山、白堤和苏堤等景观，每年都吸引大量游客前来游览。","lang":"zh"}`
	en := `{"title":"Lake","question":"Where is West Lake?","answer":"West Lake lies in the west of Hangzhou, in Zhejiang province. It is one of the best known scenic areas in China and draws many visitors every year.","lang":"en"}`
	enEdited := `{"title":"Lake","question":"Where is the West Lake?","answer":"West Lake lies in the west of Hangzhou in Zhejiang province. It is one of the best-known scenic areas in China and draws many visitors each year.","lang":"en"}`
	other := `{"title":"黄山","question":"黄山有什么特点？","answer":"黄山以奇松、怪石、云海、温泉四绝闻名，是世界文化与自然双重遗产。","lang":"zh"}`
	os.WriteFile(p, []byte(strings.Join([]string{orig, edited, en, enEdited, other}, "\n")+"\n"), 0o644)
	rep := run(t, Options{Sources: []string{"open_qa=qa:" + p}, Total: 100, Out: filepath.Join(dir, "out"), Mix: writeMix(t, dir, "open_qa: 1")})
	oq := rep.Tasks[1]
	if oq.Task != "open_qa" || oq.Rows != 3 || oq.Dropped[DropNearDup] != 2 {
		t.Errorf("open_qa: rows %d dropped %v; want 3 rows, 2 near-dups", oq.Rows, oq.Dropped)
	}
	// The exact shingling: Chinese by characters, English by words.
	if s := shingles("西湖很美", "zh"); len(s) != 3 {
		t.Errorf("zh character bigrams of 4 characters: %d", len(s))
	}
	if s := shingles("West Lake is lovely", "en"); len(s) != 3 {
		t.Errorf("en word 2-grams of 4 words: %d", len(s))
	}
}

func writeMix(t *testing.T, dir, body string) string {
	p := filepath.Join(dir, "mix.yaml")
	os.WriteFile(p, []byte(body+"\n"), 0o644)
	return p
}

func TestMalformedLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ins.jsonl")
	os.WriteFile(p, []byte(`{"instruction":"写一句问候语。","output":"你好，祝你今天愉快！","category":"generation"}
{"instruction": "broken json", "output":
{"instruction":"Name a primary colour.","output":"Red.","category":"open_qa"}
{"instruction":"","output":"missing instruction"}
`), 0o644)
	exs, bad := readExamples(t, "instruction:"+p)
	if len(exs) != 2 || len(bad) != 2 || !strings.HasPrefix(bad[0], p+":2: ") || !strings.HasPrefix(bad[1], p+":4: ") {
		t.Fatalf("examples %d, malformed %q", len(exs), bad)
	}
	csvp := filepath.Join(dir, "s.csv")
	os.WriteFile(csvp, []byte("document,summary\n\"long text here\",short\n\"only one column\"\n\"another text\",another\n"), 0o644)
	exs, bad = readExamples(t, "summarization:"+csvp)
	if len(exs) != 2 || len(bad) != 1 || !strings.HasPrefix(bad[0], csvp+":3: ") {
		t.Errorf("csv: examples %d, malformed %q", len(exs), bad)
	}
	qa := filepath.Join(dir, "qa.jsonl")
	os.WriteFile(qa, []byte(`{"title":"t","question":"What is rain?","answer":"Water falling from clouds.","lang":"en"}
not json at all
{"title":"u","question":"What is snow?","answer":"Frozen water falling from clouds.","lang":"en"}
`), 0o644)
	exs, bad = readExamples(t, "qa:"+qa)
	if len(exs) != 2 || len(bad) != 1 || !strings.Contains(bad[0], qa+":2") {
		t.Errorf("qa: examples %d, malformed %q", len(exs), bad)
	}
	rep := run(t, Options{Sources: []string{"instruction:" + p}, Total: 10, Out: filepath.Join(dir, "out")})
	if rep.Sources[0].Malformed != 2 || rep.Sources[0].Records != 2 || rep.Rows != 2 {
		t.Errorf("report: %+v rows %d", rep.Sources[0], rep.Rows)
	}
}

// TestChatSource: --source chat:PATH reads conversational rows (messages
// with a system message and earlier turns, ShareGPT, Alpaca, from JSONL and
// Parquet); the prompt is the last user turn as it is, the earlier turns
// are the row's history, the task comes from the row's category or is chat;
// a row that is no conversation is malformed by FILE:LINE.
func TestChatSource(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "chat.jsonl")
	os.WriteFile(p, []byte(`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the team."}, {"role": "assistant", "content": "Hello, team!"}, {"role": "user", "content": "Now say goodbye politely."}, {"role": "assistant", "content": "Goodbye, everyone!"}]}
{"conversations": [{"from": "human", "value": "Name three primary colours."}, {"from": "gpt", "value": "Red, yellow and blue."}], "category": "brainstorming"}
{"instruction": "Rewrite in formal English.", "input": "gonna be late", "output": "I am going to be late.", "category": "rewrite"}
{"messages": [{"role": "user", "content": "only a question"}]}
{"messages": [{"role": "user", "content": "Write a limerick about a cat who loves the rain and sleeps all day."}, {"role": "assistant", "content": "A cat who adored every drop..."}, {"role": "user", "content": "Now say goodbye politely."}, {"role": "assistant", "content": "Farewell, and thank you!"}]}
`), 0o644)
	type msg struct {
		Role    string `parquet:"role"`
		Content string `parquet:"content"`
	}
	type row struct {
		Messages []msg `parquet:"messages,list"`
	}
	var b bytes.Buffer
	if err := parquet.Write(&b, []row{{Messages: []msg{{"system", "You are terse."}, {"user", "What is the capital of France?"}, {"assistant", "Paris."}}}}); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "chat.parquet")
	os.WriteFile(pq, b.Bytes(), 0o644)

	exs, bad := readExamples(t, "chat:"+p)
	if len(exs) != 4 || len(bad) != 1 || !strings.HasPrefix(bad[0], p+":4: ") {
		t.Fatalf("examples %d, malformed %q", len(exs), bad)
	}
	out := filepath.Join(dir, "out")
	rep := run(t, Options{Sources: []string{"chat:" + p, "chat:" + pq}, Total: 5, Out: out})
	if rep.Rows != 5 {
		t.Fatalf("rows %d; notes %v", rep.Rows, rep.Notes)
	}
	var rows []dataset.Prompt
	for _, split := range []string{"train", "val"} {
		if d := filepath.Join(out, "prompts", split); dataset.IsComplete(d) {
			r, err := dataset.ReadAll[dataset.Prompt](d)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r...)
		}
	}
	sft, err := dataset.ReadAll[dataset.SFT](filepath.Join(out, "sft", "train"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sft {
		if r.Prompt == "Now say goodbye politely." && !strings.Contains(r.History, "limerick") && (r.Response != "Goodbye, everyone!" || !strings.Contains(r.History, "Hello, team!")) {
			t.Errorf("sft row: %+v", r)
		}
	}
	got := map[string]dataset.Prompt{}
	for _, r := range rows {
		if r.Prompt == "Now say goodbye politely." && strings.Contains(r.History, "limerick") {
			continue // the same last turn after another conversation: kept too
		}
		got[r.Prompt] = r
	}
	if len(got) != 4 {
		t.Errorf("%d distinct prompts, want 4 (and the same last turn of another conversation): %+v", len(got), rows)
	}
	want := map[string][2]string{
		"Now say goodbye politely.":                   {"chat", `[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello to the team."},{"role":"assistant","content":"Hello, team!"}]`},
		"Name three primary colours.":                 {"brainstorming", ""},
		"Rewrite in formal English.\n\ngonna be late": {"rewrite", ""},
		"What is the capital of France?":              {"chat", `[{"role":"system","content":"You are terse."}]`},
	}
	for prompt, w := range want {
		r, ok := got[prompt]
		if !ok || r.Task != w[0] || r.History != w[1] {
			t.Errorf("%q: %+v, want task %s history %s", prompt, r, w[0], w[1])
		}
	}
}
