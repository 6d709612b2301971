package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/train"
)

// errRan is what the run-function seams return: a value that was not
// refused reached the command.
var errRan = errors.New("the command ran")

// seamRoot is the whole command tree, with sft, rm, ppo, generate, score and
// eval replaced by their seams (which return errRan), so nothing is loaded.
func seamRoot() *cobra.Command {
	seams := map[string]func() *cobra.Command{
		"sft": func() *cobra.Command {
			return newSFTCmd(func(context.Context, train.SFTOptions) error { return errRan })
		},
		"rm": func() *cobra.Command {
			return newRMCmd(func(context.Context, train.RMOptions) error { return errRan })
		},
		"ppo": func() *cobra.Command {
			return newPPOCmd(func(context.Context, train.PPOOptions) error { return errRan })
		},
		"generate": func() *cobra.Command {
			return newGenerateCmd(func(context.Context, infer.GenerateOptions) error { return errRan })
		},
		"score": func() *cobra.Command {
			return newScoreCmd(func(context.Context, infer.ScoreOptions) error { return errRan })
		},
		"eval": func() *cobra.Command {
			return newEvalCmd(func(context.Context, infer.EvalOptions) error { return errRan })
		},
	}
	var subs []func() *cobra.Command
	for _, newCmd := range subcommands {
		if s, ok := seams[newCmd().Name()]; ok {
			subs = append(subs, s)
		} else {
			subs = append(subs, newCmd)
		}
	}
	root := newRootCmd(subs...)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root
}

