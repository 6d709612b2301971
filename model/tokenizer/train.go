package tokenizer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/progress"
)

// ByteLevelOptions are the settings of `rlhf tokenizer byte-level`.
type ByteLevelOptions struct {
	// Out is the tokenizer.json file to write. Required.
	Out string
}

// RunByteLevel writes the byte-level tokenizer (see ByteLevel) to opts.Out.
func RunByteLevel(_ context.Context, opts ByteLevelOptions) error {
	if opts.Out == "" {
		return errors.New("--out: want the tokenizer.json file to write")
	}
	if err := WriteByteLevel(opts.Out); err != nil {
		return err
	}
	slog.Info("wrote byte-level tokenizer", "file", opts.Out, "vocab", 257)
	return nil
}

// TrainOptions are the settings of `rlhf tokenizer train`.
type TrainOptions struct {
	// Data are the training texts: dataset directories (any record kind; its
	// text columns are used) or JSONL files whose rows have a "text",
	// "prompt" and/or "response" field. Required.
	Data []string
	// VocabSize is the largest vocabulary wanted, the 256 byte tokens and the
	// special tokens included. Training stops earlier when no pair occurs
	// MinFrequency times. Default 8000; at least 257.
	VocabSize int
	// MinFrequency is the fewest occurrences a pair needs to become a merge.
	// Default 2.
	MinFrequency int
	// SpecialTokens are added after the learned vocabulary, in this order.
	// Default: <|endoftext|>.
	SpecialTokens []string
	// Out is the tokenizer.json file to write. Required.
	Out string
	// Encoding is the character encoding of JSONL inputs: UTF-8 (default;
	// a line that is not valid UTF-8 is an error naming file and line),
	// GBK, GB18030 or Big5 (decoded).
	Encoding dataset.Encoding
}

func (o *TrainOptions) setDefaults() {
	if o.VocabSize == 0 {
		o.VocabSize = 8000
	}
	if o.MinFrequency == 0 {
		o.MinFrequency = 2
	}
	if len(o.SpecialTokens) == 0 {
		o.SpecialTokens = []string{EndOfText}
	}
}

// Train learns a GPT-2 style byte-level BPE tokenizer (the layout of
// ByteLevel, plus merges) from the texts in opts.Data and writes it to
// opts.Out. The same data and options give the same file.
func Train(ctx context.Context, opts TrainOptions) error {
	opts.setDefaults()
	if len(opts.Data) == 0 {
		return errors.New("--data: want at least one dataset directory or JSONL file")
	}
	if opts.Out == "" {
		return errors.New("--out: want the tokenizer.json file to write")
	}
	if opts.VocabSize < 256+len(opts.SpecialTokens) {
		return fmt.Errorf("--vocab-size %d: want at least %d (256 bytes + special tokens)", opts.VocabSize, 256+len(opts.SpecialTokens))
	}
	if _, err := dataset.ParseEncoding(string(opts.Encoding)); err != nil {
		return fmt.Errorf("--encoding: %w", err)
	}
	words, err := countWords(ctx, opts.Data, opts.SpecialTokens, opts.Encoding)
	if err != nil {
		return err
	}
	slog.Info("counted words", "distinct", len(words))
	vocab, merges, err := trainBPE(ctx, words, opts.VocabSize-len(opts.SpecialTokens), opts.MinFrequency)
	if err != nil {
		return err
	}
	ids := make([]int, len(opts.SpecialTokens))
	for i, s := range opts.SpecialTokens {
		if _, ok := vocab[s]; ok {
			return fmt.Errorf("special token %q is also a learned token", s)
		}
		ids[i] = len(vocab) + i
	}
	raw := byteLevelJSON(vocab, merges, opts.SpecialTokens, ids)
	if _, err := FromBytes(raw, nil); err != nil {
		return fmt.Errorf("trained tokenizer does not load: %w", err)
	}
	if err := writeFileAtomic(opts.Out, raw); err != nil {
		return err
	}
	slog.Info("wrote tokenizer", "file", opts.Out, "vocab", len(vocab)+len(ids), "merges", len(merges))
	return nil
}

// countWords reads every text of the inputs, removes special tokens, splits
// it with GPT-2's pattern and counts the words (raw bytes).
func countWords(ctx context.Context, inputs []string, specials []string, enc dataset.Encoding) (map[string]int, error) {
	pat, err := newRegexPattern(gpt2Pattern)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	bar := progress.New(ctx, -1, "texts")
	defer bar.Finish()
	add := func(text string) {
		bar.Add(1)
		text = strings.ToValidUTF8(text, "\uFFFD")
		for _, s := range specials {
			text = strings.ReplaceAll(text, s, " ")
		}
		for _, m := range pat.FindMatches(text) {
			if !m.Match {
				continue
			}
			counts[text[m.Offsets[0]:m.Offsets[1]]]++
		}
	}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := readTexts(in, enc, add); err != nil {
			return nil, err
		}
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("--data %s: no text found", strings.Join(inputs, ","))
	}
	return counts, nil
}

// textFields are the JSONL fields (and dataset columns) read as text.
var textFields = []string{"text", "prompt", "response", "question", "context", "answer", "chosen", "rejected"}

// readTexts calls add for every text of a JSONL file (in encoding enc) or
// dataset directory.
func readTexts(path string, enc dataset.Encoding, add func(string)) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if !st.IsDir() {
		return readJSONLTexts(path, enc, add)
	}
	m, err := dataset.ReadManifest(path)
	if err != nil {
		return fmt.Errorf("--data %s: %w", path, err)
	}
	switch m.Kind {
	case dataset.KindQA:
		return readDataset(path, func(r dataset.QA) { add(r.Question); add(r.Context); add(r.Answer) })
	case dataset.KindPrompt:
		return readDataset(path, func(r dataset.Prompt) { add(r.Prompt) })
	case dataset.KindSFT:
		return readDataset(path, func(r dataset.SFT) { add(r.Prompt); add(r.Response) })
	case dataset.KindComparison:
		return readDataset(path, func(r dataset.Comparison) { add(r.Prompt); add(r.Chosen); add(r.Rejected) })
	case dataset.KindResponse:
		return readDataset(path, func(r dataset.Response) { add(r.Prompt); add(r.Response) })
	default:
		return fmt.Errorf("--data %s: dataset kind %q has no text to train on", path, m.Kind)
	}
}

func readDataset[T dataset.Record](dir string, use func(T)) error {
	r, err := dataset.Open[T](dir)
	if err != nil {
		return fmt.Errorf("--data %s: %w", dir, err)
	}
	defer r.Close()
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("--data %s: %w", dir, err)
		}
		use(row)
	}
}

// readJSONLTexts reads the text fields of every row of a JSONL file
// (optionally gzipped); a row with none of them is an error naming the line.
func readJSONLTexts(path string, enc dataset.Encoding, add func(string)) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	return dataset.EachLineAs(path, enc, func(line int, raw []byte) error {
		var row map[string]any
		if err := json.Unmarshal(raw, &row); err != nil {
			return fmt.Errorf("--data %s:%d: not a JSON object: %w", path, line, err)
		}
		found := false
		for _, k := range textFields {
			if s, ok := row[k].(string); ok {
				add(s)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("--data %s:%d: want a string field %q, %q or %q", path, line, "text", "prompt", "response")
		}
		return nil
	})
}
