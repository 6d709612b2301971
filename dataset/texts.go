package dataset

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Texts is a source of every text of the given datasets and JSONL files,
// in order (what a tokenizer trains on): it calls add for each.
func Texts(paths []string, enc Encoding) func(add func(string)) error {
	return func(add func(string)) error {
		for _, p := range paths {
			if err := EachText(p, enc, add); err != nil {
				return err
			}
		}
		return nil
	}
}

// textFields are the JSONL fields (and dataset columns) read as text.
var textFields = []string{"text", "prompt", "response", "question", "context", "answer", "chosen", "rejected",
	"instruction", "input", "output"}

// conversationFields are the JSONL fields (and hub Parquet columns) that
// may hold a conversation: lists of {"role", "content"} messages or of
// ShareGPT {"from", "value"} turns ("history" also as the JSON text the
// history column holds).
var conversationFields = []string{"messages", "conversations", "prompt", "chosen", "rejected", "history"}

// EachText calls add for every text of a JSONL file (in encoding enc; the
// text fields of each row, and every turn of its conversations), a hub
// Parquet file (.parquet, the same fields) or dataset directory (the text
// columns of its kind, every turn of a history included).
func EachText(path string, enc Encoding, add func(string)) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return eachJSONLText(path, enc, add)
	}
	history := func(h string) {
		msgs, _ := DecodeHistory(h)
		for _, m := range msgs {
			add(m.Content)
		}
	}
	m, err := ReadManifest(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch m.Kind {
	case KindQA:
		return eachRow(path, func(r QA) { add(r.Question); add(r.Context); add(r.Answer) })
	case KindPrompt:
		return eachRow(path, func(r Prompt) { history(r.History); add(r.Prompt) })
	case KindSFT:
		return eachRow(path, func(r SFT) { history(r.History); add(r.Prompt); add(r.Response) })
	case KindComparison:
		return eachRow(path, func(r Comparison) { history(r.History); add(r.Prompt); add(r.Chosen); add(r.Rejected) })
	case KindResponse:
		return eachRow(path, func(r Response) { history(r.History); add(r.Prompt); add(r.Response) })
	default:
		return fmt.Errorf("%s: dataset kind %q has no text to train on", path, m.Kind)
	}
}

func eachRow[T Record](dir string, use func(T)) error {
	r, err := Open[T](dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer r.Close()
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		use(row)
	}
}

// eachJSONLText reads the text fields and conversation turns of every row
// of a JSONL file (optionally gzipped) or hub Parquet file; a row with none
// of them is an error naming the line (or row).
func eachJSONLText(path string, enc Encoding, add func(string)) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return EachJSONRow(path, enc, func(pos string, raw []byte) error {
		var row map[string]any
		if err := json.Unmarshal(raw, &row); err != nil {
			return fmt.Errorf("%s: not a JSON object: %w", pos, err)
		}
		found := false
		for _, k := range textFields {
			if s, ok := row[k].(string); ok {
				add(s)
				found = true
			}
		}
		for _, k := range conversationFields {
			v := row[k]
			if s, ok := v.(string); ok && k == "history" {
				var list []any
				if json.Unmarshal([]byte(s), &list) == nil {
					v = list
				}
			}
			list, ok := v.([]any)
			if !ok {
				continue
			}
			for _, t := range list {
				m, ok := t.(map[string]any)
				if !ok {
					continue
				}
				for _, f := range []string{"content", "value"} {
					if s, ok := m[f].(string); ok {
						add(s)
						found = true
					}
				}
			}
		}
		if !found {
			return fmt.Errorf("%s: want a string field %q, %q or %q, or a conversation (%q, %q)", pos, "text", "prompt", "response", "messages", "conversations")
		}
		return nil
	})
}
