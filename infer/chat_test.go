package infer

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// chatMLTemplate is a ChatML chat template in the style of Qwen2.
const chatMLTemplate = `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// chatTokenizer writes, into a new folder, the byte-level tokenizer with
// <|im_start|> (257) and <|im_end|> (258) added, and a tokenizer_config.json
// with eos and the chat template (none when template is ""). It returns
// the tokenizer.json path.
func chatTokenizer(t testing.TB, eos, template string) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(tokenizer.ByteLevel(), &doc); err != nil {
		t.Fatal(err)
	}
	added := doc["added_tokens"].([]any)
	for i, s := range []string{"<|im_start|>", "<|im_end|>"} {
		added = append(added, map[string]any{"id": 257 + i, "content": s, "special": true,
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
	}
	doc["added_tokens"] = added
	dir := t.TempDir()
	raw, _ := json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"eos_token": eos, "pad_token": "<|endoftext|>"}
	if template != "" {
		conf["chat_template"] = template
	}
	raw, _ = json.Marshal(conf)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "tokenizer.json")
}

// chatModel writes a tiny qwen2 model with chatTokenizer's tokenizer.
func chatModel(t testing.TB, eos, template, promptTemplate string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "chat")
	if err := model.RunInit(model.InitOptions{Arch: model.ArchQwen2, Layers: 1, Hidden: 32, Heads: 4, MaxPositions: 256,
		Tokenizer: chatTokenizer(t, eos, template), Out: dir, Seed: 3, Template: promptTemplate}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEncoderChatTemplate: with a chat template, prompts are the rendered
// user turn and generation prompt (no BOS of rlhf's own), and the response
// is the assistant turn, ending with EOS once; --template none|model|TEXT
// and rlhf.json choose.
func TestEncoderChatTemplate(t *testing.T) {
	dir := chatModel(t, "<|im_end|>", chatMLTemplate, "")
	m, tok, err := Load(dir, LoadOptions{RequireEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta.PromptTemplate != model.TemplateModel {
		t.Fatalf("a new model's template is %q, want model", m.Meta.PromptTemplate)
	}
	ids := func(s string) []int32 { return int32s(tok.Encode(s)) }
	enc := &Encoder{Tok: tok, Meta: m.Meta, MaxLen: 200, Truncate: TruncateLeft}
	wantPrompt := ids("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
	if got := enc.Prompt("hi"); !slices.Equal(got, wantPrompt) {
		t.Fatalf("prompt %v\nwant %v", got, wantPrompt)
	}
	e, ok := enc.Encode("hi", "yo", nil)
	wantResp := ids("yo<|im_end|>") // <|im_end|> is EOS: not added twice
	if !ok || e.PromptLen != len(wantPrompt) || !slices.Equal(e.Tokens, append(slices.Clone(wantPrompt), wantResp...)) {
		t.Fatalf("encoded %+v", e)
	}
	if n := len(e.Tokens); e.Tokens[n-1] != int32(tok.EOS()) || e.Tokens[n-2] == int32(tok.EOS()) {
		t.Fatalf("the response does not end with one EOS: %v", e.Tokens)
	}
	for i := range e.Tokens {
		if e.LossAt(i) != (i >= len(wantPrompt)) {
			t.Fatalf("token %d: loss %v; only the assistant turn is trained", i, e.LossAt(i))
		}
	}

	// --template none and TEXT; model keeps rlhf.json's text when there is
	// no chat template.
	if got := NewEncoder(tok, m.Meta, model.TemplateNone).Prompt("hi"); !slices.Equal(got, ids("hi")) {
		t.Errorf("none: %v", got)
	}
	if got := NewEncoder(tok, m.Meta, "Q: {prompt}\nA:").Prompt("hi"); !slices.Equal(got, ids("Q: hi\nA:")) {
		t.Errorf("text: %v", got)
	}
	te := NewEncoder(tok, m.Meta, "Q: {prompt}\nA:")
	te.MaxLen = 200
	e, _ = te.Encode("hi", "yo", nil)
	if !slices.Equal(e.Tokens[e.PromptLen:], ids("yo<|im_end|>")) {
		t.Errorf("text template response: %v", e.Tokens[e.PromptLen:])
	}
	plain := chatTokenizer(t, "<|im_end|>", "")
	ptok, err := tokenizer.Load(plain)
	if err != nil {
		t.Fatal(err)
	}
	if got := NewEncoder(ptok, &model.Meta{PromptTemplate: "Q: {prompt}\nA:"}, model.TemplateModel).Prompt("hi"); !slices.Equal(got, ids("Q: hi\nA:")) {
		t.Errorf("model without a chat template: %v", got)
	}
	if got := NewEncoder(ptok, model.DefaultMeta(), "").Prompt("hi"); !slices.Equal(got, ids("Human: hi\n\nAssistant: ")) {
		t.Errorf("default without a chat template: %v", got)
	}

	// rlhf.json's text wins over the chat template; --template model over it.
	textDir := chatModel(t, "<|im_end|>", chatMLTemplate, "Q: {prompt}\nA:")
	m2, tok2, err := Load(textDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := NewEncoder(tok2, m2.Meta, "").Prompt("hi"); !slices.Equal(got, ids("Q: hi\nA:")) {
		t.Errorf("rlhf.json text: %v", got)
	}
	m3, tok3, err := Load(textDir, LoadOptions{Template: model.TemplateModel})
	if err != nil {
		t.Fatal(err)
	}
	if got := NewEncoder(tok3, m3.Meta, "").Prompt("hi"); !slices.Equal(got, wantPrompt) {
		t.Errorf("--template model: %v", got)
	}
}

// TestEncoderChatTemplateOtherEOS: when the turn ends with a token that is
// not EOS (Qwen2 base: eos <|endoftext|>), EOS follows it.
func TestEncoderChatTemplateOtherEOS(t *testing.T) {
	dir := chatModel(t, "<|endoftext|>", chatMLTemplate, "")
	_, tok, err := Load(dir, LoadOptions{RequireEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := model.LoadMeta(dir)
	e, _ := (&Encoder{Tok: tok, Meta: m, MaxLen: 200}).Encode("hi", "yo", nil)
	want := append(int32s(tok.Encode("yo<|im_end|>")), int32(tok.EOS()))
	if !slices.Equal(e.Tokens[e.PromptLen:], want) {
		t.Errorf("response %v, want %v", e.Tokens[e.PromptLen:], want)
	}
}

// TestLoadRefusesABrokenChatTemplate: the error names the file and line.
func TestLoadRefusesABrokenChatTemplate(t *testing.T) {
	dir := chatModel(t, "<|im_end|>", "{% for m in messages %}\n{{ m.content }}\n{% endif %}", "")
	_, _, err := Load(dir, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tokenizer_config.json")) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("broken template: %v", err)
	}
	// --template with a text does not need it.
	if _, _, err := Load(dir, LoadOptions{Template: "Q: {prompt}"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, LoadOptions{Template: "Q:"}); err == nil || !strings.Contains(err.Error(), "{prompt}") {
		t.Fatalf("a template without {prompt}: %v", err)
	}
}

// TestRenderTemplate: what `rlhf template render` prints.
func TestRenderTemplate(t *testing.T) {
	dir := chatModel(t, "<|im_end|>", chatMLTemplate, "")
	msgs := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(msgs, []byte(`[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"2+2?"}]`), 0o644)
	got, err := RenderTemplate(RenderOptions{Model: dir, Messages: msgs, AddGenerationPrompt: true})
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || got != want {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
	one := filepath.Join(t.TempDir(), "one.json")
	os.WriteFile(one, []byte(`{"messages": [{"role":"user","content":"Hi"}]}`), 0o644)
	if got, err := RenderTemplate(RenderOptions{Model: dir, Messages: one, AddGenerationPrompt: true, Template: "Q: {prompt}\nA:"}); err != nil || got != "Q: Hi\nA:" {
		t.Errorf("--template text: %q, %v", got, err)
	}
	if _, err := RenderTemplate(RenderOptions{Model: dir, Messages: msgs, Template: "Q: {prompt}\nA:"}); err == nil || !strings.Contains(err.Error(), "one user message") {
		t.Errorf("a conversation with a {prompt} template: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"messages": "hi"}`), 0o644)
	if _, err := RenderTemplate(RenderOptions{Model: dir, Messages: bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad messages file: %v", err)
	}
}