// TestNumericFlagsRefuseOutOfRange: a zero or negative (or otherwise out of
// range) value the user typed is an error naming the flag and its valid
// range, never silently replaced by the default. Commands without a seam
// get no other flag they need, so a value that slipped through fails on
// something else (and the test reports it) instead of running.
func TestNumericFlagsRefuseOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		args []string // the command path, then the bad flag and its value
	}{
		{[]string{"sft", "--batch-size", "0"}},
		{[]string{"sft", "--max-seq-len", "0"}},
		{[]string{"sft", "--grad-accum", "0"}},
		{[]string{"sft", "--lr", "0"}},
		{[]string{"sft", "--lr", "NaN"}},
		{[]string{"sft", "--epochs", "0"}},
		{[]string{"sft", "--max-steps", "-1"}},
		{[]string{"sft", "--min-lr-ratio", "2"}},
		{[]string{"sft", "--warmup", "-1"}},
		{[]string{"sft", "--weight-decay", "-1"}},
		{[]string{"sft", "--clip-grad", "-1"}},
		{[]string{"sft", "--eval-every", "-1"}},
		{[]string{"sft", "--log-every", "0"}},
		{[]string{"sft", "--keep", "-1"}},
		{[]string{"sft", "--skip-nonfinite", "-1"}},
		{[]string{"sft", "--stop-after", "-1"}},
		{[]string{"sft", "--seed", "0"}},
		{[]string{"rm", "--batch-size", "-2"}},
		{[]string{"rm", "--max-seq-len", "1"}},
		{[]string{"rm", "--lr", "0"}},
		{[]string{"ppo", "--rollout-batch", "0"}},
		{[]string{"ppo", "--mini-batch", "0"}},
		{[]string{"ppo", "--max-new-tokens", "0"}},
		{[]string{"ppo", "--max-prompt-len", "0"}},
		{[]string{"ppo", "--temperature", "0"}},
		{[]string{"ppo", "--top-p", "0"}},
		{[]string{"ppo", "--top-p", "1.5"}},
		{[]string{"ppo", "--top-k", "-1"}},
		{[]string{"ppo", "--iterations", "-1"}},
		{[]string{"ppo", "--epochs", "0"}},
		{[]string{"ppo", "--ppo-epochs", "0"}},
		{[]string{"ppo", "--lr", "0"}},
		{[]string{"ppo", "--critic-lr", "-1"}},
		{[]string{"ppo", "--weight-decay", "-1"}},
		{[]string{"ppo", "--clip-grad", "-1"}},
		{[]string{"ppo", "--kl-coef", "-1"}},
		{[]string{"ppo", "--target-kl", "-1"}},
		{[]string{"ppo", "--kl-horizon", "0"}},
		{[]string{"ppo", "--gamma", "1.5"}},
		{[]string{"ppo", "--lambda", "-0.1"}},
		{[]string{"ppo", "--clip", "0"}},
		{[]string{"ppo", "--value-clip", "-1"}},
		{[]string{"ppo", "--entropy-coef", "-1"}},
		{[]string{"ppo", "--reward-clip", "-1"}},
		{[]string{"ppo", "--ptx-coef", "-1"}},
		{[]string{"ppo", "--ptx-batch", "0"}},
		{[]string{"ppo", "--ptx-max-len", "1"}},
		{[]string{"ppo", "--max-kl", "-1"}},
		{[]string{"ppo", "--critic-warmup-steps", "-1"}},
		{[]string{"ppo", "--skip-nonfinite", "-1"}},
		{[]string{"ppo", "--save-every", "0"}},
		{[]string{"ppo", "--keep", "-1"}},
		{[]string{"ppo", "--log-samples", "-1"}},
		{[]string{"ppo", "--stop-after", "-1"}},
		{[]string{"ppo", "--seed", "0"}},
		{[]string{"generate", "--max-new-tokens", "0"}},
		{[]string{"generate", "--max-new-tokens", "-5"}},
		{[]string{"generate", "--num-samples", "0"}},
		{[]string{"generate", "--temperature", "-1"}},
		{[]string{"generate", "--top-p", "2"}},
		{[]string{"generate", "--top-k", "-1"}},
		{[]string{"generate", "--batch-size", "0"}},
		{[]string{"generate", "--max-prompt-len", "0"}},
		{[]string{"generate", "--max-prompts", "-1"}},
		{[]string{"score", "--batch-size", "-4"}},
		{[]string{"score", "--batch-size", "0"}},
		{[]string{"eval", "--max-prompts", "-1"}},
		{[]string{"eval", "--max-new-tokens", "0"}},
		{[]string{"eval", "--max-prompt-len", "-1"}},
		{[]string{"eval", "--temperature", "-1"}},
		{[]string{"eval", "--top-p", "2"}},
		{[]string{"eval", "--top-k", "-1"}},
		{[]string{"eval", "--batch-size", "0"}},
		{[]string{"eval", "--seed", "0"}},
		{[]string{"eval", "--judge-concurrency", "0"}},
		{[]string{"eval", "--judge-rps", "-1"}},
		{[]string{"eval", "--judge-max-retries", "-1"}},
		{[]string{"eval", "--judge-timeout", "0s"}},
		{[]string{"build-prompts", "--total", "0"}},
		{[]string{"build-prompts", "--total", "-1"}},
		{[]string{"build-prompts", "--seed", "0"}},
		{[]string{"build-prompts", "--val-frac", "1"}},
		{[]string{"build-prompts", "--max-repeat", "0.5"}},
		{[]string{"build-prompts", "--max-per-source", "-1"}},
		{[]string{"build-prompts", "--min-prompt-chars", "0"}},
		{[]string{"build-prompts", "--max-prompt-chars", "0"}},
		{[]string{"build-prompts", "--min-response-chars", "0"}},
		{[]string{"build-prompts", "--max-response-chars", "0"}},
		{[]string{"build-prompts", "--near-dup", "0"}},
		{[]string{"build-prompts", "--near-dup", "1.5"}},
		{[]string{"build-prompts", "--rows-per-shard", "0"}},
		{[]string{"scrape", "--parallelism", "0"}},
		{[]string{"scrape", "--parallelism", "-3"}},
		{[]string{"scrape", "--timeout", "0s"}},
		{[]string{"scrape", "--retries", "-1"}},
		{[]string{"scrape", "--delay", "-1s"}},
		{[]string{"scrape", "--max-pages", "-1"}},
		{[]string{"scrape", "--max-depth", "-1"}},
		{[]string{"scrape", "--max-body-size", "0"}},
		{[]string{"scrape", "--retry-base", "0s"}},
		{[]string{"scrape", "--retry-max", "-1s"}},
		{[]string{"scrape", "--min-votes", "-1"}},
		{[]string{"scrape", "--max-answers-per-question", "-1"}},
		{[]string{"scrape", "--min-answer-chars", "-1"}},
		{[]string{"scrape", "--max-answer-chars", "-1"}},
		{[]string{"scrape", "--flush-rows", "0"}},
		{[]string{"scrape", "--flush-interval", "0s"}},
		{[]string{"scrape", "--rows-per-shard", "-1"}},
		{[]string{"bench", "train", "--shape", "no-such-shape", "--steps", "0"}},
		{[]string{"bench", "train", "--shape", "no-such-shape", "--peak-tflops", "-1"}},
		{[]string{"comparisons", "from-votes", "--min-votes", "-1"}},
		{[]string{"comparisons", "from-votes", "--min-vote-ratio", "0"}},
		{[]string{"comparisons", "from-votes", "--max-answers", "1"}},
		{[]string{"inspect", "no-such-dataset", "--head", "-1"}},
		{[]string{"judge", "--concurrency", "0"}},
		{[]string{"judge", "--rps", "-1"}},
		{[]string{"judge", "--max-retries", "-1"}},
		{[]string{"judge", "--backoff", "0s"}},
		{[]string{"judge", "--timeout", "-1s"}},
		{[]string{"judge", "--temperature", "-1"}},
		{[]string{"judge", "--max-tokens", "0"}},
		{[]string{"label", "serve", "--db", "", "--max-body-bytes", "0"}},
		{[]string{"label", "serve", "--db", "", "--lease", "0s"}},
		{[]string{"label", "serve", "--db", "", "--threshold", "0"}},
		{[]string{"label", "serve", "--db", "", "--threshold", "1.5"}},
		{[]string{"label", "overlap", "--db", "", "--rate", "2"}},
		{[]string{"label", "stats", "--db", "", "--threshold", "0"}},
		{[]string{"label", "export", "--db", "", "--min-agreement", "2"}},
		{[]string{"model", "init", "--layers", "0"}},
		{[]string{"model", "init", "--hidden", "0"}},
		{[]string{"model", "init", "--heads", "0"}},
		{[]string{"model", "init", "--kv-heads", "-1"}},
		{[]string{"model", "init", "--intermediate", "-1"}},
		{[]string{"model", "init", "--max-positions", "0"}},
		{[]string{"tokenizer", "train", "--vocab-size", "0"}},
		{[]string{"tokenizer", "train", "--min-frequency", "0"}},
	} {
		flag, value := tc.args[len(tc.args)-2], tc.args[len(tc.args)-1]
		root := seamRoot()
		root.SetArgs(append([]string{"--no-progress"}, tc.args...))
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), flag) || !strings.Contains(err.Error(), `"`+value+`"`) || !strings.Contains(err.Error(), "want") {
			t.Errorf("%s: got %v, want an error naming %s %s and its valid range", strings.Join(tc.args, " "), err, flag, value)
		}
	}
}

