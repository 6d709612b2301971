package cmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/pipeline"
)

func init() { register(newPipelineCmd) }

func newPipelineCmd() *cobra.Command {
	opts := pipeline.Options{}
	c := &cobra.Command{
		Use:   "pipeline --config pipeline.yaml",
		Short: "Run a chain of rlhf steps from a YAML file, skipping complete ones",
		Long: `Run the steps of a pipeline file in order. Each step is an rlhf command line;
a step whose arguments are unchanged and whose outputs exist is skipped, so an
interrupted pipeline continues where it stopped. The state is kept in
WORKDIR/_pipeline_state.json. See docs/pipeline.md for the file format.

Here --config names the pipeline file (not a file of flag values).`,
		Example: "  rlhf pipeline --config pipeline.yaml\n  rlhf pipeline --config pipeline.yaml --from rm --var seed=2",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.ConfigFile == "" {
				return fmt.Errorf("--config is required: the pipeline YAML file")
			}
			return pipeline.Run(c.Context(), opts, inProcessStep(c))
		},
	}
	f := c.Flags()
	f.StringVarP(&opts.ConfigFile, "config", "f", "", "pipeline YAML file")
	f.Var(varsValue{&opts.Vars}, "var", "set a ${name} substitution (name=value); repeatable")
	f.BoolVar(&opts.Force, "force", false, "rerun steps even when complete")
	f.StringVar(&opts.From, "from", "", "start at this step")
	f.StringSliceVar(&opts.Only, "only", nil, "run only these steps (comma-separated)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what would run")
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