// TestRunScoreRewardModelChatTemplate: rlhf score reads a reward model's
// score where rlhf rm trains it: at the end of the assistant turn the
// encoder renders (here "ANSWER<|im_end|>" then EOS <|endoftext|>).
func TestRunScoreRewardModelChatTemplate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rm")
	if err := model.RunInit(model.InitOptions{Arch: model.ArchQwen2, Layers: 1, Hidden: 32, Heads: 4, MaxPositions: 256,
		Tokenizer: chatTokenizer(t, "<|endoftext|>", chatMLTemplate), Out: dir, Seed: 3, ScoreHead: true}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(data, []byte(`{"prompt":"q","response":"good"}`+"\n"), 0o644)
	out := filepath.Join(t.TempDir(), "scored")
	if err := RunScore(context.Background(), ScoreOptions{Model: dir, Data: []string{data}, Out: out}); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Response](out)
	if err != nil || len(rows) != 1 || rows[0].Reward == nil {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	m, tok, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := (&Encoder{Tok: tok, Meta: m.Meta, MaxLen: 256}).Encode("q", "good", nil)
	sc, err := NewScorer(testBackend(), m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.Score([][]int32{e.Tokens[:e.PromptLen]}, [][]int32{e.Tokens[e.PromptLen:]}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res[0].Reward-*rows[0].Reward) > 1e-5 {
		t.Fatalf("rlhf score gives %v, the encoded pair %v", *rows[0].Reward, res[0].Reward)
	}
}
