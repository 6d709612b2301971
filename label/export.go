package label

import (
	"context"
	"log/slog"
	"sort"
	"strconv"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// ExportOptions tune Export (`rlhf label export`).
type ExportOptions struct {
	// DB is the labelling database (labels.db).
	DB string
	// Out is the comparison dataset directory to write.
	Out string
	// MinAgreement (0-1) leaves out labelers whose agreement is below it:
	// agreement with gold when they ranked gold items, else agreement with
	// other labelers; labelers with neither are kept. Default 0 (keep all).
	MinAgreement float64
	// IncludeGold also exports the gold rankings, with source "gold".
	// Default false.
	IncludeGold bool
	// RowsPerShard is passed to the dataset writer; 0 means its default.
	RowsPerShard int64
}

// ExportReport says what Export wrote.
type ExportReport struct {
	Groups   int      `json:"groups"`
	Rows     int64    `json:"rows"`
	Excluded []string `json:"excluded_labelers,omitempty"`
}

// ExportGroupID is the group_id of labeler's ranking of a prompt.
func ExportGroupID(promptID, labeler string) string {
	return dataset.ContentID("label", promptID, labeler)
}

// Export writes every current ranking in the database as a comparison
// dataset: one group per (item, labeler), its C(K,2) pairs with ranks, ties
// dropped, source = labeler name.
func Export(ctx context.Context, opts ExportOptions) (*ExportReport, error) {
	if opts.DB == "" || opts.Out == "" {
		return nil, option.Errorf("label export: {DB} and {Out} are required")
	}
	if err := dataset.CheckOutput[dataset.Comparison](opts.Out, opts.DB); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	if opts.MinAgreement < 0 || opts.MinAgreement > 1 {
		return nil, option.Errorf("{MinAgreement} %g: want a share between 0 and 1", opts.MinAgreement)
	}
	s, err := OpenStore(opts.DB)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	st, err := s.State()
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{}
	excluded := map[string]bool{}
	if opts.MinAgreement > 0 {
		stats, err := s.Stats(StatsOptions{Threshold: opts.MinAgreement})
		if err != nil {
			return nil, err
		}
		for _, l := range stats.Labelers {
			agr := l.GoldAgreement
			if agr == nil {
				agr = l.PeerAgreement
			}
			if agr != nil && *agr < opts.MinAgreement {
				excluded[l.Name] = true
				rep.Excluded = append(rep.Excluded, l.Name)
				slog.Warn("label export: leaving out labeler below --min-agreement", "labeler", l.Name, "agreement", *agr, "min", opts.MinAgreement)
			}
		}
	}
	items, err := s.Items()
	if err != nil {
		return nil, err
	}
	var labelers []string
	for n := range st.Active {
		labelers = append(labelers, n)
	}
	sort.Strings(labelers)

	w, err := dataset.Create[dataset.Comparison](opts.Out, dataset.WriterOptions{
		RowsPerShard: opts.RowsPerShard,
		Meta:         map[string]string{"source": "rlhf label", "db": opts.DB, "min_agreement": strconv.FormatFloat(opts.MinAgreement, 'g', -1, 64)},
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	emit := func(it *Item, r Ranking, source string) error {
		g := Group{GroupID: ExportGroupID(it.GroupID, source), Prompt: it.Prompt, History: dataset.EncodeHistory(it.History), Lang: it.Lang, Source: source}
		for _, a := range it.Answers {
			g.Answers = append(g.Answers, a.Text)
			g.Ranks = append(g.Ranks, r[a.ID])
		}
		rows := g.Pairs()
		if len(rows) == 0 {
			return nil
		}
		rep.Groups++
		return w.Write(rows...)
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, n := range labelers {
			sub, ok := st.Active[n][it.GroupID]
			if !ok || excluded[n] {
				continue
			}
			if err := emit(it, sub.Ranks, n); err != nil {
				return nil, err
			}
		}
		if gold, ok := st.Gold[it.GroupID]; ok && opts.IncludeGold {
			if err := emit(it, gold.Ranks, "gold"); err != nil {
				return nil, err
			}
		}
	}
	rep.Rows = w.Rows()
	if err := w.Close(); err != nil {
		return nil, err
	}
	slog.Info("label export: wrote comparisons", "out", opts.Out, "groups", rep.Groups, "rows", rep.Rows)
	return rep, nil
}
