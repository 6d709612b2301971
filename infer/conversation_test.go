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
	"github.com/rlhf-project/rlhf/model/chat"
)

// threeTurns is a conversation of three user turns with a system message:
// the history of a row whose prompt is "Sky?" and answer "Blue.".
var threeTurns = []chat.Message{
	{Role: "system", Content: "Be brief."},
	{Role: "user", Content: "Hi"},
	{Role: "assistant", Content: "Hello"},
	{Role: "user", Content: "And you?"},
	{Role: "assistant", Content: "Fine."},
}

// checkMask decodes enc token by token and checks that the loss marks
// exactly the tokens that lie inside the spans of text (byte offsets) the
// loss should cover, and that the tokens spell text.
func checkMask(t *testing.T, enc *Encoder, e Encoded, text string, spans [][2]int) {
	t.Helper()
	if got := string(enc.Tok.DecodeBytes(Ints(e.Tokens))); got != text {
		t.Fatalf("tokens spell\n%q\nwant\n%q", got, text)
	}
	off := 0
	for i, id := range e.Tokens {
		b := enc.Tok.DecodeBytes([]int{int(id)})
		in := false
		for _, s := range spans {
			if off >= s[0] && off+len(b) <= s[1] {
				in = true
			}
		}
		if e.LossAt(i) != in {
			t.Errorf("token %d %q at byte %d: loss %v, want %v", i, b, off, e.LossAt(i), in)
		}
		off += len(b)
	}
}

// spansOf finds each of parts in text, in order, as byte spans.
func spansOf(t *testing.T, text string, parts ...string) [][2]int {
	t.Helper()
	var out [][2]int
	from := 0
	for _, p := range parts {
		i := strings.Index(text[from:], p)
		if i < 0 {
			t.Fatalf("%q not in %q", p, text[from:])
		}
		out = append(out, [2]int{from + i, from + i + len(p)})
		from += i + len(p)
	}
	return out
}

