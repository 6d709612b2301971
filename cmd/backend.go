package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/model"
)

func init() { register(newBackendCmd) }

func newBackendCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "backend",
		Short: "List compute backends and install XLA PJRT plugins (GPU set-up)",
		Long: `rlhf runs its models on a compute backend chosen with --backend (or $RLHF_BACKEND):
"go" (pure Go, CPU, the default) or "xla:<plugin>" (XLA through a PJRT plugin,
e.g. xla:cuda for NVIDIA GPUs). rlhf never downloads plugins on its own:
"rlhf backend install cuda" does, when asked. See docs/backend.md.`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newBackendListCmd(), newBackendInstallCmd())
	return c
}

// backendListOptions are the flags of `rlhf backend list`.
type backendListOptions struct {
	Out  io.Writer
	JSON bool
	model.ListOptions
}

func newBackendListCmd() *cobra.Command {
	opts := backendListOptions{}
	c := &cobra.Command{
		Use:   "list [--json] [--probe]",
		Short: "List the backends, the PJRT plugins found and where they were looked for",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.Out = c.OutOrStdout()
			return runBackendList(opts)
		},
	}
	f := c.Flags()
	f.BoolVar(&opts.JSON, "json", false, "print JSON instead of text")
	f.BoolVar(&opts.Probe, "probe", false, "create each usable backend and list its devices (loads the plugins; on a GPU it opens the device)")
	return nameFlags(c, &opts)
}

// runBackendList writes the backend listing to opts.Out.
func runBackendList(opts backendListOptions) error {
	infos := model.ListBackends(opts.ListOptions)
	if opts.JSON {
		enc := json.NewEncoder(opts.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	return model.WriteBackends(opts.Out, infos)
}

// backendInstallOptions are the argument and flags of `rlhf backend install`.
type backendInstallOptions struct {
	Out    io.Writer
	Target string
	// DryRun prints the plan without downloading.
	DryRun bool
	model.InstallOptions
}

func newBackendInstallCmd() *cobra.Command {
	opts := backendInstallOptions{}
	c := &cobra.Command{
		Use:   "install cuda|cpu [--version V] [--path LIBDIR]",
		Short: "Download and install an XLA PJRT plugin (cuda: plugin and NVIDIA libraries from pypi.org)",
		Long: `Download and install an XLA PJRT plugin with go-xla's installer, so that
--backend xla:cuda (or xla:cpu) works:

  cuda  the CUDA PJRT plugin from the Jax wheel jax-cuda13-pjrt (or 12 with --cuda 12)
        and the NVIDIA libraries it needs (nvidia-* wheels), from pypi.org, sha256 checked,
        into LIBDIR/go-xla/nvidia (default ~/.local/lib/go-xla/nvidia)
  cpu   the PJRT CPU plugin from github.com/gomlx/pjrt-cpu-binaries into LIBDIR/go-xla

Downloads are cached in ~/.cache/go-xla. This is the only command of rlhf that
downloads plugins.`,
		ValidArgs: model.InstallTargets,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one install target: %s", strings.Join(model.InstallTargets, " or "))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Out = c.OutOrStdout()
			opts.Target = args[0]
			return runBackendInstall(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Version, "version", "", "plugin version (default: cuda \"latest\" Jax release on pypi.org, as go-xla's auto-installer; cpu go-xla's tested pin)")
	f.StringVar(&opts.LibDir, "path", "", "library directory under which go-xla/ is created (default ~/.local/lib, searched by default)")
	f.StringVar(&opts.CUDA, "cuda", "13", "CUDA major version for the cuda plugin: 13 or 12")
	f.BoolVar(&opts.NoCache, "no-cache", false, "do not keep or reuse downloads in go-xla's cache (~/.cache/go-xla)")
	f.BoolVar(&opts.Verbose, "verbose", false, "print every installer step on its own line")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what would be downloaded and where, then stop")
	return nameFlags(c, &opts)
}

// runBackendInstall prints the install plan, runs it (unless DryRun) and
// prints what to run next.
func runBackendInstall(ctx context.Context, opts backendInstallOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	plan, err := model.PlanInstall(opts.Target, opts.InstallOptions)
	if err != nil {
		return err
	}
	if err := plan.WriteSummary(opts.Out); err != nil {
		return err
	}
	if opts.DryRun {
		_, err := fmt.Fprintln(opts.Out, "Dry run: nothing downloaded.")
		return err
	}
	if err := plan.Install(ctx, opts.InstallOptions); err != nil {
		return err
	}
	return plan.WriteNextSteps(opts.Out)
}
