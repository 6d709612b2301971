package infer

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/chat"
)

// Multi-turn conversations: a row's history (a system message and earlier
// user/assistant turns, dataset's history column), its last user turn (the
// prompt) and the final answer.
//
// With a chat template the whole conversation is rendered by the template,
// as transformers' apply_chat_template; the rendering is cut into pieces at
// the assistant turns: the rendering of the messages before each assistant
// turn with add_generation_prompt, then that turn as the template writes it
// (its text and the template's end of turn, without trailing white space),
// and so on, each piece tokenised on its own so that the boundaries are
// exact. A template whose rendering of a conversation does not start with
// the rendering of its beginning (one that rewrites earlier turns) cannot
// be cut so: such rows fall back to the plain form, with a warning.
//
// Without a chat template (rlhf.json's {prompt} template, default
// "Human: {prompt}\n\nAssistant: ") the conversation is written in a plain
// form: [BOS], a system message as its text and a blank line, each user
// turn through the template, each assistant turn as its text and a blank
// line; then the last user turn through the template and the answer, EOS.
// With the default template that is Anthropic HH's layout:
//
//	Be brief.\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Sky?\n\nAssistant: Blue.</s>
//
// With --template none (or Raw) the history's texts are each followed by a
// blank line; the last user turn and the answer follow as in a single-turn
// row.
//
// The loss of SFT falls on every assistant turn (TRL's assistant_only_loss):
// each turn's tokens, the template's end-of-turn included; the final answer
// ends with EOS as in single-turn rows. RM and DPO score the final answer
// only: the chosen and rejected sequences of a pair share the rendered
// history and prompt and differ after it.

// piece is a part of a rendered conversation; loss marks an assistant turn.
type piece struct {
	text string
	loss bool
}

// History decodes a history column into chat messages ("" is none).
func History(column string) ([]chat.Message, error) {
	msgs, err := dataset.DecodeHistory(column)
	if err != nil {
		return nil, err
	}
	out := make([]chat.Message, len(msgs))
	for i, m := range msgs {
		out[i] = chat.Message(m)
	}
	return out, nil
}

// convWarned remembers the templates whose conversation fallback was logged.
var convWarned sync.Map

// chatPieces cuts the rendering of history + the user turn prompt (with the
// generation prompt) at the assistant turns of history.
func chatPieces(ct *chat.Template, history []chat.Message, prompt string) ([]piece, error) {
	msgs := append(append([]chat.Message{}, history...), chat.Message{Role: "user", Content: prompt})
	var out []piece
	done := ""
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		before, err := ct.Render(msgs[:i], true)
		if err != nil {
			return nil, err
		}
		with, err := ct.Render(msgs[:i+1], false)
		if err != nil {
			return nil, err
		}
		rest, ok1 := strings.CutPrefix(before, done)
		turn, ok2 := strings.CutPrefix(with, before)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: chat template: the rendering of the first %d messages does not start with that of the messages before them; a conversation cannot be cut into its turns", ct.Name, i+1)
		}
		turn = strings.TrimRight(turn, " \t\r\n")
		out = append(out, piece{text: rest}, piece{text: turn, loss: true})
		done = before + turn
	}
	last, err := ct.Render(msgs, true)
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(last, done)
	if !ok {
		return nil, fmt.Errorf("%s: chat template: the rendering of the conversation does not start with that of its earlier turns; a conversation cannot be cut into its turns", ct.Name)
	}
	return append(out, piece{text: rest}), nil
}

// plainPieces is the plain form of history + the user turn prompt.
func (e *Encoder) plainPieces(history []chat.Message, prompt string) []piece {
	format := e.Meta.FormatPrompt
	bare := e.Raw || e.Meta.PromptTemplate == model.TemplateNone
	if bare {
		format = func(s string) string { return s + "\n\n" }
	}
	var out []piece
	for _, m := range history {
		switch m.Role {
		case "assistant":
			out = append(out, piece{text: m.Content, loss: true}, piece{text: "\n\n"})
		case "user":
			out = append(out, piece{text: format(m.Content)})
		default:
			out = append(out, piece{text: m.Content + "\n\n"})
		}
	}
	if bare {
		return append(out, piece{text: prompt})
	}
	return append(out, piece{text: format(prompt)})
}