// TestEncodeConversationChatML: a three-turn ChatML conversation with a
// system message is the template's rendering of the whole conversation;
// the loss covers exactly each assistant turn and its <|im_end|> (SFT), or
// only the final answer (RM, DPO); the prompt of the conversation is the
// rendering up to the final answer's opening, which is what generation
// feeds.
func TestEncodeConversationChatML(t *testing.T) {
	dir := chatModel(t, "<|im_end|>", chatMLTemplate, "")
	m, tok, err := Load(dir, LoadOptions{RequireEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	enc := &Encoder{Tok: tok, Meta: m.Meta, MaxLen: 400, Truncate: TruncateLeft}
	prompt := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n" +
		"<|im_start|>user\nAnd you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n<|im_start|>user\nSky?<|im_end|>\n<|im_start|>assistant\n"
	text := prompt + "Blue.<|im_end|>"
	e, ok := enc.EncodeConversation(threeTurns, "Sky?", "Blue.", true, nil)
	if !ok {
		t.Fatal("dropped")
	}
	checkMask(t, enc, e, text, spansOf(t, text, "Hello<|im_end|>", "Fine.<|im_end|>", "Blue.<|im_end|>"))
	if got := string(tok.DecodeBytes(Ints(e.Tokens[:e.PromptLen]))); got != prompt {
		t.Errorf("PromptLen cuts at %q", got)
	}
	if p := enc.PromptConversation(threeTurns, "Sky?"); !slices.Equal(p, e.Tokens[:e.PromptLen]) {
		t.Errorf("PromptConversation %v differs from the encoded prompt %v", p, e.Tokens[:e.PromptLen])
	}
	// PPO and eval prompts (EncodePrompts) read the history column.
	hist := make([]dataset.Message, len(threeTurns))
	for i, m := range threeTurns {
		hist[i] = dataset.Message(m)
	}
	ppo, _, _ := EncodePrompts([]dataset.Prompt{{Prompt: "Sky?", History: dataset.EncodeHistory(hist)}}, enc, 400)
	if !slices.Equal(ppo[0], e.Tokens[:e.PromptLen]) {
		t.Errorf("EncodePrompts %q, want the conversation", tok.DecodeBytes(Ints(ppo[0])))
	}
	last, _ := enc.EncodeConversation(threeTurns, "Sky?", "Blue.", false, nil)
	checkMask(t, enc, last, text, spansOf(t, text, "Blue.<|im_end|>"))
	if last.PromptLen != e.PromptLen || !slices.Equal(last.Tokens, e.Tokens) {
		t.Error("RM/DPO encoding differs from SFT's in tokens")
	}

	// Truncated on the left, the mask stays aligned with the tokens.
	enc.MaxLen = 40
	cut, ok := enc.EncodeConversation(threeTurns, "Sky?", "Blue.", true, nil)
	if !ok || len(cut.Tokens) != 40 || len(cut.Loss) != 40 || !slices.Equal(cut.Tokens, e.Tokens[len(e.Tokens)-40:]) || !slices.Equal(cut.Loss, e.Loss[len(e.Loss)-40:]) {
		t.Errorf("truncated: %d tokens, %d loss marks", len(cut.Tokens), len(cut.Loss))
	}

	// No history: the single-turn encoding, unchanged.
	one, _ := enc.EncodeConversation(nil, "Sky?", "Blue.", true, nil)
	two, _ := enc.Encode("Sky?", "Blue.", nil)
	if !slices.Equal(one.Tokens, two.Tokens) || one.PromptLen != two.PromptLen || one.Loss != nil {
		t.Errorf("no history: %+v, want %+v", one, two)
	}
}

// TestEncodeConversationPlain: without a chat template, a conversation is
// written in the plain form (system text, each exchange through the
// {prompt} template, a blank line after each answer), the loss on each
// assistant answer and the final answer with EOS.
func TestEncodeConversationPlain(t *testing.T) {
	policy, _ := tinyModels(t)
	m, tok, err := Load(policy, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := &Encoder{Tok: tok, Meta: m.Meta, MaxLen: 400, Truncate: TruncateLeft}
	e, _ := enc.EncodeConversation(threeTurns, "Sky?", "Blue.", true, nil)
	prompt := "Be brief.\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: And you?\n\nAssistant: Fine.\n\nHuman: Sky?\n\nAssistant: "
	if e.Tokens[len(e.Tokens)-1] != int32(tok.EOS()) {
		t.Fatal("no EOS at the end")
	}
	body := Encoded{Tokens: e.Tokens[:len(e.Tokens)-1], PromptLen: e.PromptLen, Loss: e.Loss[:len(e.Loss)-1]}
	text := prompt + "Blue."
	checkMask(t, enc, body, text, spansOf(t, text, "Hello", "Fine.", "Blue."))
	if !e.LossAt(len(e.Tokens) - 1) {
		t.Error("EOS is not a loss token")
	}
	if p := enc.PromptConversation(threeTurns, "Sky?"); !slices.Equal(p, e.Tokens[:e.PromptLen]) || string(tok.DecodeBytes(Ints(p))) != prompt {
		t.Errorf("PromptConversation %q", tok.DecodeBytes(Ints(p)))
	}
}

// logprobOf is the summed log-probability of resp after prompt under m.
func logprobOf(t *testing.T, m *model.Model, prompt, resp []int32) float64 {
	t.Helper()
	seq := append(append([]int32{}, prompt...), resp...)
	mask := make([]int32, len(seq))
	for j := range mask {
		mask[j] = 1
	}
	lg := runLogits(t, m, [][]int32{seq}, [][]int32{mask})[0]
	var sum float64
	for j := len(prompt); j < len(seq); j++ {
		var z float64
		for _, l := range lg[j-1] {
			z += math.Exp(float64(l))
		}
		sum += float64(lg[j-1][seq[j]]) - math.Log(z)
	}
	return sum
}

// TestGenerateConversation: a prompt row that is a conversation (messages
// JSONL with a system message and earlier turns) generates from the whole
// conversation rendered with the model's chat template and the generation
// prompt (greedy: the first token is the argmax after that rendering); the
// response rows keep the history, and scoring them reads each answer after
// the same conversation.
func TestGenerateConversation(t *testing.T) {
	dir := chatModel(t, "<|im_end|>", chatMLTemplate, "")
	m, tok, err := Load(dir, LoadOptions{RequireEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	enc := &Encoder{Tok: tok, Meta: m.Meta}
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "chat.jsonl")
	os.WriteFile(prompts, []byte(`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}], "task": "chat"}
`), 0o644)
	out := filepath.Join(tmp, "gen")
	if err := RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{prompts}, Out: out,
		NumSamples: 1, MaxNewTokens: 1, Temperature: 0, Seed: 3, Backend: "go"}); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Response](out)
	if err != nil {
		t.Fatal(err)
	}
	history := []chat.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}}
	want := dataset.EncodeHistory([]dataset.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}})
	if len(rows) != 1 || rows[0].Prompt != "Sky?" || rows[0].History != want {
		t.Fatalf("rows: %+v", rows)
	}
	prompt := enc.PromptConversation(history, "Sky?")
	if got := string(tok.DecodeBytes(Ints(prompt))); !strings.HasSuffix(got, "<|im_start|>assistant\n") || !strings.Contains(got, "Be brief.") || !strings.Contains(got, "Hello<|im_end|>") {
		t.Fatalf("conversation prompt %q", got)
	}
	// The sampler's log-prob of its answer is the model's after the
	// conversation, not after the last user turn alone.
	ans := int32s(tok.Encode(rows[0].Response))
	if rows[0].NumTokens == 0 {
		ans = []int32{int32(tok.EOS())}
	}
	withHistory, alone := logprobOf(t, m, prompt, ans), logprobOf(t, m, enc.Prompt("Sky?"), ans)
	if math.Abs(withHistory-alone) < 5e-4 {
		t.Fatalf("the test cannot tell: %v after the conversation and after the prompt alone", withHistory)
	}
	if math.Abs(rows[0].Logprob-withHistory) > 1e-4 {
		t.Errorf("generated with log-prob %v, want %v (after the conversation; %v after the prompt alone)", rows[0].Logprob, withHistory, alone)
	}

	// Score an answer after the conversation of a response row.
	data := filepath.Join(tmp, "pairs.jsonl")
	line, _ := json.Marshal(map[string]string{"prompt": "Sky?", "response": "Blue.", "history": want})
	os.WriteFile(data, append(line, '\n'), 0o644)
	scored := filepath.Join(tmp, "scored")
	if err := RunScore(context.Background(), ScoreOptions{Model: dir, Data: []string{data}, Out: scored, Backend: "go"}); err != nil {
		t.Fatal(err)
	}
	back, err := dataset.ReadAll[dataset.Response](scored)
	if err != nil {
		t.Fatal(err)
	}
	wantLP := logprobOf(t, m, prompt, int32s(tok.Encode("Blue.")))
	if len(back) != 1 || back[0].History != want || math.Abs(back[0].Logprob-wantLP) > 1e-3 {
		t.Errorf("scored %+v, want logprob %v after the conversation", back, wantLP)
	}
}

