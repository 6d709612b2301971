package cmd

import (
	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/demo"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	opts := demo.Options{}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole recipe end to end on embedded sample data (CPU, a few minutes)",
		Long: `demo serves the embedded Baike/Zhihu-style sample site on loopback, scrapes
it, builds prompts from embedded sample NLP datasets, initialises a tiny model,
and runs sft, generate, synthetic comparisons, rm, ppo (with ptx) and eval.
Everything goes under --out, with the pipeline file it ran
(OUT/pipeline.yaml). Rerunning skips the steps that are complete.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return demo.Run(c.Context(), c.OutOrStdout(), opts, inProcessStep(c))
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Out, "out", "demo-out", "output folder")
	f.StringVar(&opts.SiteAddr, "site-addr", "127.0.0.1:18089", "loopback address to serve the demo site on")
	f.BoolVar(&opts.Force, "force", false, "rerun every step")
	f.StringVar(&opts.Backend, "backend", "go", "compute backend of the model steps: go, xla:cuda or xla:/abs/path/plugin.so")
	return nameFlags(c, &opts)
}
