package label

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rlhf-project/rlhf/option"
)

// AddLabelerOptions tune AddLabeler (`rlhf label add-labeler NAME`).
type AddLabelerOptions struct {
	DB   string
	Name string
	// Admin gives the admin role: an admin's rankings are gold and an
	// admin may change the overlap rate and see the dashboard.
	Admin bool
	// Rotate issues a new token to an existing labeler (the old one stops
	// working). The role is kept unless Admin is set, which makes them an
	// admin.
	Rotate bool
}

// AddLabeler creates a labeler and prints their token once to w.
func AddLabeler(opts AddLabelerOptions, w io.Writer) error {
	if opts.DB == "" {
		return errors.New("label add-labeler: no database path given")
	}
	s, err := OpenStore(opts.DB)
	if err != nil {
		return err
	}
	defer s.Close()
	role := "" // a new labeler, or the role kept on --rotate
	if opts.Admin {
		role = RoleAdmin
	}
	token, err := s.AddLabeler(opts.Name, role, opts.Rotate)
	if err != nil {
		return err
	}
	who, err := s.Authenticate(token)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "labeler %s (%s) token, shown only this once:\n%s\n", who.Name, who.Role, token)
	return nil
}

// StatsRunOptions tune `rlhf label stats`.
type StatsRunOptions struct {
	DB string
	// Threshold is the agreement (0-1) below which a labeler is flagged.
	// Default 0.7.
	Threshold float64
	// JSON prints the figures as JSON instead of tables.
	JSON bool
}

// PrintStats computes the agreement figures of a database and prints them.
func PrintStats(ctx context.Context, opts StatsRunOptions, w io.Writer) (*Stats, error) {
	if opts.DB == "" {
		return nil, errors.New("label stats: no database path given")
	}
	s, err := OpenStore(opts.DB)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	st, err := s.Stats(StatsOptions{Threshold: opts.Threshold})
	if err != nil {
		return nil, err
	}
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return st, enc.Encode(st)
	}
	f := func(x *float64) string {
		if x == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", *x)
	}
	fmt.Fprintf(w, "items %d, ranked %d, gold %d, overlap %g; Krippendorff's alpha %s over %d answer pairs\n\n",
		st.Items, st.Ranked, st.GoldItems, st.Overlap, f(st.Alpha), st.AlphaUnits)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LABELER\tTASKS\tSKIPS\tS/TASK\tGOLD AGR (PAIRS)\tPEER AGR (PAIRS)\tPEER KAPPA\tWARNING")
	for _, l := range st.Labelers {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s (%d)\t%s (%d)\t%s\t%s\n", l.Name, l.Tasks, l.Skips, l.MeanSeconds,
			f(l.GoldAgreement), l.GoldPairs, f(l.PeerAgreement), l.PeerPairs, f(l.PeerKappa), strings.Join(l.Warnings, "; "))
	}
	tw.Flush()
	if len(st.Pairs) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "A\tB\tSHARED ITEMS\tPAIRS\tAGREEMENT\tCOHEN KAPPA")
		for _, p := range st.Pairs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", p.A, p.B, p.Items, p.Pairs, f(p.Agreement), f(p.Kappa))
		}
		tw.Flush()
	}
	return st, nil
}

// GoldOptions tune `rlhf label gold`.
type GoldOptions struct {
	DB string
	// From is the gold file (JSONL, see GoldRow).
	From string
	// Responses are response datasets to load as items first (optional).
	Responses []string
	// By is recorded as who set the gold rankings. Default "gold-file".
	By string
}

// ImportGoldFile loads responses if given and appends the gold rankings.
func ImportGoldFile(ctx context.Context, opts GoldOptions, w io.Writer) error {
	if opts.DB == "" || opts.From == "" {
		return option.Errorf("label gold: {DB} and {From} are required")
	}
	if opts.By == "" {
		opts.By = "gold-file"
	}
	s, err := OpenStore(opts.DB)
	if err != nil {
		return err
	}
	defer s.Close()
	if len(opts.Responses) > 0 {
		if _, err := s.LoadResponses(ctx, opts.Responses...); err != nil {
			return option.Errorf("{Responses}: %w", err)
		}
	}
	n, err := s.ImportGold(opts.From, opts.By)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "recorded %d gold rankings from %s\n", n, opts.From)
	return nil
}

// OverlapOptions tune `rlhf label overlap`.
type OverlapOptions struct {
	DB string
	// Rate is the share (0-1) of items given to two labelers.
	Rate float64
}

// SetOverlap records a new overlap rate.
func SetOverlap(opts OverlapOptions, w io.Writer) error {
	if opts.DB == "" {
		return errors.New("label overlap: no database path given")
	}
	s, err := OpenStore(opts.DB)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.SetOverlapRate(opts.Rate, "cli"); err != nil {
		return err
	}
	fmt.Fprintf(w, "overlap rate set to %g\n", opts.Rate)
	return nil
}
