package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Conversational JSONL rows, as the Hugging Face hub and TRL write them,
// turned into the SFT and Comparison kinds. Each format has one conversion
// function here, used by every reader (the JSONL reader of Reader and
// ReadAll, and `comparisons import --format trl`):
//
//   - messages: {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}
//     (SFTFromMessages);
//   - ShareGPT: {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}
//     (SFTFromShareGPT);
//   - Alpaca: {"instruction": ..., "input": ..., "output": ...} (SFTFromAlpaca);
//   - TRL preference rows: "prompt", "chosen" and "rejected" as strings or
//     as message lists, the prompt explicit or implicit (the shared start of
//     chosen and rejected) (PreferenceFromJSON).
//
// Multi-turn conversations and system messages are kept: the last user
// turn is the row's prompt, the final assistant answer its response (or
// chosen and rejected), and everything before the last user turn (a system
// message, earlier user and assistant turns) its history column, a JSON list
// of messages (EncodeHistory). A single-turn row has an empty history, as
// rows written before the column existed.

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// roles lists the roles of msgs, for messages.
func roles(msgs []Message) string {
	r := make([]string, len(msgs))
	for i, m := range msgs {
		r[i] = m.Role
	}
	return "[" + strings.Join(r, ", ") + "]"
}

// conversationShape is what checkPrompt wants, for its errors.
const conversationShape = "an optional system message, then user and assistant messages in turn, starting with a user message"

// checkPrompt checks that msgs is a conversation a model answers next: an
// optional system message, then user and assistant messages in turn,
// ending with a user message.
func checkPrompt(msgs []Message) error {
	want := "user"
	for i, m := range msgs {
		if i == 0 && m.Role == "system" {
			continue
		}
		if m.Role != want {
			return fmt.Errorf("want %s, ending with a user message; message %d is %q in %s", conversationShape, i+1, m.Role, roles(msgs))
		}
		if want == "user" {
			want = "assistant"
		} else {
			want = "user"
		}
	}
	if len(msgs) == 0 || want != "assistant" {
		return fmt.Errorf("want %s, ending with a user message; got %s", conversationShape, roles(msgs))
	}
	return nil
}

// splitPrompt splits a conversation that ends with a user turn into its
// history and that last user turn.
func splitPrompt(msgs []Message) (history []Message, prompt string, err error) {
	if err := checkPrompt(msgs); err != nil {
		return nil, "", err
	}
	return msgs[:len(msgs)-1], msgs[len(msgs)-1].Content, nil
}

// SFTFromMessages splits a conversation into the history (system message
// and turns before the last user turn), the last user turn and the final
// assistant answer.
func SFTFromMessages(msgs []Message) (history []Message, prompt, response string, err error) {
	if len(msgs) < 2 || msgs[len(msgs)-1].Role != "assistant" {
		return nil, "", "", fmt.Errorf("want %s, ending with an assistant message; got %s", conversationShape, roles(msgs))
	}
	history, prompt, err = splitPrompt(msgs[:len(msgs)-1])
	if err != nil {
		return nil, "", "", fmt.Errorf("want %s, ending with an assistant message; got %s", conversationShape, roles(msgs))
	}
	return history, prompt, msgs[len(msgs)-1].Content, nil
}

// PromptFromMessages splits a conversation to be answered (ending with a
// user turn, or with an assistant answer, which is dropped) into its
// history and last user turn.
func PromptFromMessages(msgs []Message) (history []Message, prompt string, err error) {
	if n := len(msgs); n >= 2 && msgs[n-1].Role == "assistant" {
		msgs = msgs[:n-1]
	}
	return splitPrompt(msgs)
}

// EncodeHistory is the history column of a conversation's earlier
// messages: "" for none, else a JSON list of {"role", "content"}.
func EncodeHistory(msgs []Message) string {
	if len(msgs) == 0 {
		return ""
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		panic(err) // strings always marshal
	}
	return string(b)
}

// DecodeHistory reads a history column ("" is none): the messages must be
// able to come before a user turn (an optional system message, then user
// and assistant turns in turn, ending with an assistant turn).
func DecodeHistory(s string) ([]Message, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	msgs, err := messagesOf("history", json.RawMessage(s))
	if err != nil {
		return nil, err
	}
	if err := checkPrompt(append(msgs, Message{Role: "user"})); err != nil {
		return nil, fmt.Errorf(`"history": %w`, err)
	}
	return msgs, nil
}

// Conversation is the messages of a row: its history, then the prompt as a
// user turn.
func Conversation(history, prompt string) ([]Message, error) {
	msgs, err := DecodeHistory(history)
	if err != nil {
		return nil, err
	}
	return append(msgs, Message{Role: "user", Content: prompt}), nil
}

