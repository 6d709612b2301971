package cmd

import (
	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/model/tokenizer"
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
	return c
}

func newTokenizerTrainCmd() *cobra.Command {
	opts := tokenizer.TrainOptions{}
	c := &cobra.Command{
		Use:   "train --data DATASET_DIR_OR_JSONL --vocab-size N --out FILE",
		Short: "Train a byte-level BPE tokenizer on the texts of datasets or JSONL files",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return tokenizer.Train(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Data, "data", nil, "dataset directories or JSONL files (text/prompt/response fields); repeatable (required)")
	f.IntVar(&opts.VocabSize, "vocab-size", 8000, "largest vocabulary, 256 byte tokens and special tokens included")
	f.IntVar(&opts.MinFrequency, "min-frequency", 2, "fewest occurrences a pair needs to become a merge")
	f.StringSliceVar(&opts.SpecialTokens, "special", []string{tokenizer.EndOfText}, "special tokens added after the learned vocabulary")
	f.StringVar(&opts.Out, "out", "", "tokenizer.json file to write (required)")
	bindEncodingFlag(f, &opts.Encoding, "JSONL --data")
	return c
}
