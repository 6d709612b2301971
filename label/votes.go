package label

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// VotesOptions tune FromVotes (`rlhf comparisons from-votes`).
type VotesOptions struct {
	// QA are the qa datasets from `rlhf scrape`.
	QA []string
	// Out is the comparison dataset directory to write.
	Out string
	// MinVotes is the fewest up-votes the better answer of a pair needs.
	// Default 0 (any).
	MinVotes int64
	// MinVoteRatio is how many times the worse answer's votes the better
	// answer needs (2 means at least twice as many); pairs closer than that
	// are dropped as too noisy. Default 1 (any strictly higher count).
	MinVoteRatio float64
	// MaxAnswers caps the answers per question (the most voted are kept),
	// so one popular question does not flood the data with C(K,2) pairs.
	// Default 9.
	MaxAnswers int
	// RowsPerShard is passed to the dataset writer; 0 means its default.
	RowsPerShard int64
}

// VotesReport says what FromVotes wrote.
type VotesReport struct {
	// Read is the number of qa rows read.
	Read      int   `json:"read"`
	Questions int   `json:"questions"`
	Groups    int   `json:"groups"`
	Rows      int64 `json:"rows"`
	// NoVotes counts answers without a vote count (left out).
	NoVotes int `json:"no_votes"`
	// Empty counts rows without a question or an answer (left out).
	Empty int `json:"empty"`
	// OneAnswer counts questions with a single (voted) answer: no pair.
	OneAnswer int `json:"one_answer"`
	// Tied counts questions whose answers all have the same votes.
	Tied int `json:"tied"`
	// BelowThresholds counts pairs left out by MinVotes or MinVoteRatio.
	BelowThresholds int `json:"below_thresholds"`
}

// noPairs is the error of a run that made no pair: the counts, and the
// first row left out and why.
func (rep *VotesReport) noPairs(qa []string, first string) error {
	in := strings.Join(qa, ", ")
	if rep.Read == 0 {
		return option.Errorf("comparisons from-votes: {QA} %s: no qa rows", in)
	}
	var why []any
	add := func(n int, format string) {
		if n > 0 {
			why = append(why, option.Errorf(format, n))
		}
	}
	add(rep.NoVotes, "%d without a vote count")
	add(rep.Empty, "%d without a question or an answer")
	add(rep.OneAnswer, "%d question(s) with one answer")
	add(rep.Tied, "%d with tied votes")
	add(rep.BelowThresholds, "%d pair(s) below {MinVotes} or {MinVoteRatio}")
	reasons := option.Errorf(strings.TrimSuffix(strings.Repeat("%v, ", len(why)), ", "), why...)
	if first != "" {
		return option.Errorf("comparisons from-votes: no pairs from %d qa rows in %s (%v); the first row left out: %s", rep.Read, in, reasons, first)
	}
	return option.Errorf("comparisons from-votes: no pairs from %d qa rows in %s (%v)", rep.Read, in, reasons)
}

