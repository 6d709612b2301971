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
var textFields = []string{"text", "prompt", "response", "question", "context", "answer", "chosen", "rejected"}

// EachText calls add for every text of a JSONL file (in encoding enc; the
// text fields of each row) or dataset directory (the text columns of its
// kind).
func EachText(path string, enc Encoding, add func(string)) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return eachJSONLText(path, enc, add)
	}
	m, err := ReadManifest(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch m.Kind {
	case KindQA:
		return eachRow(path, func(r QA) { add(r.Question); add(r.Context); add(r.Answer) })
	case KindPrompt:
		return eachRow(path, func(r Prompt) { add(r.Prompt) })
	case KindSFT:
		return eachRow(path, func(r SFT) { add(r.Prompt); add(r.Response) })
	case KindComparison:
		return eachRow(path, func(r Comparison) { add(r.Prompt); add(r.Chosen); add(r.Rejected) })
	case KindResponse:
		return eachRow(path, func(r Response) { add(r.Prompt); add(r.Response) })
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

// eachJSONLText reads the text fields of every row of a JSONL file
// (optionally gzipped); a row with none of them is an error naming the line.
func eachJSONLText(path string, enc Encoding, add func(string)) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return EachLineAs(path, enc, func(line int, raw []byte) error {
		var row map[string]any
		if err := json.Unmarshal(raw, &row); err != nil {
			return fmt.Errorf("%s:%d: not a JSON object: %w", path, line, err)
		}
		found := false
		for _, k := range textFields {
			if s, ok := row[k].(string); ok {
				add(s)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s:%d: want a string field %q, %q or %q", path, line, "text", "prompt", "response")
		}
		return nil
	})
}
