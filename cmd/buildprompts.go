package cmd

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/dataset/prompts"
)

func init() { register(newBuildPromptsCmd) }

func newBuildPromptsCmd() *cobra.Command {
	opts := prompts.Options{}
	c := &cobra.Command{
		Use:   "build-prompts",
		Short: "Build instruction prompts and demonstrations in the InstructGPT task mix from open NLP datasets and scraped QA",
		Long: `build-prompts turns open NLP datasets (SQuAD/CMRC2018, DuReader, summarization,
classification, CLUENER and BIO NER, sentence pairs, dialogues, instruction sets)
and the qa datasets of "rlhf scrape" into instruction prompts (OUT/prompts, for
PPO) and demonstrations (OUT/sft, for SFT), each split into train and val, in a
chosen task mix, with OUT/report.md and OUT/report.json.

--pools splits the prompts into disjoint pools, as InstructGPT used separate
prompt sets for SFT, the reward model and PPO: --pools sft=0.2,rm=0.4,ppo=0.4
writes OUT/sft, OUT/rm, OUT/ppo and a held-out OUT/eval (10% unless listed),
each with prompts/{train,val} and sft/{train,val}, in place of OUT/prompts and
OUT/sft. No prompt and no near-duplicate is in two pools, and every pool keeps
the task mix. Give sft its pool's sft/ (sft --data), generate and comparisons
the rm pool (rm --data comes from them), ppo the ppo pool's prompts/ and eval
the eval pool's prompts/.

A source is [task=]adapter:path[?field=column,...]; adapters: ` + fmt.Sprint(prompts.AdapterNames()) + `.
See docs/build-prompts.md for the adapters' columns, the template format and the
mix file format.`,
		Example: `  rlhf build-prompts --source closed_qa=squad:data/cmrc2018_train.json \
      --source summarization:data/lcsts.jsonl --source qa:data/qa \
      --mix instructgpt --total 100000 --out data/instruct --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			rep, err := prompts.Run(c.Context(), opts)
			if err != nil {
				return err
			}
			printPromptsSummary(c.OutOrStdout(), opts.Out, rep)
			return nil
		},
	}
	f := c.Flags()
	f.StringArrayVar(&opts.Sources, "source", nil, "input: [task=]adapter:path[?field=column,...] (repeatable; at least one)")
	f.StringVar(&opts.Mix, "mix", "instructgpt", "task mix: instructgpt, uniform, natural or a YAML file of task weights")
	f.Int64Var(&opts.Total, "total", 100_000, "rows to produce (train + val)")
	f.StringVar(&opts.Out, "out", "", "output directory (prompts/, sft/, report.md, report.json); required")
	f.StringVar(&opts.Pools, "pools", "", "split into disjoint prompt pools NAME=SHARE,... (e.g. sft=0.2,rm=0.4,ppo=0.4) plus a held-out eval pool (10% unless listed): OUT/POOL/{prompts,sft}")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of every random choice; same inputs and seed give identical output")
	f.Float64Var(&opts.ValFrac, "val-frac", 0.02, "share of each task's rows put in the val split")
	f.Float64Var(&opts.MaxRepeat, "max-repeat", 1, "a task short of data reuses each candidate (with another template) up to this many times; the rest is renormalised over the other tasks")
	f.Int64Var(&opts.MaxPerSource, "max-per-source", 0, "cap on the rows one source gives one task (0: none; a source's max= wins)")
	f.StringVar(&opts.Templates, "templates", "", "directory of template YAML files added to the built-in bank (same id replaces)")
	f.BoolVar(&opts.TemplatesOnly, "templates-only", false, "use only the --templates directory, not the built-in bank")
	f.StringSliceVar(&opts.Langs, "langs", []string{"zh", "en"}, "languages to keep")
	f.BoolVar(&opts.NoDerive, "no-derive", false, "do not derive generation/brainstorming/other rows from other sources with generative templates")
	f.IntVar(&opts.MinPromptChars, "min-prompt-chars", 4, "shortest prompt kept, in characters")
	f.IntVar(&opts.MaxPromptChars, "max-prompt-chars", 2048, "longest prompt kept, in characters")
	f.IntVar(&opts.MinResponseChars, "min-response-chars", 1, "shortest response kept, in characters")
	f.IntVar(&opts.MaxResponseChars, "max-response-chars", 4096, "longest response kept, in characters")
	f.Float64Var(&opts.NearDup, "near-dup", 0.7, "MinHash Jaccard threshold for near-duplicates within a task (negative: off)")
	f.Int64Var(&opts.RowsPerShard, "rows-per-shard", 100_000, "rows per Parquet shard")
	bindEncodingFlag(f, &opts.Encoding, "the text sources (a source's encoding= wins)")
	limits(f, map[string]numRange{
		"total": atLeast(1), "seed": nonZero(), "val-frac": valFrac(), "max-repeat": atLeast(1), "max-per-source": atLeast(0),
		"min-prompt-chars": atLeast(1), "max-prompt-chars": atLeast(1), "min-response-chars": atLeast(1),
		"max-response-chars": atLeast(1), "near-dup": nearDup(), "rows-per-shard": atLeast(1),
	})
	// --out and --source are required, but checked by prompts.Run so that
	// they may come from --config (cobra checks required flags earlier).
	return nameFlags(c, &opts)
}

// printPromptsSummary prints the rows written and, for a pooled build, each
// pool's rows per task.
func printPromptsSummary(w io.Writer, out string, rep *prompts.Report) {
	fmt.Fprintf(w, "build-prompts: %d rows (%d train, %d val) of %d requested in %s (report: %s)\n",
		rep.Rows, rep.TrainRows, rep.ValRows, rep.Requested, out, filepath.Join(out, "report.md"))
	if len(rep.Pools) == 0 {
		return
	}
	var tasks []string
	for _, t := range rep.Tasks {
		if t.Rows > 0 {
			tasks = append(tasks, t.Task)
		}
	}
	fmt.Fprintf(w, "%-10s %7s %6s %6s", "pool", "share%", "train", "val")
	for _, t := range tasks {
		fmt.Fprintf(w, " %*s", max(len(t), 5), t)
	}
	fmt.Fprintln(w)
	for _, p := range rep.Pools {
		fmt.Fprintf(w, "%-10s %7.1f %6d %6d", p.Name, p.SharePct, p.TrainRows, p.ValRows)
		for _, t := range tasks {
			fmt.Fprintf(w, " %*d", max(len(t), 5), p.Tasks[t])
		}
		fmt.Fprintln(w)
	}
}
