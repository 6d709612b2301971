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
// The kinds hold one prompt and one answer, so only single-turn
// conversations convert for now: a system message or a second user turn is
// an error saying so.

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// errSystem and multiTurn are the refusals of what the kinds cannot hold yet.
var errSystem = errors.New("system messages are not supported yet")

func multiTurn(users int) error {
	return fmt.Errorf("multi-turn conversations are not supported yet: %d user turns", users)
}

// roles lists the roles of msgs, for messages.
func roles(msgs []Message) string {
	r := make([]string, len(msgs))
	for i, m := range msgs {
		r[i] = m.Role
	}
	return "[" + strings.Join(r, ", ") + "]"
}

// checkSingleTurn refuses system messages and more than one user turn.
func checkSingleTurn(msgs []Message) error {
	users := 0
	for _, m := range msgs {
		switch m.Role {
		case "system":
			return errSystem
		case "user":
			users++
		}
	}
	if users > 1 {
		return multiTurn(users)
	}
	return nil
}

// SFTFromMessages is the prompt and response of a single-turn conversation:
// one user message, then one assistant message.
func SFTFromMessages(msgs []Message) (prompt, response string, err error) {
	if err := checkSingleTurn(msgs); err != nil {
		return "", "", err
	}
	if len(msgs) != 2 || msgs[0].Role != "user" || msgs[1].Role != "assistant" {
		return "", "", fmt.Errorf("want a user message then an assistant message, got %s", roles(msgs))
	}
	return msgs[0].Content, msgs[1].Content, nil
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

// SFTFromShareGPT is the prompt and response of a single-turn ShareGPT
// conversation (human, then gpt).
func SFTFromShareGPT(turns []ShareGPTTurn) (prompt, response string, err error) {
	msgs := make([]Message, len(turns))
	for i, t := range turns {
		role, ok := shareGPTRoles[strings.ToLower(t.From)]
		if !ok {
			return "", "", fmt.Errorf(`"conversations": turn %d is from %q; want "human", "gpt" or "system"`, i+1, t.From)
		}
		msgs[i] = Message{Role: role, Content: t.Value}
	}
	p, r, err := SFTFromMessages(msgs)
	if err != nil {
		return "", "", fmt.Errorf(`"conversations": %w`, err)
	}
	return p, r, nil
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

// PreferenceFromJSON turns TRL's "prompt", "chosen" and "rejected" fields
// (each absent, a string or a list of messages) into one comparison's
// texts. A conversational prompt is one user message; conversational
// answers are one assistant message each; without a prompt, conversational
// chosen and rejected share it as their first messages (TRL's implicit
// prompt).
func PreferenceFromJSON(promptRaw, chosenRaw, rejectedRaw json.RawMessage) (prompt, chosen, rejected string, err error) {
	prompt, pMsgs, pConv, err := textOrMessages("prompt", promptRaw)
	if err != nil {
		return "", "", "", err
	}
	chosen, cMsgs, cConv, err := textOrMessages("chosen", chosenRaw)
	if err != nil {
		return "", "", "", err
	}
	rejected, rMsgs, rConv, err := textOrMessages("rejected", rejectedRaw)
	if err != nil {
		return "", "", "", err
	}
	if !pConv && !cConv && !rConv {
		return prompt, chosen, rejected, nil
	}
	if cConv != rConv {
		return "", "", "", errors.New(`"chosen" and "rejected": want both strings or both lists of messages`)
	}
	if cConv && !pConv && prompt == "" {
		// Implicit prompt: the messages chosen and rejected start with.
		n := 0
		for n < len(cMsgs)-1 && n < len(rMsgs)-1 && cMsgs[n] == rMsgs[n] {
			n++
		}
		if n == 0 {
			return "", "", "", errors.New(`"chosen" and "rejected" share no prompt (their first messages differ) and there is no "prompt"`)
		}
		pMsgs, cMsgs, rMsgs, pConv = cMsgs[:n], cMsgs[n:], rMsgs[n:], true
	}
	if pConv {
		if err := checkSingleTurn(pMsgs); err != nil {
			return "", "", "", fmt.Errorf(`"prompt": %w`, err)
		}
		if len(pMsgs) != 1 || pMsgs[0].Role != "user" {
			return "", "", "", fmt.Errorf(`"prompt": want one user message, got %s`, roles(pMsgs))
		}
		prompt = pMsgs[0].Content
	}
	if cConv {
		if chosen, err = oneAnswer("chosen", cMsgs); err != nil {
			return "", "", "", err
		}
		if rejected, err = oneAnswer("rejected", rMsgs); err != nil {
			return "", "", "", err
		}
	}
	return prompt, chosen, rejected, nil
}

// oneAnswer is the text of a conversational answer of one assistant message.
func oneAnswer(field string, msgs []Message) (string, error) {
	if err := checkSingleTurn(msgs); err != nil {
		return "", fmt.Errorf("%q: %w", field, err)
	}
	if len(msgs) != 1 || msgs[0].Role != "assistant" {
		return "", fmt.Errorf("%q: want one assistant message after the prompt, got %s", field, roles(msgs))
	}
	return msgs[0].Content, nil
}

// sftJSON is a JSONL row of the sft kind in any of the formats it reads.
type sftJSON struct {
	SFT
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
// response), messages, ShareGPT or Alpaca, detected per row.
func decodeSFT(text []byte, row *SFT) error {
	var j sftJSON
	if err := json.Unmarshal(text, &j); err != nil {
		return err
	}
	*row = j.SFT
	var formats []string
	if row.Prompt != "" || row.Response != "" {
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
	var err error
	switch {
	case present(j.Messages):
		var msgs []Message
		if msgs, err = messagesOf("messages", j.Messages); err == nil {
			row.Prompt, row.Response, err = SFTFromMessages(msgs)
			if err != nil {
				err = fmt.Errorf(`"messages": %w`, err)
			}
		}
	case present(j.Conversations):
		var turns []ShareGPTTurn
		if json.Unmarshal(j.Conversations, &turns) != nil {
			err = errors.New(`"conversations": want a list of {"from", "value"} turns`)
		} else {
			row.Prompt, row.Response, err = SFTFromShareGPT(turns)
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
	row.Prompt, row.Chosen, row.Rejected, err = PreferenceFromJSON(j.Prompt, j.Chosen, j.Rejected)
	if err != nil {
		return formatError{err}
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
	}
	return json.Unmarshal(text, row)
}
