package cmd

import (
	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/label"
)

func init() { register(newComparisonsCmd) }

func newComparisonsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "comparisons",
		Short: "Make comparison datasets from scraped votes, public preference data or a synthetic rule",
	}
	c.AddCommand(newComparisonsFromVotesCmd(), newComparisonsImportCmd(), newComparisonsSyntheticCmd())
	return c
}

func newComparisonsFromVotesCmd() *cobra.Command {
	opts := label.VotesOptions{}
	c := &cobra.Command{
		Use:   "from-votes",
		Short: "Rank the answers of each scraped question by up-votes",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := label.FromVotes(c.Context(), opts)
			return err
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.QA, "qa", nil, "qa dataset(s) from rlhf scrape")
	f.StringVar(&opts.Out, "out", "", "comparison dataset directory to write")
	f.Int64Var(&opts.MinVotes, "min-votes", 0, "fewest votes the better answer of a pair needs")
	f.Float64Var(&opts.MinVoteRatio, "min-vote-ratio", 1, "how many times the worse answer's votes the better one needs (2 = twice)")
	f.IntVar(&opts.MaxAnswers, "max-answers", 9, "most-voted answers kept per question")
	limits(f, map[string]numRange{"min-votes": atLeast(0), "min-vote-ratio": atLeast(1), "max-answers": atLeast(2)})
	return nameFlags(c, &opts)
}

func newComparisonsImportCmd() *cobra.Command {
	opts := label.ImportOptions{}
	c := &cobra.Command{
		Use:   "import",
		Short: "Import Anthropic-HH, TRL or ranked-list preference data",
		Long: `import converts public preference data into the comparison kind:
  hh      JSONL {"chosen": transcript, "rejected": transcript}; the shared prompt is split off
  trl     JSONL or Parquet {"prompt", "chosen", "rejected"}
  ranked  JSONL or Parquet {"prompt", "responses": [...], "ranks": [...]} (1 best, ties equal)`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := label.Import(c.Context(), opts)
			return err
		},
	}
	f := c.Flags()
	enumVar(f, &opts.Format, "format", "", []string{"hh", "trl", "ranked"}, "input format: hh, trl or ranked (required)")
	f.StringSliceVar(&opts.In, "in", nil, "input file(s): .jsonl, .jsonl.gz or .parquet")
	f.StringVar(&opts.Out, "out", "", "comparison dataset directory to write")
	f.StringVar(&opts.Source, "source", "", "source column (default: input file name)")
	f.StringVar(&opts.Task, "task", "", "task column, one of the InstructGPT tasks (default empty)")
	f.StringVar(&opts.Lang, "lang", "auto", "lang column: auto (detect zh/en), or a fixed code")
	bindEncodingFlag(f, &opts.Encoding, "JSONL inputs")
	return nameFlags(c, &opts)
}

func newComparisonsSyntheticCmd() *cobra.Command {
	opts := label.SyntheticOptions{}
	c := &cobra.Command{
		Use:   "synthetic",
		Short: "Rank sampled answers by a deterministic rule (a stand-in labeller for demos and tests)",
		Long: `synthetic ranks the K sampled answers of each prompt (a response dataset from
"rlhf generate --num-samples K") by a deterministic rule instead of a person:
  reference   higher character-bigram F1 with the prompt's reference response (--reference sft data)
  keyword=W   more occurrences of W
  length=N    length in characters closer to N
  gold        a higher score under a judge made of rule rewards (--gold-fn, as
              "rlhf eval --gold-fn" takes them, summed with --gold-weights),
              each scored against the prompt's reference response
Equal scores are ties and make no pair.`,
		Example: "  rlhf comparisons synthetic --responses out/samples --reference data/instruct/sft/train --prefer reference --include-reference --out data/comparisons\n" +
			"  rlhf comparisons synthetic --responses out/samples --reference data/instruct/rm/sft/train --prefer gold --gold-fn recall --gold-fn 'regex:thanks!$' --out data/comparisons",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := label.Synthetic(c.Context(), opts)
			return err
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Responses, "responses", nil, "response dataset(s) with K samples per prompt")
	f.StringSliceVar(&opts.Reference, "reference", nil, "sft dataset(s) with reference responses, matched by prompt text")
	f.StringVar(&opts.Prefer, "prefer", "reference", "rule: reference, keyword=WORD, length=N or gold")
	f.StringArrayVar(&opts.GoldFns, "gold-fn", nil, "with --prefer gold: a rule reward of the judge, repeatable (exact-match, contains, recall, regex:PATTERN, length-penalty or cmd:PROG)")
	f.Float64SliceVar(&opts.GoldWeights, "gold-weights", nil, "with --prefer gold: weights of the --gold-fn rules, in order (default 1 each)")
	f.BoolVar(&opts.IncludeReference, "include-reference", false, "add each prompt's reference response as one more candidate")
	f.StringVar(&opts.Out, "out", "", "comparison dataset directory to write")
	return nameFlags(c, &opts)
}
