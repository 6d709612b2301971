package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/pipeline"
	"github.com/rlhf-project/rlhf/report"
)

func init() { register(func() *cobra.Command { return newPipelineCmd(nil) }) }

// newPipelineCmd binds the command's flags; step, when not nil, replaces
// inProcessStep (tests run fake steps with it).
func newPipelineCmd(step func(*cobra.Command) pipeline.StepFunc) *cobra.Command {
	if step == nil {
		step = inProcessStep
	}
	opts := pipeline.Options{}
	var noReport bool
	c := &cobra.Command{
		Use:   "pipeline --config pipeline.yaml",
		Short: "Run a chain of rlhf steps from a YAML file, skipping complete ones",
		Long: `Run the steps of a pipeline file in order. Each step is an rlhf command line;
a step whose arguments are unchanged and whose outputs exist is skipped, so an
interrupted pipeline continues where it stopped. The state is kept in
WORKDIR/_pipeline_state.json. See docs/pipeline.md for the file format.

Once every step has completed, the pipeline writes WORKDIR/report.html (as
rlhf report WORKDIR does: data, curves, eval and answers of whatever the
steps wrote) and prints its path; --no-report skips it.

Here --config names the pipeline file (not a file of flag values).`,
		Example: "  rlhf pipeline --config pipeline.yaml\n  rlhf pipeline --config pipeline.yaml --from rm --var seed=2",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.ConfigFile == "" {
				return fmt.Errorf("--config is required: the pipeline YAML file")
			}
			if err := pipeline.Run(c.Context(), opts, step(c)); err != nil {
				return err
			}
			if noReport || opts.DryRun {
				return nil
			}
			cfg, err := pipeline.Load(opts.ConfigFile, opts.Vars)
			if err != nil {
				return err
			}
			out := filepath.Join(cfg.Workdir, "report.html")
			switch err := report.Write(cfg.Workdir, out); {
			case errors.Is(err, report.ErrNothing):
				slog.Info("pipeline: no report", "why", err)
				return nil
			case err != nil:
				return fmt.Errorf("the steps completed, but the report failed (--no-report skips it): %w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "report: %s\n", out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&opts.ConfigFile, "config", "f", "", "pipeline YAML file")
	f.Var(varsValue{&opts.Vars}, "var", "set a ${name} substitution (name=value); repeatable")
	f.BoolVar(&opts.Force, "force", false, "rerun steps even when complete")
	f.StringVar(&opts.From, "from", "", "start at this step")
	f.StringSliceVar(&opts.Only, "only", nil, "run only these steps (comma-separated)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what would run")
	f.BoolVar(&noReport, "no-report", false, "do not write WORKDIR/report.html after the steps")
	return nameFlags(c, &opts)
}

// inProcessStep runs a step's command line in this process with a fresh
// command tree, passing on the global flags of the running command.
func inProcessStep(parent *cobra.Command) pipeline.StepFunc {
	var global []string
	for _, name := range []string{"log-level", "log-format", "no-progress"} {
		if f := parent.Flags().Lookup(name); f != nil && f.Changed {
			global = append(global, "--"+name+"="+f.Value.String())
		}
	}
	return func(ctx context.Context, args []string) error {
		root := NewRootCmd()
		root.SetArgs(append(append([]string{}, global...), args...))
		root.SetOut(parent.OutOrStdout())
		root.SetErr(parent.ErrOrStderr())
		return root.ExecuteContext(ctx)
	}
}

// varsValue is the repeatable --var name=value flag, filling a map.
type varsValue struct{ m *map[string]string }

func (v varsValue) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want name=value") // pflag names the flag and the value
	}
	if *v.m == nil {
		*v.m = map[string]string{}
	}
	(*v.m)[k] = val
	return nil
}

func (v varsValue) String() string {
	var kv []string
	for k, val := range *v.m {
		kv = append(kv, k+"="+val)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

func (v varsValue) Type() string { return "name=value" }
