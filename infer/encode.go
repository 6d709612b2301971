package infer

import (
	"fmt"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// Truncation policies for sequences longer than --max-seq-len.
const (
	// TruncateLeft drops tokens from the start of the prompt (keeping its end,
	// closest to the response); when the response alone does not fit, its end
	// is cut too (and the row is counted as a truncated response).
	TruncateLeft = "left"
	// TruncateDrop drops the whole row (counted and reported).
	TruncateDrop = "drop"
)

// Encoder turns prompt/response text into token ids the way every stage
// must agree on: [BOS] + tokens(template(prompt)) + tokens(response) + EOS;
// with a chat template, tokens(user turn + generation prompt) +
// tokens(assistant turn) [+ EOS] (see Prompt and Encode).
// BOS is added only when the tokenizer says so (tokenizer.AddsBOS: Llama);
// the response gets its own tokenisation so the prompt/response boundary is
// exact.
//
// It is the one prompt encoder of rlhf: generate, score, SFT and RM data,
// PPO prompts and ptx data, and eval all go through it.
type Encoder struct {
	Tok  *tokenizer.Tokenizer
	Meta *model.Meta
	// MaxLen is the maximum sequence length in tokens (Encode only).
	MaxLen int
	// Truncate is TruncateLeft or TruncateDrop (Encode only).
	Truncate string
	// Raw feeds prompts as they are: no template, no BOS.
	Raw bool
}

// NewEncoder is an encoder for the checkpoint metadata meta, with its prompt
// template replaced by template when that is not empty (meta is not
// changed): none, model (the tokenizer's chat template; without one, meta's
// template stays) or a text with {prompt}.
func NewEncoder(tok *tokenizer.Tokenizer, meta *model.Meta, template string) *Encoder {
	if template != "" {
		m := *meta
		applyTemplate(&m, tok, template)
		meta = &m
	}
	return &Encoder{Tok: tok, Meta: meta}
}

// Prompt is the token ids of a prompt as every stage feeds it to a model.
// With the model's chat template (Meta.PromptTemplate "model" or "", and a
// tokenizer that has one): tokens(the user turn and the generation prompt),
// the template writing BOS where the model wants it, as transformers'
// apply_chat_template. Otherwise [BOS] + tokens(template(prompt)), BOS only
// when the tokenizer adds one (tokenizer.AddsBOS: Llama). With Raw,
// tokens(prompt) alone.
func (e *Encoder) Prompt(prompt string) []int32 {
	if e.Raw {
		return int32s(e.Tok.Encode(prompt))
	}
	if ct := e.chat(); ct != nil {
		if s, err := ct.Prompt(prompt); err == nil {
			return int32s(e.Tok.Encode(s))
		}
	}
	var p []int32
	if e.Tok.AddsBOS() {
		p = append(p, int32(e.Tok.BOS()))
	}
	return append(p, int32s(e.Tok.Encode(e.Meta.FormatPrompt(prompt)))...)
}

// Plain is a text with no prompt/response split, as pre-training data reads
// it: [BOS] + tokens(text) + EOS, cut at MaxLen tokens.
func (e *Encoder) Plain(text string) []int32 {
	var ids []int32
	if e.Tok.AddsBOS() {
		ids = append(ids, int32(e.Tok.BOS()))
	}
	ids = append(append(ids, int32s(e.Tok.Encode(text))...), int32(e.Tok.EOS()))
	if e.MaxLen > 0 && len(ids) > e.MaxLen {
		ids = ids[:e.MaxLen]
	}
	return ids
}

// int32s converts token ids.
func int32s(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, t := range ids {
		out[i] = int32(t)
	}
	return out
}

// Ints converts token ids back.
func Ints(ids []int32) []int {
	out := make([]int, len(ids))
	for i, t := range ids {
		out[i] = int(t)
	}
	return out
}

// Encoded is one tokenised prompt+response.
type Encoded struct {
	// Tokens are the ids; PromptLen of them (BOS and template included) come
	// before the response.
	Tokens    []int32
	PromptLen int
	// Loss, when not nil, marks the tokens the loss predicts (1) one by one
	// instead of "everything after PromptLen" (packed rows).
	Loss []int32
	// Segment, when not nil (packed rows), numbers the example each token
	// belongs to (1, 2, ...); it becomes the attention mask, so examples
	// packed in one row neither see each other nor share positions.
	Segment []int32
}

// LossAt reports whether token t is a loss token.
func (e Encoded) LossAt(t int) bool {
	if e.Loss != nil {
		return e.Loss[t] != 0
	}
	return t >= e.PromptLen
}

// TruncStats counts what truncation did.
type TruncStats struct {
	Rows              int // rows encoded
	PromptTruncated   int // rows whose prompt lost tokens on the left
	ResponseTruncated int // rows whose response (or EOS) was cut
	Dropped           int // rows dropped (--truncate drop)
}

func (s TruncStats) String() string {
	return fmt.Sprintf("%d rows: %d prompts truncated on the left, %d responses cut, %d rows dropped",
		s.Rows, s.PromptTruncated, s.ResponseTruncated, s.Dropped)
}

// Encode tokenises one prompt and response. ok is false when the row is
// dropped by the truncation policy. stats may be nil.
//
// With a chat template, the response is the assistant turn as the template
// renders it after the prompt (ChatML "ANSWER<|im_end|>", Mistral
// " ANSWER</s>"), followed by EOS unless it already ends with it; the loss
// and the reward see that turn only (everything before PromptLen is the
// prompt), as TRL's assistant-only loss.
func (e *Encoder) Encode(prompt, response string, stats *TruncStats) (Encoded, bool) {
	p, _, r, ok := e.fit(e.Prompt(prompt), nil, e.Response(prompt, response), stats)
	if !ok {
		return Encoded{}, false
	}
	return Encoded{Tokens: append(p, r...), PromptLen: len(p)}, true
}

// fit counts a row in stats and fits prompt p (with its per-token loss
// marks pl, nil when there are none) and response r into MaxLen tokens:
// it drops the row (ok false) under TruncateDrop, or cuts the response's end
// and then the prompt's start, keeping at least a few prompt tokens (the end
// of the template) so the response stays conditioned on "Assistant:".
func (e *Encoder) fit(p, pl, r []int32, stats *TruncStats) (p2, pl2, r2 []int32, ok bool) {
	if stats != nil {
		stats.Rows++
	}
	if len(p)+len(r) <= e.MaxLen {
		return p, pl, r, true
	}
	if e.Truncate == TruncateDrop {
		if stats != nil {
			stats.Dropped++
		}
		return nil, nil, nil, false
	}
	minPrompt := min(len(p), max(1, e.MaxLen/8))
	if len(r) > e.MaxLen-minPrompt {
		r = r[:e.MaxLen-minPrompt]
		if stats != nil {
			stats.ResponseTruncated++
		}
	}
	if keep := e.MaxLen - len(r); keep < len(p) {
		p = p[len(p)-keep:]
		if pl != nil {
			pl = pl[len(pl)-keep:]
		}
		if stats != nil {
			stats.PromptTruncated++
		}
	}
	return p, pl, r, true
}

// Response is the token ids of a response as Encode puts it after the
// prompt, untruncated: tokens(response) + EOS, or with a chat template the
// assistant turn (+ EOS when it does not end with it).
func (e *Encoder) Response(prompt, response string) []int32 {
	eos := int32(e.Tok.EOS())
	if ct := e.chat(); ct != nil {
		if s, err := ct.Response(prompt, response); err == nil {
			r := int32s(e.Tok.Encode(s))
			if len(r) == 0 || r[len(r)-1] != eos {
				r = append(r, eos)
			}
			return r
		}
	}
	return append(int32s(e.Tok.Encode(response)), eos)
}