// conversation is the pieces of history + prompt and the chat template
// used (nil for the plain form).
func (e *Encoder) conversation(history []chat.Message, prompt string) ([]piece, *chat.Template) {
	if ct := e.chat(); ct != nil {
		p, err := chatPieces(ct, history, prompt)
		if err == nil {
			return p, ct
		}
		if _, seen := convWarned.LoadOrStore(ct, true); !seen {
			slog.Warn("conversations use the plain form", "error", err)
		}
	}
	return e.plainPieces(history, prompt), nil
}

// tokens tokenises pieces one by one; loss marks the tokens of loss pieces
// (when allTurns).
func (e *Encoder) tokens(pieces []piece, bos, allTurns bool) (ids, loss []int32) {
	if bos {
		ids, loss = append(ids, int32(e.Tok.BOS())), append(loss, 0)
	}
	for _, p := range pieces {
		t := int32s(e.Tok.Encode(p.text))
		m := int32(0)
		if p.loss && allTurns {
			m = 1
		}
		for range t {
			loss = append(loss, m)
		}
		ids = append(ids, t...)
	}
	return ids, loss
}

// PromptConversation is the token ids of a conversation to answer: its
// history and the last user turn prompt, with the opening of the assistant's
// answer, as the model reads it before sampling. With no history it is
// Prompt(prompt).
func (e *Encoder) PromptConversation(history []chat.Message, prompt string) []int32 {
	if len(history) == 0 {
		return e.Prompt(prompt)
	}
	pieces, ct := e.conversation(history, prompt)
	ids, _ := e.tokens(pieces, ct == nil && !e.Raw && e.Tok.AddsBOS(), false)
	return ids
}

// responseAfter is the final answer's tokens after a conversation: with
// the template ct, the assistant turn as it renders after the conversation
// (+ EOS unless it ends with it); otherwise tokens(response) + EOS.
func (e *Encoder) responseAfter(ct *chat.Template, history []chat.Message, prompt, response string) []int32 {
	eos := int32(e.Tok.EOS())
	if ct != nil {
		msgs := append(append([]chat.Message{}, history...), chat.Message{Role: "user", Content: prompt})
		if f, err := ct.Frame(); err == nil && f.BeforeAssistant != "" {
			response = strings.TrimPrefix(response, f.BeforeAssistant)
		}
		p, perr := ct.Render(msgs, true)
		full, ferr := ct.Render(append(msgs, chat.Message{Role: "assistant", Content: response}), false)
		if rest, ok := strings.CutPrefix(full, p); ok && perr == nil && ferr == nil {
			r := int32s(e.Tok.Encode(strings.TrimRight(rest, " \t\r\n")))
			if len(r) == 0 || r[len(r)-1] != eos {
				r = append(r, eos)
			}
			return r
		}
		return e.Response(prompt, response)
	}
	return append(int32s(e.Tok.Encode(response)), eos)
}

// EncodeConversation tokenises a conversation and its final answer: the
// history (system message, earlier turns), the last user turn prompt and
// the answer response. PromptLen tokens come before the answer. With
// allTurns (SFT) Loss marks every assistant turn of the history as well as
// the answer; otherwise (RM, DPO) only the answer counts. Truncation is
// Encode's; with no history it is Encode.
func (e *Encoder) EncodeConversation(history []chat.Message, prompt, response string, allTurns bool, stats *TruncStats) (Encoded, bool) {
	if len(history) == 0 {
		return e.Encode(prompt, response, stats)
	}
	pieces, ct := e.conversation(history, prompt)
	p, pl := e.tokens(pieces, ct == nil && !e.Raw && e.Tok.AddsBOS(), allTurns)
	p, pl, r, ok := e.fit(p, pl, e.responseAfter(ct, history, prompt, response), stats)
	if !ok {
		return Encoded{}, false
	}
	enc := Encoded{Tokens: append(p, r...), PromptLen: len(p)}
	if allTurns {
		enc.Loss = pl
		for range r {
			enc.Loss = append(enc.Loss, 1)
		}
	}
	return enc, true
}

// ResponseConversation is the final answer's tokens as EncodeConversation
// puts them after PromptConversation(history, prompt); with no history it
// is Response(prompt, response).
func (e *Encoder) ResponseConversation(history []chat.Message, prompt, response string) []int32 {
	if len(history) == 0 {
		return e.Response(prompt, response)
	}
	_, ct := e.conversation(history, prompt)
	return e.responseAfter(ct, history, prompt, response)
}