// FromVotes ranks the answers to each scraped question by up-votes: the
// answers of one question (same site, same question text) become one group
// with competition ranks by votes (equal votes share a rank and are a tie),
// and a pair is kept when the better answer has at least MinVotes votes and
// at least MinVoteRatio times the worse one's. Source is "votes", task
// "open_qa".
func FromVotes(ctx context.Context, opts VotesOptions) (*VotesReport, error) {
	if len(opts.QA) == 0 || opts.Out == "" {
		return nil, option.Errorf("comparisons from-votes: {QA} and {Out} are required")
	}
	if err := dataset.CheckOutput[dataset.Comparison](opts.Out, opts.QA...); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	if opts.MinVoteRatio == 0 {
		opts.MinVoteRatio = 1
	}
	if opts.MinVoteRatio < 1 {
		return nil, option.Errorf("{MinVoteRatio} %g: want 1 or more", opts.MinVoteRatio)
	}
	if opts.MinVotes < 0 {
		return nil, option.Errorf("{MinVotes} %d: want 0 or more", opts.MinVotes)
	}
	if opts.MaxAnswers == 0 {
		opts.MaxAnswers = 9
	}
	if opts.MaxAnswers < 2 {
		return nil, option.Errorf("{MaxAnswers} %d: want 2 or more", opts.MaxAnswers)
	}
	r, err := dataset.Open[dataset.QA](opts.QA...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	type answer struct {
		text  string
		votes int64
	}
	type question struct {
		site, text, context, lang string
		answers                   []answer
	}
	rep := &VotesReport{}
	byKey := map[string]*question{}
	var order []string
	first := "" // the first row left out and why
	err = r.Each(ctx, func(row dataset.QA) error {
		rep.Read++
		if row.Votes == nil {
			rep.NoVotes++
			if first == "" {
				first = r.Position() + ": no vote count"
			}
			return nil
		}
		if *row.Votes < 0 {
			return fmt.Errorf("%s: negative vote count %d", r.Position(), *row.Votes)
		}
		qtext := strings.TrimSpace(row.Question)
		text := strings.TrimSpace(row.Answer)
		if qtext == "" || text == "" {
			rep.Empty++
			if first == "" {
				first = r.Position() + ": no question or no answer"
			}
			return nil
		}
		key := row.Site + "\x00" + qtext
		q := byKey[key]
		if q == nil {
			q = &question{site: row.Site, text: qtext, context: strings.TrimSpace(row.Context), lang: row.Lang}
			byKey[key] = q
			order = append(order, key)
		}
		dup := false
		for i := range q.answers {
			if q.answers[i].text == text {
				q.answers[i].votes = max(q.answers[i].votes, *row.Votes)
				dup = true
			}
		}
		if !dup {
			q.answers = append(q.answers, answer{text, *row.Votes})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Questions = len(order)

	w, err := dataset.Create[dataset.Comparison](opts.Out, dataset.WriterOptions{
		RowsPerShard: opts.RowsPerShard,
		Meta: map[string]string{"source": "votes", "min_votes": strconv.FormatInt(opts.MinVotes, 10),
			"min_vote_ratio": strconv.FormatFloat(opts.MinVoteRatio, 'g', -1, 64)},
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	for _, key := range order {
		q := byKey[key]
		if len(q.answers) < 2 {
			rep.OneAnswer++
			continue
		}
		sort.SliceStable(q.answers, func(i, j int) bool { return q.answers[i].votes > q.answers[j].votes })
		if len(q.answers) > opts.MaxAnswers {
			q.answers = q.answers[:opts.MaxAnswers]
		}
		prompt := q.text
		if q.context != "" && q.context != q.text {
			prompt += "\n\n" + q.context
		}
		lang := q.lang
		if lang == "" {
			lang = DetectLang(prompt)
		}
		g := Group{GroupID: dataset.ContentID("votes", q.site, q.text), Prompt: prompt, Task: "open_qa", Lang: lang, Source: "votes"}
		votes := make([]int64, len(q.answers))
		for i, a := range q.answers {
			g.Answers = append(g.Answers, a.text)
			votes[i] = a.votes
		}
		g.Ranks = CompetitionRanks(votes)
		all := 0
		rows := g.PairsWhere(func(better, worse int) bool {
			all++
			vb, vw := votes[better], votes[worse]
			return vb >= opts.MinVotes && float64(vb) >= opts.MinVoteRatio*float64(vw)
		})
		rep.BelowThresholds += all - len(rows)
		if all == 0 {
			rep.Tied++
		}
		if len(rows) == 0 {
			continue
		}
		rep.Groups++
		if err := w.Write(rows...); err != nil {
			return nil, err
		}
	}
	rep.Rows = w.Rows()
	if rep.Rows == 0 {
		return nil, rep.noPairs(opts.QA, first)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	slog.Info("comparisons from-votes: wrote", "out", opts.Out, "questions", rep.Questions, "groups", rep.Groups, "rows", rep.Rows, "answers_without_votes", rep.NoVotes)
	return rep, nil
}
