package cmd

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/label"
)

func init() { register(newLabelCmd) }

func newLabelCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "label",
		Short: "Collect human rankings in a local web app, monitor agreement, export comparisons",
		Long: `label runs the human side of preference collection: a local web app where
labelers rank the K answers of each prompt (serve), token management
(add-labeler), gold rankings and overlap for agreement monitoring (gold,
overlap, stats) and the export of rankings as a comparison dataset (export).`,
	}
	c.AddCommand(newLabelServeCmd(), newLabelAddLabelerCmd(), newLabelGoldCmd(), newLabelOverlapCmd(), newLabelStatsCmd(), newLabelExportCmd())
	return c
}

func newLabelServeCmd() *cobra.Command {
	opts := label.ServeOptions{}
	c := &cobra.Command{
		Use:     "serve",
		Short:   "Serve the ranking web app over a response dataset",
		Args:    cobra.NoArgs,
		PreRunE: requireDB,
		RunE:    func(c *cobra.Command, _ []string) error { return label.Serve(c.Context(), opts) },
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Responses, "responses", nil, "response dataset(s) to add as items (K answers per prompt_id)")
	f.StringVar(&opts.DB, "db", "labels.db", "SQLite labelling database (created if missing)")
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "listen address (loopback by default; give 0.0.0.0:PORT deliberately to serve a team)")
	f.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", 256<<10, "largest request body accepted, in bytes")
	f.DurationVar(&opts.LeaseTTL, "lease", 15*time.Minute, "how long an item handed to a labeler is kept from others")
	f.Float64Var(&opts.Threshold, "threshold", 0.7, "agreement (0-1) below which the dashboard warns")
	limits(f, map[string]numRange{"max-body-bytes": atLeast(1), "lease": above(0), "threshold": aboveUpTo(0, 1)})
	return nameFlags(c, &opts)
}

func newLabelAddLabelerCmd() *cobra.Command {
	opts := label.AddLabelerOptions{}
	c := &cobra.Command{
		Use:     "add-labeler NAME",
		Short:   "Create a labeler and print their token once",
		Args:    cobra.ExactArgs(1),
		PreRunE: requireDB,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			return label.AddLabeler(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.DB, "db", "labels.db", "SQLite labelling database")
	f.BoolVar(&opts.Admin, "admin", false, "admin role: rankings are gold, may set overlap and see the dashboard")
	f.BoolVar(&opts.Rotate, "rotate", false, "issue a new token to an existing labeler (the role is kept; with --admin they become an admin)")
	return nameFlags(c, &opts)
}

func newLabelGoldCmd() *cobra.Command {
	opts := label.GoldOptions{}
	c := &cobra.Command{
		Use:   "gold",
		Short: "Record gold rankings from a JSONL file",
		Long: `gold records the researchers' reference rankings. Each line of --from is
{"prompt_id": "...", "order": ["response id", ...]} (best first) or
{"prompt_id": "...", "ranks": {"response id": 1, ...}} (equal ranks are ties).`,
		Args:    cobra.NoArgs,
		PreRunE: requireDB,
		RunE: func(c *cobra.Command, _ []string) error {
			return label.ImportGoldFile(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.DB, "db", "labels.db", "SQLite labelling database")
	f.StringVar(&opts.From, "from", "", "gold file (JSONL)")
	f.StringSliceVar(&opts.Responses, "responses", nil, "response dataset(s) to add as items first")
	f.StringVar(&opts.By, "by", "gold-file", "who the gold rankings are recorded as set by")
	return nameFlags(c, &opts)
}

func newLabelOverlapCmd() *cobra.Command {
	opts := label.OverlapOptions{}
	c := &cobra.Command{
		Use:     "overlap",
		Short:   "Set the share of items ranked by two labelers",
		Args:    cobra.NoArgs,
		PreRunE: requireDB,
		RunE:    func(c *cobra.Command, _ []string) error { return label.SetOverlap(opts, c.OutOrStdout()) },
	}
	f := c.Flags()
	f.StringVar(&opts.DB, "db", "labels.db", "SQLite labelling database")
	f.Float64Var(&opts.Rate, "rate", 0.1, "share of items (0-1) given to two labelers")
	limits(f, map[string]numRange{"rate": between(0, 1)})
	return nameFlags(c, &opts)
}

func newLabelStatsCmd() *cobra.Command {
	opts := label.StatsRunOptions{}
	c := &cobra.Command{
		Use:     "stats",
		Short:   "Print per-labeler progress and agreement with gold and with each other",
		Args:    cobra.NoArgs,
		PreRunE: requireDB,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := label.PrintStats(c.Context(), opts, c.OutOrStdout())
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&opts.DB, "db", "labels.db", "SQLite labelling database")
	f.Float64Var(&opts.Threshold, "threshold", 0.7, "agreement (0-1) below which a labeler is flagged")
	limits(f, map[string]numRange{"threshold": aboveUpTo(0, 1)})
	f.BoolVar(&opts.JSON, "json", false, "print JSON instead of tables")
	return nameFlags(c, &opts)
}

func newLabelExportCmd() *cobra.Command {
	opts := label.ExportOptions{}
	c := &cobra.Command{
		Use:     "export",
		Short:   "Write the rankings as a comparison dataset (C(K,2) pairs per ranked group)",
		Args:    cobra.NoArgs,
		PreRunE: requireDB,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := label.Export(c.Context(), opts)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&opts.DB, "db", "labels.db", "SQLite labelling database")
	f.StringVar(&opts.Out, "out", "", "comparison dataset directory to write")
	f.Float64Var(&opts.MinAgreement, "min-agreement", 0, "leave out labelers whose agreement (gold, else peers) is below this share")
	limits(f, map[string]numRange{"min-agreement": between(0, 1)})
	f.BoolVar(&opts.IncludeGold, "include-gold", false, "also export the gold rankings (source \"gold\")")
	return nameFlags(c, &opts)
}

// requireDB refuses an empty --db before a label command runs.
func requireDB(c *cobra.Command, _ []string) error {
	if f := c.Flags().Lookup("db"); f != nil && f.Value.String() == "" {
		return errors.New("--db: want the path of the SQLite labelling database")
	}
	return nil
}
