package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/progress"
)

func init() { register(newTokenizerCmd) }

func newTokenizerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "tokenizer",
		Short: "Build or train a tokenizer.json",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newTokenizerByteLevelCmd(), newTokenizerTrainCmd())
	return c
}

func newTokenizerByteLevelCmd() *cobra.Command {
	opts := tokenizer.ByteLevelOptions{}
	c := &cobra.Command{
		Use:   "byte-level --out FILE",
		Short: "Write a byte-level tokenizer (256 byte tokens + <|endoftext|>) that needs no training",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return tokenizer.RunByteLevel(c.Context(), opts)
		},
	}
	c.Flags().StringVar(&opts.Out, "out", "", "tokenizer.json file to write (required)")
	return nameFlags(c, &opts)
}

func newTokenizerTrainCmd() *cobra.Command {
	opts := tokenizer.TrainOptions{}
	var in struct { // the inputs, read here: Data and Encoding name them in errors
		Data     []string
		Encoding dataset.Encoding
	}
	c := &cobra.Command{
		Use:   "train --data DATASET_DIR_OR_JSONL --vocab-size N --out FILE",
		Short: "Train a byte-level BPE tokenizer on the texts of datasets, JSONL or Parquet files",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			switch {
			case len(in.Data) == 0:
				return errors.New("--data: want at least one dataset directory or JSONL file")
			case opts.Out == "":
				return errors.New("--out: want the tokenizer.json file to write")
			case opts.VocabSize < 256+len(opts.SpecialTokens):
				return fmt.Errorf("--vocab-size %d: want at least %d (256 bytes + special tokens)", opts.VocabSize, 256+len(opts.SpecialTokens))
			}
			if err := tokenizer.FileDest(opts.Out, in.Data...).Check(); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			opts.Inputs = in.Data
			bar := progress.New(c.Context(), -1, "texts")
			texts := dataset.Texts(in.Data, in.Encoding)
			opts.Texts = func(add func(string)) error {
				return texts(func(s string) { bar.Add(1); add(s) })
			}
			err := tokenizer.Train(c.Context(), opts)
			bar.Finish()
			if err != nil {
				return fmt.Errorf("--data: %w", err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringSliceVar(&in.Data, "data", nil, "dataset directories, JSONL or Parquet files (text/prompt/response fields, every turn of conversations); repeatable (required)")
	f.IntVar(&opts.VocabSize, "vocab-size", 8000, "largest vocabulary, 256 byte tokens and special tokens included")
	f.IntVar(&opts.MinFrequency, "min-frequency", 2, "fewest occurrences a pair needs to become a merge")
	f.StringSliceVar(&opts.SpecialTokens, "special", []string{tokenizer.EndOfText}, "special tokens added after the learned vocabulary")
	f.StringVar(&opts.Out, "out", "", "tokenizer.json file to write (required)")
	bindEncodingFlag(f, &in.Encoding, "JSONL --data")
	limits(f, map[string]numRange{"vocab-size": atLeast(1), "min-frequency": atLeast(1)})
	return nameFlags(c, &opts, &in)
}