// ShareGPTTurn is one turn of a ShareGPT conversation.
type ShareGPTTurn struct {
	From  string `json:"from"`
	Value string `json:"value"`
}

// shareGPTRoles maps ShareGPT speakers to message roles.
var shareGPTRoles = map[string]string{
	"human": "user", "user": "user",
	"gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant",
	"system": "system",
}

// MessagesFromShareGPT turns ShareGPT turns into messages.
func MessagesFromShareGPT(turns []ShareGPTTurn) ([]Message, error) {
	msgs := make([]Message, len(turns))
	for i, t := range turns {
		role, ok := shareGPTRoles[strings.ToLower(t.From)]
		if !ok {
			return nil, fmt.Errorf(`"conversations": turn %d is from %q; want "human", "gpt" or "system"`, i+1, t.From)
		}
		msgs[i] = Message{Role: role, Content: t.Value}
	}
	return msgs, nil
}

// SFTFromShareGPT is SFTFromMessages of a ShareGPT conversation (human and
// gpt turns, an optional system turn first).
func SFTFromShareGPT(turns []ShareGPTTurn) (history []Message, prompt, response string, err error) {
	msgs, err := MessagesFromShareGPT(turns)
	if err != nil {
		return nil, "", "", err
	}
	history, prompt, response, err = SFTFromMessages(msgs)
	if err != nil {
		return nil, "", "", fmt.Errorf(`"conversations": %w`, err)
	}
	return history, prompt, response, nil
}

// SFTFromAlpaca is the prompt and response of an Alpaca row: the prompt is
// the instruction, followed by a blank line and the input when the input is
// not empty.
func SFTFromAlpaca(instruction, input, output string) (prompt, response string) {
	if input == "" {
		return instruction, output
	}
	return instruction + "\n\n" + input, output
}

// messagesOf decodes a list of role/content messages; every message needs a
// role.
func messagesOf(field string, raw json.RawMessage) ([]Message, error) {
	var msgs []Message
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, fmt.Errorf(`%q: want a list of {"role", "content"} messages`, field)
	}
	for i, m := range msgs {
		if m.Role == "" {
			return nil, fmt.Errorf("%q: message %d has no role", field, i+1)
		}
	}
	return msgs, nil
}

// present reports whether a raw JSON field was given (not absent, not null).
func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// textOrMessages decodes a field that is a string or a list of messages
// (conv is true for a list); absent or null is "".
func textOrMessages(field string, raw json.RawMessage) (text string, msgs []Message, conv bool, err error) {
	if !present(raw) {
		return "", nil, false, nil
	}
	if json.Unmarshal(raw, &text) == nil {
		return text, nil, false, nil
	}
	if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
		msgs, err := messagesOf(field, raw)
		return "", msgs, err == nil, err
	}
	return "", nil, false, fmt.Errorf(`%q: want a string or a list of {"role", "content"} messages`, field)
}

// Preference is one comparison's conversation: the history both answers
// share, the last user turn and the two answers.
type Preference struct {
	History                  []Message
	Prompt, Chosen, Rejected string
}

// PreferenceFromJSON turns TRL's "prompt", "chosen" and "rejected" fields
// (each absent, a string or a list of messages) into one comparison. A
// conversational prompt is a conversation ending with a user message (an
// optional system message, then user and assistant turns); conversational
// answers are one assistant message each; without a prompt, conversational
// chosen and rejected share it as their first messages (TRL's implicit
// prompt).
func PreferenceFromJSON(promptRaw, chosenRaw, rejectedRaw json.RawMessage) (Preference, error) {
	var p Preference
	prompt, pMsgs, pConv, err := textOrMessages("prompt", promptRaw)
	if err != nil {
		return p, err
	}
	chosen, cMsgs, cConv, err := textOrMessages("chosen", chosenRaw)
	if err != nil {
		return p, err
	}
	rejected, rMsgs, rConv, err := textOrMessages("rejected", rejectedRaw)
	if err != nil {
		return p, err
	}
	p.Prompt, p.Chosen, p.Rejected = prompt, chosen, rejected
	if !pConv && !cConv && !rConv {
		return p, nil
	}
	if cConv != rConv {
		return p, errors.New(`"chosen" and "rejected": want both strings or both lists of messages`)
	}
	if cConv && !pConv && prompt == "" {
		// Implicit prompt: the messages chosen and rejected start with.
		n := 0
		for n < len(cMsgs)-1 && n < len(rMsgs)-1 && cMsgs[n] == rMsgs[n] {
			n++
		}
		if n == 0 {
			return p, errors.New(`"chosen" and "rejected" share no prompt (their first messages differ) and there is no "prompt"`)
		}
		pMsgs, cMsgs, rMsgs, pConv = cMsgs[:n], cMsgs[n:], rMsgs[n:], true
	}
	if pConv {
		if p.History, p.Prompt, err = splitPrompt(pMsgs); err != nil {
			return p, fmt.Errorf(`"prompt": %w`, err)
		}
	}
	if cConv {
		if p.Chosen, err = oneAnswer("chosen", cMsgs); err != nil {
			return p, err
		}
		if p.Rejected, err = oneAnswer("rejected", rMsgs); err != nil {
			return p, err
		}
	}
	return p, nil
}

