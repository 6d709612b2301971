package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/chat"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
)

// RenderOptions are the flags of `rlhf template render`.
type RenderOptions struct {
	Model               string // model folder or hub id (its tokenizer files and rlhf.json are read)
	Messages            string // JSON file: [{"role", "content"}, ...] or {"messages": [...]}
	AddGenerationPrompt bool   // end with the opening of the assistant's turn
	Template            string // overrides rlhf.json's template: none, model or a text with {prompt}
}

// RenderTemplate is the text a model sees for a conversation, as every
// rlhf command formats it: with the model's chat template (Meta template
// "model" and a tokenizer that has one), or with a {prompt} template, which
// takes one user message (and shows the BOS the encoder puts before it).
func RenderTemplate(o RenderOptions) (string, error) {
	if o.Model == "" || o.Messages == "" {
		return "", errors.New("template render: a model and a messages file are required")
	}
	if err := model.CheckTemplate(o.Template); err != nil {
		return "", err
	}
	msgs, err := readMessages(o.Messages)
	if err != nil {
		return "", err
	}
	dir, err := model.ResolveDir(o.Model)
	if err != nil {
		return "", err
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.Model, err)
	}
	meta, err := model.LoadMeta(dir)
	if err != nil {
		return "", err
	}
	applyTemplate(meta, tok, o.Template)
	enc := &Encoder{Tok: tok, Meta: meta}
	if model.IsModelTemplate(meta.PromptTemplate) {
		if _, err := ChatTemplate(tok); err != nil {
			return "", err
		}
	}
	if ct := enc.chat(); ct != nil {
		return ct.Render(msgs, o.AddGenerationPrompt)
	}
	if len(msgs) != 1 || msgs[0].Role != "user" || !o.AddGenerationPrompt {
		return "", option.Errorf("%s: the model has no chat template; prompts are formatted with the template %q, which takes one user message and adds the assistant's opening ({AddGenerationPrompt})",
			o.Model, meta.PromptTemplate)
	}
	text := meta.FormatPrompt(msgs[0].Content)
	if tok.AddsBOS() {
		text = tokenText(tok, tok.BOS()) + text
	}
	return text, nil
}

// readMessages reads a JSON list of role/content messages, bare or as the
// "messages" field of an object.
func readMessages(path string) ([]chat.Message, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var msgs []chat.Message
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var doc struct {
			Messages []chat.Message `json:"messages"`
		}
		err = json.Unmarshal(raw, &doc)
		msgs = doc.Messages
	} else {
		err = json.Unmarshal(raw, &msgs)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: want a JSON list of {\"role\", \"content\"} messages (or an object with \"messages\"): %w", path, err)
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%s: no messages", path)
	}
	for i, m := range msgs {
		if m.Role == "" {
			return nil, fmt.Errorf("%s: message %d has no role", path, i+1)
		}
	}
	return msgs, nil
}