// TestNumericFlagsInRangeAndLeftOutPass: the edges of each range are
// accepted, and a flag left out keeps its default (only values the user
// gave are checked).
func TestNumericFlagsInRangeAndLeftOutPass(t *testing.T) {
	for _, args := range [][]string{
		{"sft"},
		{"sft", "--max-steps", "0", "--min-lr-ratio", "0", "--min-lr-ratio", "1", "--warmup", "0", "--clip-grad", "0", "--keep", "0", "--max-seq-len", "2", "--seed", "7"},
		{"ppo", "--top-p", "1", "--gamma", "0", "--lambda", "1", "--value-clip", "0", "--iterations", "0", "--ptx-max-len", "2"},
		{"generate", "--temperature", "0", "--top-p", "0", "--seed", "0", "--max-prompts", "0"},
		{"eval", "--temperature", "0", "--top-p", "1", "--max-prompts", "0"},
		{"eval", "--judge-url", "http://127.0.0.1:1/v1", "--judge-model", "m", "--judge-concurrency", "1", "--judge-rps", "0", "--judge-max-retries", "0"},
		{"score", "--batch-size", "1"},
	} {
		root := seamRoot()
		root.SetArgs(args)
		if err := root.Execute(); !errors.Is(err, errRan) {
			t.Errorf("%v: got %v, want the command to run", args, err)
		}
	}
}

// TestConfigValuesAreRangeChecked: a value from --config goes through the
// same check as one typed on the command line.
func TestConfigValuesAreRangeChecked(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("sft:\n  batch-size: 0\nscrape:\n  delay: -1s\n"), 0o644)
	for _, tc := range []struct{ cmd, key string }{{"sft", "sft.batch-size"}, {"scrape", "scrape.delay"}} {
		root := seamRoot()
		root.SetArgs([]string{"--config", cfg, tc.cmd})
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), cfg) || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "want") {
			t.Errorf("%s: got %v, want an error naming %s, %s and the valid range", tc.cmd, err, cfg, tc.key)
		}
	}
}

// TestEveryNumericFlagHasARange: every numeric flag of every command
// declares its valid range (or that any value is valid), so a new flag
// cannot silently map an explicit 0 to its default.
func TestEveryNumericFlagHasARange(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			switch f.Value.Type() {
			case "int", "int64", "int32", "uint", "uint64", "uint32", "float64", "float32", "duration":
				if _, ok := f.Value.(*rangeValue); !ok {
					t.Errorf("%s --%s (%s) declares no range", c.CommandPath(), f.Name, f.Value.Type())
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd())
}