// oneAnswer is the text of a conversational answer of one assistant message.
func oneAnswer(field string, msgs []Message) (string, error) {
	if len(msgs) != 1 || msgs[0].Role != "assistant" {
		return "", fmt.Errorf("%q: want one assistant message after the prompt, got %s", field, roles(msgs))
	}
	return msgs[0].Content, nil
}

// historyOf is a "history" field of a JSONL row: a JSON list of messages
// or that list encoded in a string (as the column holds it); it must come
// before a user turn.
func historyOf(raw json.RawMessage) (string, error) {
	if !present(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
		if strings.TrimSpace(s) == "" {
			return "", nil
		}
	}
	msgs, err := messagesOf("history", raw)
	if err != nil {
		return "", err
	}
	if err := checkPrompt(append(msgs, Message{Role: "user"})); err != nil {
		return "", fmt.Errorf(`"history": %w`, err)
	}
	return EncodeHistory(msgs), nil
}

// promptJSON is a JSONL row of the prompt kind: a plain prompt (with an
// optional history) or a conversation to answer.
type promptJSON struct {
	Prompt
	History       json.RawMessage `json:"history"`
	Messages      json.RawMessage `json:"messages"`
	Conversations json.RawMessage `json:"conversations"`
}

// decodePrompt decodes a JSONL line as a Prompt record: "prompt" (and
// "history"), "messages" or ShareGPT "conversations", ending with the user
// turn to answer (a final assistant answer is dropped).
func decodePrompt(text []byte, row *Prompt) error {
	var j promptJSON
	if err := json.Unmarshal(text, &j); err != nil {
		return err
	}
	*row = j.Prompt
	var err error
	if row.History, err = historyOf(j.History); err != nil {
		return formatError{err}
	}
	var msgs []Message
	switch {
	case present(j.Messages) && present(j.Conversations), (present(j.Messages) || present(j.Conversations)) && (row.Prompt != "" || row.History != ""):
		return formatError{errors.New(`the row has more than one of "prompt", "messages" and "conversations": want one of them`)}
	case present(j.Messages):
		if msgs, err = messagesOf("messages", j.Messages); err != nil {
			return formatError{err}
		}
	case present(j.Conversations):
		var turns []ShareGPTTurn
		if json.Unmarshal(j.Conversations, &turns) != nil {
			return formatError{errors.New(`"conversations": want a list of {"from", "value"} turns`)}
		}
		if msgs, err = MessagesFromShareGPT(turns); err != nil {
			return formatError{err}
		}
	default:
		return nil
	}
	history, prompt, err := PromptFromMessages(msgs)
	if err != nil {
		field := "messages"
		if present(j.Conversations) {
			field = "conversations"
		}
		return formatError{fmt.Errorf("%q: %w", field, err)}
	}
	row.Prompt, row.History = prompt, EncodeHistory(history)
	return nil
}

// sftJSON is a JSONL row of the sft kind in any of the formats it reads.
type sftJSON struct {
	SFT
	// Prompt and Completion are strings, or TRL's conversational
	// prompt-completion rows: a conversation ending with a user turn and a
	// list of one assistant message.
	Prompt        json.RawMessage `json:"prompt"`
	Completion    json.RawMessage `json:"completion"`
	History       json.RawMessage `json:"history"`
	Messages      json.RawMessage `json:"messages"`
	Conversations json.RawMessage `json:"conversations"`
	Instruction   *string         `json:"instruction"`
	Input         *string         `json:"input"`
	Output        *string         `json:"output"`
}

// comparisonJSON is a JSONL row of the comparison kind; the outer fields
// shadow the embedded string ones.
type comparisonJSON struct {
	Comparison
	History  json.RawMessage `json:"history"`
	Prompt   json.RawMessage `json:"prompt"`
	Chosen   json.RawMessage `json:"chosen"`
	Rejected json.RawMessage `json:"rejected"`
}

// formatError is a row that is valid JSON but not a row of any format the
// kind reads; its message is complete without "not a valid record".
type formatError struct{ err error }

func (e formatError) Error() string { return e.err.Error() }
func (e formatError) Unwrap() error { return e.err }

