package infer

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

func initTiny(t *testing.T, arch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	err := model.RunInit(model.InitOptions{Arch: arch, Layers: 1, Hidden: 32, Heads: 4, Out: dir, Seed: 5, MaxPositions: 128})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunInitGenerateScore(t *testing.T) {
	dir := initTiny(t, model.ArchQwen2)
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "rlhf.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "prompts.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt":"Say hi"}
{"prompt":"你好，世界"}
{"prompt":"x"}
`), 0o644)
	gen := func(out string, batch int) []dataset.Response {
		err := RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{prompts}, Out: out,
			NumSamples: 2, MaxNewTokens: 5, Temperature: 1, TopP: 0.95, Seed: 9, BatchSize: batch, Backend: "go"})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := dataset.ReadAll[dataset.Response](out)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	a := gen(filepath.Join(tmp, "gen-a"), 4)
	b := gen(filepath.Join(tmp, "gen-b"), 3)
	if len(a) != 6 || a[2].Prompt != "你好，世界" || a[3].SampleIndex != 1 {
		t.Fatalf("unexpected rows: %+v", a)
	}
	for i := range a {
		if a[i].Response != b[i].Response || math.Abs(a[i].Logprob-b[i].Logprob) > 1e-4 {
			t.Fatalf("row %d differs between runs with the same seed: %q vs %q", i, a[i].Response, b[i].Response)
		}
		if a[i].Logprob >= 0 {
			t.Fatalf("row %d logprob %v", i, a[i].Logprob)
		}
	}

	// Score the JSONL pairs raw and check against log-probs from the forward pass.
	data := filepath.Join(tmp, "pairs.jsonl")
	os.WriteFile(data, []byte(`{"prompt":"ab","response":"cde"}
{"prompt":"Hello ","response":"world!"}
`), 0o644)
	out := filepath.Join(tmp, "scored")
	if err := RunScore(context.Background(), ScoreOptions{Model: dir, Data: []string{data}, Out: out, Raw: true, BatchSize: 2}); err != nil {
		t.Fatal(err)
	}
	scored, err := dataset.ReadAll[dataset.Response](out)
	if err != nil {
		t.Fatal(err)
	}
	m, tok, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, pr := range [][2]string{{"ab", "cde"}, {"Hello ", "world!"}} {
		p, r := tok.Encode(pr[0]), tok.Encode(pr[1])
		seq := make([]int32, 0)
		for _, x := range append(append([]int{}, p...), r...) {
			seq = append(seq, int32(x))
		}
		mask := make([]int32, len(seq))
		for j := range mask {
			mask[j] = 1
		}
		lg := runLogits(t, m, [][]int32{seq}, [][]int32{mask})[0]
		var want float64
		for j := len(p); j < len(seq); j++ {
			row := lg[j-1]
			var z float64
			for _, l := range row {
				z += math.Exp(float64(l))
			}
			want += float64(row[seq[j]]) - math.Log(z)
		}
		s := scored[i]
		if s.Prompt != pr[0] || math.Abs(s.Logprob-want) > 1e-3 || s.Reward != nil || s.NumTokens != int32(len(r)) {
			t.Fatalf("row %d: %+v, want logprob %v over %d tokens", i, s, want, len(r))
		}
	}
}

func TestRunScoreRewardModel(t *testing.T) {
	dir := initTiny(t, model.ArchGPT2)
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddScoreHead(1); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	data := filepath.Join(tmp, "pairs.jsonl")
	os.WriteFile(data, []byte(`{"prompt":"q","response":"good"}
{"prompt":"q","response":"bad answer"}
{"prompt":"q","response":"good"}
`), 0o644)
	out := filepath.Join(tmp, "scored")
	if err := RunScore(context.Background(), ScoreOptions{Model: dir, Data: []string{data}, Out: out, BatchSize: 2}); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Response](out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Reward == nil || rows[0].Logprob != 0 || rows[0].NumTokens != 4 || rows[1].NumTokens != 10 {
		t.Fatalf("rows: %+v", rows)
	}
	// Same text gives the same reward whatever its batch and padding.
	if math.Abs(*rows[0].Reward-*rows[2].Reward) > 1e-5 || *rows[0].Reward == *rows[1].Reward {
		t.Fatalf("rewards %v %v %v", *rows[0].Reward, *rows[1].Reward, *rows[2].Reward)
	}
}

func TestPromptIDsTemplate(t *testing.T) {
	dir := initTiny(t, model.ArchLlama)
	m, tok, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := NewEncoder(tok, m.Meta, "")
	got := Ints(enc.Prompt("hi"))
	want := tok.Encode("Human: hi\n\nAssistant: ")
	if m.Config.BOS >= 0 {
		want = append([]int{m.Config.BOS}, want...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("templated ids %v, want %v", got, want)
	}
	enc.Raw = true
	if raw := Ints(enc.Prompt("hi")); !reflect.DeepEqual(raw, tok.Encode("hi")) {
		t.Fatalf("raw ids %v", raw)
	}
	enc = NewEncoder(tok, m.Meta, "<{prompt}>")
	enc.Raw = true
	if o := Ints(enc.Prompt("hi")); !reflect.DeepEqual(o, tok.Encode("hi")) {
		t.Fatalf("raw must ignore the template: %v", o)
	}
	if o := Ints(NewEncoder(tok, m.Meta, "<{prompt}>").Prompt("hi")); !reflect.DeepEqual(o[len(o)-len(tok.Encode("<hi>")):], tok.Encode("<hi>")) {
		t.Fatalf("the template override is not used: %v", o)
	}
	if m.Meta.PromptTemplate == "<{prompt}>" {
		t.Fatal("NewEncoder changed the checkpoint's metadata")
	}
	_ = tokenizer.EndOfText
}

func TestGenerateTruncatesLongPromptsAndLimitsPrompts(t *testing.T) {
	dir := initTiny(t, model.ArchGPT2)
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "prompts.jsonl")
	long := strings.Repeat("长", m.Config.MaxPositions) // 3 byte tokens each: far past the context
	os.WriteFile(prompts, []byte(`{"prompt":"`+long+`"}
{"prompt":"short"}
{"prompt":"never sampled"}
`), 0o644)
	out := filepath.Join(tmp, "gen")
	err = RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{prompts}, Out: out,
		MaxNewTokens: 4, Temperature: 0, MaxPrompts: 2, Backend: "go"})
	if err != nil {
		t.Fatalf("a prompt longer than the context must be cut, not fail: %v", err)
	}
	rows, err := dataset.ReadAll[dataset.Response](out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Prompt != "short" || rows[0].NumTokens == 0 {
		t.Fatalf("rows %+v", rows)
	}
}
