package cmd

import (
	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/dataset"
)

func init() { register(newInspectCmd) }

func newInspectCmd() *cobra.Command {
	opts := dataset.InspectOptions{}
	c := &cobra.Command{
		Use:   "inspect DIR|FILE...",
		Short: "Show a dataset's manifest, schema, first rows and statistics, or a JSONL or Parquet file's",
		Long: `Show each dataset's manifest, Parquet schema, row counts, first rows, the
task and language distribution and text-length percentiles (p50/p90/p99, in
characters).

A JSONL file (.jsonl, .jsonl.gz, .json, .ndjson) or a lone Parquet file (a
shard, or a file written by DuckDB, pandas or Spark) shows its row count,
columns (JSONL: the fields and how many rows have each) and first rows. A model
folder is inspected with "rlhf model inspect".`,
		Example: "  rlhf inspect data/qa\n  rlhf inspect --head 3 --json data/instruct/sft/train\n  rlhf inspect prompts.jsonl export.parquet",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Dirs = args
			return dataset.RunInspect(c.OutOrStdout(), opts)
		},
	}
	c.Flags().IntVar(&opts.Head, "head", 5, "number of rows to show")
	c.Flags().BoolVar(&opts.JSON, "json", false, "print JSON instead of text")
	limits(c.Flags(), map[string]numRange{"head": atLeast(0)})
	return nameFlags(c, &opts)
}