// decodeSFT decodes a JSONL line as an SFT record: plain (prompt,
// response), TRL prompt-completion (strings or message lists), messages,
// ShareGPT or Alpaca, detected per row.
func decodeSFT(text []byte, row *SFT) error {
	var j sftJSON
	if err := json.Unmarshal(text, &j); err != nil {
		return err
	}
	*row = j.SFT
	var err error
	if row.History, err = historyOf(j.History); err != nil {
		return formatError{err}
	}
	prompt, pMsgs, pConv, err := textOrMessages("prompt", j.Prompt)
	if err != nil {
		return formatError{err}
	}
	completion, cMsgs, cConv, err := textOrMessages("completion", j.Completion)
	if err != nil {
		return formatError{err}
	}
	row.Prompt = prompt
	var formats []string
	if row.Prompt != "" || row.Response != "" || row.History != "" || pConv || present(j.Completion) {
		formats = append(formats, `"prompt"/"response"`)
	}
	if present(j.Messages) {
		formats = append(formats, `"messages"`)
	}
	if present(j.Conversations) {
		formats = append(formats, `"conversations"`)
	}
	if j.Instruction != nil || j.Output != nil {
		formats = append(formats, `"instruction"/"output"`)
	}
	if len(formats) > 1 {
		return formatError{fmt.Errorf("the row has %s: want one of them", strings.Join(formats, " and "))}
	}
	if present(j.Completion) {
		if row.Response != "" {
			return formatError{errors.New(`the row has "response" and "completion": want one of them`)}
		}
		row.Response = completion
		if cConv {
			if row.Response, err = oneAnswer("completion", cMsgs); err != nil {
				return formatError{err}
			}
		}
	}
	if pConv {
		if row.History != "" {
			return formatError{errors.New(`the row has a conversational "prompt" and a "history": want one of them`)}
		}
		var history []Message
		if history, row.Prompt, err = splitPrompt(pMsgs); err != nil {
			return formatError{fmt.Errorf(`"prompt": %w`, err)}
		}
		row.History = EncodeHistory(history)
	}
	switch {
	case present(j.Messages):
		var msgs, history []Message
		if msgs, err = messagesOf("messages", j.Messages); err == nil {
			history, row.Prompt, row.Response, err = SFTFromMessages(msgs)
			if err != nil {
				err = fmt.Errorf(`"messages": %w`, err)
			}
			row.History = EncodeHistory(history)
		}
	case present(j.Conversations):
		var turns []ShareGPTTurn
		if json.Unmarshal(j.Conversations, &turns) != nil {
			err = errors.New(`"conversations": want a list of {"from", "value"} turns`)
		} else {
			var history []Message
			history, row.Prompt, row.Response, err = SFTFromShareGPT(turns)
			row.History = EncodeHistory(history)
		}
	case j.Instruction != nil || j.Output != nil:
		if j.Instruction == nil || j.Output == nil {
			err = errors.New(`an Alpaca row needs both "instruction" and "output"`)
		} else {
			input := ""
			if j.Input != nil {
				input = *j.Input
			}
			row.Prompt, row.Response = SFTFromAlpaca(*j.Instruction, input, *j.Output)
		}
	}
	if err != nil {
		return formatError{err}
	}
	return nil
}

// decodeComparison decodes a JSONL line as a Comparison record: prompt,
// chosen and rejected as strings or TRL message lists.
func decodeComparison(text []byte, row *Comparison) error {
	var j comparisonJSON
	if err := json.Unmarshal(text, &j); err != nil {
		return err
	}
	*row = j.Comparison
	var err error
	if row.History, err = historyOf(j.History); err != nil {
		return formatError{err}
	}
	p, err := PreferenceFromJSON(j.Prompt, j.Chosen, j.Rejected)
	if err != nil {
		return formatError{err}
	}
	row.Prompt, row.Chosen, row.Rejected = p.Prompt, p.Chosen, p.Rejected
	if len(p.History) > 0 {
		if row.History != "" {
			return formatError{errors.New(`the row has a conversational "prompt" and a "history": want one of them`)}
		}
		row.History = EncodeHistory(p.History)
	}
	return nil
}

// decodeJSONL decodes one JSONL line as a record of kind T.
func decodeJSONL[T Record](text []byte, row *T) error {
	switch r := any(row).(type) {
	case *SFT:
		return decodeSFT(text, r)
	case *Comparison:
		return decodeComparison(text, r)
	case *Prompt:
		return decodePrompt(text, r)
	case *Response:
		var j struct {
			Response
			History json.RawMessage `json:"history"`
		}
		if err := json.Unmarshal(text, &j); err != nil {
			return err
		}
		*r = j.Response
		var err error
		if r.History, err = historyOf(j.History); err != nil {
			return formatError{err}
		}
		return nil
	}
	return json.Unmarshal(text, row)
}
