package tokenizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/option"
)

// FileDest is the destination of a tokenizer.json file (see
// atomicfile.Dest): a missing path, or a file that loads as a tokenizer,
// which is replaced; never a folder, a file of another kind or one of
// inputs.
func FileDest(path string, inputs ...string) atomicfile.Dest {
	return atomicfile.Dest{Path: path, What: "tokenizer.json", File: true, Inputs: inputs, Ours: func(p string) bool {
		raw, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		_, err = FromBytes(raw, nil)
		return err == nil
	}}
}

// ByteLevelOptions are the settings of `rlhf tokenizer byte-level`.
type ByteLevelOptions struct {
	// Out is the tokenizer.json file to write. Required.
	Out string
}

// RunByteLevel writes the byte-level tokenizer (see ByteLevel) to opts.Out.
func RunByteLevel(_ context.Context, opts ByteLevelOptions) error {
	if opts.Out == "" {
		return option.Errorf("{Out}: want the tokenizer.json file to write")
	}
	if err := FileDest(opts.Out).Check(); err != nil {
		return option.Errorf("{Out}: %w", err)
	}
	if err := WriteByteLevel(opts.Out); err != nil {
		return err
	}
	slog.Info("wrote byte-level tokenizer", "file", opts.Out, "vocab", 257)
	return nil
}

// TrainOptions are the settings of `rlhf tokenizer train`.
type TrainOptions struct {
	// Texts calls add for every training text (dataset.Texts reads them
	// from datasets and JSONL files). Required.
	Texts func(add func(string)) error
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
	// Inputs are the files the texts come from: Out may not be one of them
	// (see FileDest).
	Inputs []string
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
// ByteLevel, plus merges) from opts.Texts and writes it to opts.Out. The same data and options give the same file.
func Train(ctx context.Context, opts TrainOptions) error {
	opts.setDefaults()
	if opts.Texts == nil {
		return errors.New("no training texts given")
	}
	if opts.Out == "" {
		return errors.New("no tokenizer.json file to write given")
	}
	if err := FileDest(opts.Out, opts.Inputs...).Check(); err != nil {
		return err
	}
	if opts.VocabSize < 256+len(opts.SpecialTokens) {
		return fmt.Errorf("vocabulary size %d: want at least %d (256 bytes + special tokens)", opts.VocabSize, 256+len(opts.SpecialTokens))
	}
	words, err := countWords(ctx, opts.Texts, opts.SpecialTokens)
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

// countWords reads every text, removes special tokens, splits it with
// GPT-2's pattern and counts the words (raw bytes).
func countWords(ctx context.Context, texts func(add func(string)) error, specials []string) (map[string]int, error) {
	pat, err := newRegexPattern(gpt2Pattern)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	err = texts(func(text string) {
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
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(counts) == 0 {
		return nil, errors.New("no text found")
	}
	return counts, nil
}