// TestEncodeConversationTemplateNone: with --template none the turns'
// texts are joined by blank lines, the loss still on the assistant turns.
func TestEncodeConversationTemplateNone(t *testing.T) {
	policy, _ := tinyModels(t)
	m, tok, err := Load(policy, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := NewEncoder(tok, m.Meta, model.TemplateNone)
	enc.MaxLen, enc.Truncate = 400, TruncateLeft
	e, _ := enc.EncodeConversation(threeTurns, "Sky?", "Blue.", true, nil)
	text := "Be brief.\n\nHi\n\nHello\n\nAnd you?\n\nFine.\n\nSky?Blue."
	body := Encoded{Tokens: e.Tokens[:len(e.Tokens)-1], PromptLen: e.PromptLen, Loss: e.Loss[:len(e.Loss)-1]}
	checkMask(t, enc, body, text, spansOf(t, text, "Hello", "Fine.", "Blue."))
}

// TestConversationPiecesTemplates: the test templates in the styles of
// ChatML, Llama-3, Mistral and Gemma cut a multi-turn conversation, with and
// without a system message, into pieces that spell the template's own
// rendering, the assistant turns (with their end of turn) marked for the
// loss.
func TestConversationPiecesTemplates(t *testing.T) {
	for _, c := range []struct{ name, hello, fine string }{
		{"chatml", "Hello<|im_end|>", "Fine.<|im_end|>"},
		{"llama3", "Hello<|eot_id|>", "Fine.<|eot_id|>"},
		{"mistral", " Hello</s>", " Fine.</s>"},
		{"gemma", "Hello<end_of_turn>", "Fine.<end_of_turn>"},
	} {
		src, err := os.ReadFile(filepath.Join("..", "model", "chat", "testdata", c.name+".jinja"))
		if err != nil {
			t.Fatal(err)
		}
		ct, err := chat.Compile(c.name, string(src), "<s>", "</s>")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range [][]chat.Message{threeTurns, threeTurns[1:]} {
			pieces, err := chatPieces(ct, h, "Sky?")
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var all string
			var loss []string
			for _, p := range pieces {
				all += p.text
				if p.loss {
					loss = append(loss, p.text)
				}
			}
			want, _ := ct.Render(append(slices.Clone(h), chat.Message{Role: "user", Content: "Sky?"}), true)
			if all != want || !slices.Equal(loss, []string{c.hello, c.fine}) {
				t.Errorf("%s (%d messages): pieces spell %q (want %q), loss on %q", c.name, len(h), all, want, loss)
			}
		}
	}
}

// TestConversationTemplateRewritesTurns: a template that renders earlier
// assistant turns otherwise than the last (as templates that strip
// reasoning do) cannot be cut into turns: such conversations use the plain
// form, still with the loss on each assistant turn.
func TestConversationTemplateRewritesTurns(t *testing.T) {
	const rewrites = `{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}<old>{% else %}<{{ m.role }}>{{ m.content }}{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}`
	dir := chatModel(t, "<|im_end|>", rewrites, "")
	m, tok, err := Load(dir, LoadOptions{RequireEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	enc := &Encoder{Tok: tok, Meta: m.Meta, MaxLen: 400, Truncate: TruncateLeft}
	e, ok := enc.EncodeConversation(threeTurns, "Sky?", "Blue.", true, nil)
	if !ok {
		t.Fatal("dropped")
	}
	text := "Be brief.\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: And you?\n\nAssistant: Fine.\n\nHuman: Sky?\n\nAssistant: Blue."
	body := Encoded{Tokens: e.Tokens[:len(e.Tokens)-1], PromptLen: e.PromptLen, Loss: e.Loss[:len(e.Loss)-1]}
	checkMask(t, enc, body, text, spansOf(t, text, "Hello", "Fine.", "Blue."))
}
