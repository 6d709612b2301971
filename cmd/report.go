package cmd

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/report"
)

func init() { register(newReportCmd) }

func newReportCmd() *cobra.Command {
	var o struct{ Out string } // the options of report.Write
	c := &cobra.Command{
		Use:   "report DIR",
		Short: "Write one self-contained HTML page about a run folder (data, curves, eval, answers)",
		Long: `report reads what the steps wrote under DIR (a pipeline's work folder such as
demo-out, or any run folder): build-prompts reports (task mix, pools),
metrics.jsonl of sft, rm and ppo runs, and eval.json with its answers, and
writes one HTML file with inline SVG plots (no scripts, nothing fetched):
the data, SFT and RM curves with the RM's held-out accuracy, PPO curves
(reward mean with a ± std band, KL, entropy, value loss, clip fraction), the
eval table (RM and gold win rates) and sampled answers before and after.`,
		Example: "  rlhf report demo-out            # writes demo-out/report.html",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if o.Out == "" {
				o.Out = filepath.Join(args[0], "report.html")
			}
			if err := report.Write(args[0], o.Out); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "report: %s\n", o.Out)
			return nil
		},
	}
	c.Flags().StringVar(&o.Out, "out", "", "HTML file to write (default DIR/report.html)")
	return nameFlags(c, &o)
}
