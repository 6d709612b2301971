package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatTemplate: the template is read from chat_template.jinja (which
// wins), else tokenizer_config.json's chat_template, a string or the
// "default" of a list; Save keeps the file.
func TestChatTemplate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokenizer.json")
	if err := WriteByteLevel(p); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func() *Tokenizer {
		t.Helper()
		tok, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if src, _, err := load().ChatTemplate(); src != "" || err != nil {
		t.Fatalf("a tokenizer without a template has %q", src)
	}
	write("tokenizer_config.json", `{"chat_template": "A{{ messages }}"}`)
	if src, from, _ := load().ChatTemplate(); src != "A{{ messages }}" || !strings.Contains(from, filepath.Join(dir, "tokenizer_config.json")) {
		t.Errorf("string: %q from %q", src, from)
	}
	write("tokenizer_config.json", `{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`)
	if src, _, _ := load().ChatTemplate(); src != "D" {
		t.Errorf("list: %q", src)
	}
	write("tokenizer_config.json", `{"chat_template": [{"name": "tool_use", "template": "T"}]}`)
	// The tokenizer loads; the template is refused where it is used.
	if _, _, err := load().ChatTemplate(); err == nil || !strings.Contains(err.Error(), "default") || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("a list without default: %v", err)
	}
	write("tokenizer_config.json", `{"chat_template": 3}`)
	if _, _, err := load().ChatTemplate(); err == nil || !strings.Contains(err.Error(), "chat_template") {
		t.Errorf("a number: %v", err)
	}
	write("tokenizer_config.json", `{"chat_template": "D"}`)
	write(ChatTemplateFile, "J")
	tok := load()
	if src, from, err := tok.ChatTemplate(); src != "J" || from != filepath.Join(dir, ChatTemplateFile) || err != nil {
		t.Errorf("jinja file: %q from %q", src, from)
	}
	out := t.TempDir()
	if err := tok.Save(out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, ChatTemplateFile)); err != nil || string(b) != "J" {
		t.Errorf("Save: %q, %v", b, err)
	}
}
