package infer

import (
	"log/slog"
	"sync"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/chat"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// chatTemplates caches each tokenizer's compiled chat template.
var chatTemplates sync.Map // *tokenizer.Tokenizer -> chatEntry

type chatEntry struct {
	t   *chat.Template
	err error
}

// ChatTemplate is the tokenizer's chat template, compiled, with its
// bos_token and eos_token; nil when the tokenizer has none. Errors name the
// file it comes from and the line.
func ChatTemplate(tok *tokenizer.Tokenizer) (*chat.Template, error) {
	if e, ok := chatTemplates.Load(tok); ok {
		return e.(chatEntry).t, e.(chatEntry).err
	}
	var e chatEntry
	src, from, err := tok.ChatTemplate()
	if err != nil {
		e.err = err
	} else if src != "" {
		e.t, e.err = chat.Compile(from, src, tokenText(tok, tok.BOS()), tokenText(tok, tok.EOS()))
		if e.err == nil {
			_, e.err = e.t.Frame()
		}
		if e.err != nil {
			e.t = nil
		}
	}
	got, _ := chatTemplates.LoadOrStore(tok, e)
	return got.(chatEntry).t, got.(chatEntry).err
}

// tokenText is the text of a special token ("" for none).
func tokenText(tok *tokenizer.Tokenizer, id int) string {
	if id < 0 {
		return ""
	}
	s, _ := tok.IDToToken(id)
	return s
}

// chatWarned remembers the tokenizers whose template error was logged.
var chatWarned sync.Map

// chat is the chat template the encoder renders prompts with: the
// tokenizer's, when Meta asks for the model's template and not Raw; nil
// otherwise. A template that does not compile or frame an exchange (Load
// refuses those) is logged once and replaced by the {prompt} template.
func (e *Encoder) chat() *chat.Template {
	if e.Raw || !model.IsModelTemplate(e.Meta.PromptTemplate) {
		return nil
	}
	t, err := ChatTemplate(e.Tok)
	if err != nil {
		if _, seen := chatWarned.LoadOrStore(e.Tok, true); !seen {
			slog.Warn("the chat template is not usable; prompts use "+model.DefaultPromptTemplate, "error", err)
		}
		return nil
	}
	return t
}

// applyTemplate sets meta's template to the choice template ("" keeps
// it): TemplateModel keeps a {prompt} template of meta when the tokenizer
// has no chat template.
func applyTemplate(meta *model.Meta, tok *tokenizer.Tokenizer, template string) {
	if template == "" {
		return
	}
	if src, _, err := tok.ChatTemplate(); template == model.TemplateModel && src == "" && err == nil {
		return
	}
	meta.PromptTemplate = template
}
