package cmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/version"
)

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this binary",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			v, commit := version.Get()
			fmt.Fprintf(c.OutOrStdout(), "rlhf %s (commit %s, %s)\n", v, commit, runtime.Version())
		},
	}
}
