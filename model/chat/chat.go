// Package chat renders Hugging Face chat templates: the Jinja template a
// model's tokenizer_config.json (or chat_template.jinja) carries, which turns
// a list of role/content messages into the text the model was trained on,
// as transformers' apply_chat_template does (trim_blocks and lstrip_blocks,
// tojson, raise_exception), through github.com/ardanlabs/jinja.
package chat

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Template is a compiled chat template.
type Template struct {
	// Name says where the template comes from (model folder and file); it
	// starts every error.
	Name string
	// Source is the Jinja text.
	Source string
	// BOS and EOS are the bos_token and eos_token the template sees.
	BOS, EOS string

	t *jinja.Template

	once     sync.Once
	frame    Frame
	frameErr error
}

// Compile compiles a chat template; errors start with name and give the
// line of the template where it is known.
func Compile(name, source, bos, eos string) (*Template, error) {
	t, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("%s: chat template: %s", name, lineOf(source, err))
	}
	return &Template{Name: name, Source: source, BOS: bos, EOS: eos, t: t}, nil
}

// Render renders messages; addGenerationPrompt asks for the opening of the
// assistant turn that follows them. Errors (a raise_exception of the template,
// an unknown filter) start with the template's name.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	// Dicts keep their keys in order (role, content), as tojson shows them.
	msgs := make([]jinja.Value, len(messages))
	for i, m := range messages {
		d := jinja.NewDict()
		d.AsDict().Set("role", jinja.NewString(m.Role))
		d.AsDict().Set("content", jinja.NewString(m.Content))
		msgs[i] = d
	}
	out, err := t.t.RenderValues(map[string]jinja.Value{
		"messages":              jinja.NewList(msgs),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		"bos_token":             jinja.NewString(t.BOS),
		"eos_token":             jinja.NewString(t.EOS),
	})
	if err != nil {
		return "", fmt.Errorf("%s: chat template: %s", t.Name, lineOf(t.Source, err))
	}
	return out, nil
}

// lineRe finds the line number jinja puts in its parse errors.
var lineRe = regexp.MustCompile(`\bline (\d+)\b`)

// lineOf words a jinja error with the line of the template it comes from:
// the one jinja names, or, for a raise_exception, the line of the call
// whose message it is.
func lineOf(source string, err error) string {
	msg := err.Error()
	if lineRe.MatchString(msg) {
		return msg
	}
	lines := strings.Split(source, "\n")
	for i, l := range lines {
		if strings.Contains(l, "raise_exception") && strings.Contains(l, msg) {
			return "line " + strconv.Itoa(i+1) + ": " + msg
		}
	}
	// A message built from pieces: the only raise_exception call, if one.
	n, at := 0, 0
	for i, l := range lines {
		if strings.Contains(l, "raise_exception") {
			n, at = n+strings.Count(l, "raise_exception"), i+1
		}
	}
	if n == 1 {
		return "line " + strconv.Itoa(at) + ": " + msg
	}
	return msg
}

// Frame is how a template frames one exchange (a user turn, then an
// assistant turn): the texts around the two contents.
type Frame struct {
	// BeforeUser and AfterUser surround the user's text in the rendering of
	// the user turn with add_generation_prompt: AfterUser ends with the
	// opening of the assistant turn (ChatML "<|im_end|>\n<|im_start|>assistant\n").
	BeforeUser, AfterUser string
	// BeforeAssistant and AfterAssistant surround the assistant's text in
	// the rest of the rendering of both turns (Mistral " " and "</s>",
	// ChatML "" and "<|im_end|>\n").
	BeforeAssistant, AfterAssistant string
}

// Placeholders stand for the texts of an exchange while its frame is found.
const (
	placeholderUser      = "\x00rlhf-user\x00"
	placeholderAssistant = "\x00rlhf-assistant\x00"
)

// Frame renders an exchange with placeholder texts and finds its frame. It
// is an error when the rendering of the two turns does not start with that
// of the user turn and its generation prompt: rlhf feeds a model the prompt
// and samples the answer after it, so the prompt must be a prefix of the
// conversation.
func (t *Template) Frame() (Frame, error) {
	t.once.Do(func() { t.frame, t.frameErr = t.findFrame() })
	return t.frame, t.frameErr
}

func (t *Template) findFrame() (Frame, error) {
	var f Frame
	user := []Message{{Role: "user", Content: placeholderUser}}
	prompt, err := t.Render(user, true)
	if err != nil {
		return f, err
	}
	var ok bool
	if f.BeforeUser, f.AfterUser, ok = strings.Cut(prompt, placeholderUser); !ok {
		return f, fmt.Errorf("%s: chat template: a user turn renders without its text (%q)", t.Name, prompt)
	}
	full, err := t.Render(append(user, Message{Role: "assistant", Content: placeholderAssistant}), false)
	if err != nil {
		return f, err
	}
	rest, ok := strings.CutPrefix(full, prompt)
	if !ok {
		return f, fmt.Errorf("%s: chat template: a user turn followed by an assistant turn (%q) does not start with the user turn and the generation prompt (%q); rlhf samples answers after the prompt, so the prompt must be a prefix of the conversation",
			t.Name, show(full), show(prompt))
	}
	if f.BeforeAssistant, f.AfterAssistant, ok = strings.Cut(rest, placeholderAssistant); !ok {
		return f, fmt.Errorf("%s: chat template: an assistant turn renders without its text (%q)", t.Name, show(rest))
	}
	return f, nil
}

// show writes the placeholders of a rendering as {prompt} and {response}.
func show(s string) string {
	return strings.NewReplacer(placeholderUser, "{prompt}", placeholderAssistant, "{response}").Replace(s)
}

// Prompt is the text of a prompt as the model reads it: one user turn and
// the generation prompt. Where rendering this one prompt fails (a template
// that raises on its content), it is the frame around it.
func (t *Template) Prompt(prompt string) (string, error) {
	s, err := t.Render([]Message{{Role: "user", Content: prompt}}, true)
	if err == nil {
		return s, nil
	}
	f, ferr := t.Frame()
	if ferr != nil {
		return "", err
	}
	return f.BeforeUser + prompt + f.AfterUser, nil
}

// Response is the text that follows Prompt(prompt) when the model answers
// response: the assistant turn as the template renders it after that
// prompt, without trailing white space (ChatML "ANSWER<|im_end|>", Mistral
// " ANSWER</s>").
func (t *Template) Response(prompt, response string) (string, error) {
	f, err := t.Frame()
	if err != nil {
		return "", err
	}
	// A response that starts with what the template puts before it (a
	// sampled Mistral answer " ...") does not get it twice.
	if f.BeforeAssistant != "" {
		response = strings.TrimPrefix(response, f.BeforeAssistant)
	}
	user := []Message{{Role: "user", Content: prompt}}
	p, perr := t.Render(user, true)
	full, ferr := t.Render(append(user, Message{Role: "assistant", Content: response}), false)
	if rest, ok := strings.CutPrefix(full, p); ok && perr == nil && ferr == nil {
		return strings.TrimRight(rest, " \t\r\n"), nil
	}
	return strings.TrimRight(f.BeforeAssistant+response+f.AfterAssistant, " \t\r\n"), nil
}
