// Package cmd holds the cobra commands of the rlhf binary: flags, config and
// wiring only. Every command follows the same shape (as GitHub CLI does): an
// options struct from the owning package, a constructor newXxxCmd that only
// binds flags to it, and a call to the package's Run function, which tests use
// without cobra. The libraries name the options they refuse by field (package
// option); the constructor returns nameFlags(c, &opts), which makes the
// command's errors name the flags bound to those fields.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/progress"
)

// globalOptions are the flags every subcommand accepts.
type globalOptions struct {
	LogLevel   string
	LogFormat  string
	ConfigFile string
	NoProgress bool
}

// subcommands lists the constructors of every registered subcommand. Each
// command file adds itself here from an init function, so adding a command
// touches one file only.
var subcommands []func() *cobra.Command

func register(newCmd func() *cobra.Command) { subcommands = append(subcommands, newCmd) }

// NewRootCmd builds the whole command tree.
func NewRootCmd() *cobra.Command { return newRootCmd(subcommands...) }

// newRootCmd builds the root command over the given subcommands (tests
// pass commands whose run function only records their options).
func newRootCmd(subs ...func() *cobra.Command) *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "rlhf",
		Short: "From no data to an aligned small language model (InstructGPT recipe)",
		Long: `rlhf takes a small team from no data to an aligned small language model:

  scrape → build-prompts → sft → rm → ppo → eval

Every step reads and writes Parquet datasets (a directory of part-*.parquet
shards plus _manifest.json), so each step can be rerun, inspected and resumed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(c *cobra.Command, args []string) error {
			if err := setupLogging(opts, c.ErrOrStderr()); err != nil {
				return err
			}
			c.SetContext(progress.WithBars(c.Context(), !opts.NoProgress))
			if opts.ConfigFile != "" {
				if err := applyConfigFile(c, opts.ConfigFile); err != nil {
					return err
				}
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	enumVar(pf, &opts.LogLevel, "log-level", "info", []string{"debug", "info", "warn", "error"}, "log level: debug, info, warn or error")
	enumVar(pf, &opts.LogFormat, "log-format", "text", []string{"text", "json"}, "log format: text or json")
	pf.StringVar(&opts.ConfigFile, "config", "", "YAML file with flag values, keyed by subcommand name (flags on the command line win)")
	pf.BoolVar(&opts.NoProgress, "no-progress", false, "print periodic log lines instead of progress bars")

	for _, newCmd := range subs {
		root.AddCommand(newCmd())
	}
	return root
}

// Execute runs the CLI and returns the process exit code. SIGINT and SIGTERM
// cancel the command's context so long commands can stop cleanly.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}

func setupLogging(opts *globalOptions, w io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(opts.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", opts.LogLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch opts.LogFormat {
	case "text":
		h = slog.NewTextHandler(w, hopts)
	case "json":
		h = slog.NewJSONHandler(w, hopts)
	default:
		return fmt.Errorf("--log-format %q: want text or json", opts.LogFormat)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// applyConfigFile sets every flag of c that was not given on the command line
// from the YAML file, under the key path of the command (e.g. "sft:" or
// "label: serve:"). Unknown keys are an error naming the file and key, so
// typos do not pass silently.
func applyConfigFile(c *cobra.Command, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("--config %s: not valid YAML: %w", path, err)
	}
	section, key := sectionFor(doc, c)
	if section == nil {
		return nil
	}
	for name, v := range section {
		if _, isNested := v.(map[string]any); isNested && c.HasSubCommands() {
			continue
		}
		f := c.Flags().Lookup(name)
		if f == nil {
			return fmt.Errorf("--config %s: %s.%s is not a flag of %q", path, key, name, c.CommandPath())
		}
		if f.Changed {
			continue
		}
		if err := setFlagFromYAML(c.Flags(), f, v); err != nil {
			return fmt.Errorf("--config %s: %s.%s: %w", path, key, name, err)
		}
	}
	return nil
}

// sectionFor walks doc along the command path below the root.
func sectionFor(doc map[string]any, c *cobra.Command) (map[string]any, string) {
	var names []string
	for p := c; p.HasParent(); p = p.Parent() {
		names = append([]string{p.Name()}, names...)
	}
	cur := doc
	for _, n := range names {
		next, ok := cur[n].(map[string]any)
		if !ok {
			return nil, ""
		}
		cur = next
	}
	return cur, strings.Join(names, ".")
}

func setFlagFromYAML(fs *pflag.FlagSet, f *pflag.Flag, v any) error {
	switch vv := v.(type) {
	case []any:
		// Repeated flags (string slices and arrays) take one Set per element.
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			items := make([]string, len(vv))
			for i, x := range vv {
				items[i] = fmt.Sprint(x)
			}
			return sv.Replace(items)
		}
		for _, x := range vv {
			if err := fs.Set(f.Name, fmt.Sprint(x)); err != nil {
				return err
			}
		}
		return nil
	case nil:
		return errors.New("empty value")
	default:
		return fs.Set(f.Name, fmt.Sprint(vv))
	}
}
