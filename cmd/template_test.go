package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// chatMLModel writes a tiny model whose tokenizer (byte-level plus
// <|im_start|> and <|im_end|>) carries a ChatML chat template.
func chatMLModel(t *testing.T) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(tokenizer.ByteLevel(), &doc); err != nil {
		t.Fatal(err)
	}
	added := doc["added_tokens"].([]any)
	for i, s := range []string{"<|im_start|>", "<|im_end|>"} {
		added = append(added, map[string]any{"id": 257 + i, "content": s, "special": true})
	}
	doc["added_tokens"] = added
	tokDir := t.TempDir()
	raw, _ := json.Marshal(doc)
	os.WriteFile(filepath.Join(tokDir, "tokenizer.json"), raw, 0o644)
	os.WriteFile(filepath.Join(tokDir, "tokenizer_config.json"), []byte(`{"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}`), 0o644)
	// Newer transformers keep the template in chat_template.jinja.
	os.WriteFile(filepath.Join(tokDir, tokenizer.ChatTemplateFile), []byte(`{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\n' + message.content | trim + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
`), 0o644)
	dir := filepath.Join(t.TempDir(), "chat")
	if err := model.RunInit(model.InitOptions{Arch: model.ArchQwen2, Layers: 1, Hidden: 32, Heads: 4, MaxPositions: 256,
		Tokenizer: filepath.Join(tokDir, "tokenizer.json"), Out: dir, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTemplateRender: `rlhf template render` prints the conversation as the
// model sees it; generate and sft use the same template.
func TestTemplateRender(t *testing.T) {
	m := chatMLModel(t)
	if _, err := os.Stat(filepath.Join(m, tokenizer.ChatTemplateFile)); err != nil {
		t.Fatalf("model init did not keep chat_template.jinja: %v", err)
	}
	dir := t.TempDir()
	msgs := filepath.Join(dir, "m.json")
	os.WriteFile(msgs, []byte(`[{"role":"system","content":"Be brief."},{"role":"user","content":" Hi "}]`), 0o644)
	out, err := run(t, "template", "render", "--model", m, "--messages", msgs, "--add-generation-prompt")
	if want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"; err != nil || out != want {
		t.Fatalf("render: %q, %v\nwant %q", out, err, want)
	}
	out, err = run(t, "template", "render", "--model", m, "--messages", msgs)
	if want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"; err != nil || out != want {
		t.Fatalf("render without the generation prompt: %q, %v", out, err)
	}
	if _, err := run(t, "template", "render", "--model", m); err == nil || !strings.Contains(err.Error(), "messages") {
		t.Fatalf("no --messages: %v", err)
	}

	// The same model fine-tunes and samples through its template.
	sft := filepath.Join(dir, "sft.jsonl")
	os.WriteFile(sft, []byte(`{"prompt":"Hi","response":"Hello."}`+"\n"+`{"prompt":"Bye","response":"Goodbye."}`+"\n"), 0o644)
	out2 := filepath.Join(dir, "sft-out")
	if _, err := run(t, "--no-progress", "sft", "--model", m, "--data", sft, "--out", out2, "--epochs", "1", "--batch-size", "2",
		"--max-seq-len", "128", "--eval-every", "0"); err != nil {
		t.Fatal(err)
	}
	meta, err := model.LoadMeta(out2)
	if err != nil || meta.Stage != "sft" || meta.PromptTemplate != model.TemplateModel {
		t.Fatalf("SFT output rlhf.json: %+v, %v", meta, err)
	}
	if b, err := os.ReadFile(filepath.Join(out2, tokenizer.ChatTemplateFile)); err != nil || !strings.Contains(string(b), "im_start") {
		t.Fatalf("the SFT output lost the chat template: %v", err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt":"Hi"}`+"\n"), 0o644)
	gen := filepath.Join(dir, "gen")
	if _, err := run(t, "--no-progress", "generate", "--model", out2, "--prompts", prompts, "--out", gen, "--max-new-tokens", "3", "--temperature", "0"); err != nil {
		t.Fatal(err)
	}
	if rows, err := dataset.ReadAll[dataset.Response](gen); err != nil || len(rows) != 1 {
		t.Fatalf("generate: %+v, %v", rows, err)
	}
}
