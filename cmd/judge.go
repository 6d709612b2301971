package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/label/judge"
)

func init() { register(newJudgeCmd) }

func newJudgeCmd() *cobra.Command {
	opts := judge.Options{}
	var printRubric string
	c := &cobra.Command{
		Use:   "judge",
		Short: "Rank answers with an AI labeller over an OpenAI-compatible chat API",
		Long: `judge asks a chat model (any OpenAI-compatible /chat/completions endpoint) to
rank the K answers of each prompt, twice with the order reversed, and keeps
the answer pairs both verdicts agree on as a comparison dataset. Replies are
cached on disk, so a rerun costs nothing.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if printRubric != "" {
				text, err := judge.BuiltinRubric(printRubric)
				if err == nil {
					fmt.Fprint(c.OutOrStdout(), text)
				}
				return err
			}
			if opts.MaxRetries == 0 {
				opts.MaxRetries = -1 // the library's 0 means its default
			}
			_, err := judge.Run(c.Context(), opts)
			return err
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Responses, "responses", nil, "response dataset(s) to rank")
	f.StringVar(&opts.BaseURL, "base-url", "", "API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1")
	f.StringVar(&opts.Model, "model", "", "model name (also the source column)")
	f.StringVar(&opts.Out, "out", "", "comparison dataset directory to write")
	f.StringVar(&opts.APIKeyEnv, "api-key-env", "OPENAI_API_KEY", "environment variable holding the API key")
	f.StringVar(&opts.Rubric, "rubric", "", "text/template file for the request (default: built-in en/zh rubric)")
	f.StringVar(&printRubric, "print-rubric", "", "print the built-in rubric of a language (en or zh) to edit for --rubric, and exit")
	enumVar(f, &opts.Lang, "lang", "auto", []string{"auto", "en", "zh"}, "built-in rubric language: auto, en or zh")
	f.IntVar(&opts.Concurrency, "concurrency", 4, "requests in flight")
	f.Float64Var(&opts.RequestsPerSecond, "rps", 0, "request rate limit per second (0: none)")
	f.IntVar(&opts.MaxRetries, "max-retries", 5, "retries of a request failing with a network error, 429 or 5xx (0: none)")
	f.DurationVar(&opts.Backoff, "backoff", time.Second, "wait before the first retry, doubling each time")
	f.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "limit per request")
	f.Float64Var(&opts.Temperature, "temperature", 0, "sampling temperature")
	f.IntVar(&opts.MaxTokens, "max-tokens", 512, "max tokens of a reply")
	f.StringVar(&opts.CacheDir, "cache", "", "reply cache directory (default OUT.judge-cache)")
	f.BoolVar(&opts.NoCache, "no-cache", false, "neither read nor write the reply cache")
	f.StringVar(&opts.LabelsDB, "labels-db", "", "labels.db whose gold rankings the verdicts are compared with")
	limits(f, map[string]numRange{
		"concurrency": atLeast(1), "rps": atLeast(0), "max-retries": atLeast(0), "backoff": above(0),
		"timeout": above(0), "temperature": atLeast(0), "max-tokens": atLeast(1),
	})
	return nameFlags(c, &opts)
}
