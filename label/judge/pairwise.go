package judge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rlhf-project/rlhf/label"
)

// Pair is one prompt with two answers to compare (`rlhf eval`'s AI gold
// judge: A is the policy's answer, B the baseline's).
type Pair struct {
	// ID names the prompt in errors.
	ID     string
	Prompt string
	// Lang picks the built-in rubric when Options.Lang is auto.
	Lang string
	A, B string
}

// Verdict is the outcome of one Pair.
type Verdict int

const (
	// Tie: the two answers are the same text (no request is made), or the
	// two verdicts disagree (the judge preferred whichever answer came
	// first, or whichever came second: position bias, no preference).
	Tie Verdict = 0
	// AWins and BWins: both verdicts, in both presentation orders, prefer
	// the same answer.
	AWins Verdict = 1
	BWins Verdict = -1
)

// Compare asks the judge of opts about every pair, twice: once with A shown
// first and once with B shown first (the position-bias guard of Run). A
// pair wins only when both verdicts agree; verdicts that disagree are a
// tie. Requests use Run's rubric (K = 2), concurrency, rate limit, retries
// and reply cache; Responses, Out and LabelsDB are not used, and CacheDir
// is required unless NoCache. A pair whose request fails after the retries,
// or whose reply holds no valid ranking, is an error naming the pair's ID:
// a failure is never counted as a tie. Unusable replies are not cached.
func Compare(ctx context.Context, opts Options, pairs []Pair) ([]Verdict, *Report, error) {
	if err := opts.checkNegative(); err != nil {
		return nil, nil, err
	}
	if opts.BaseURL == "" || opts.Model == "" {
		return nil, nil, errors.New("judge: a base URL and a model are required")
	}
	if opts.CacheDir == "" && !opts.NoCache {
		return nil, nil, errors.New("judge: a cache folder is required (or no cache)")
	}
	opts.defaults()
	j, err := newJudge(opts)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Verdict, len(pairs))
	err = parallel(ctx, len(pairs), opts.Concurrency, func(ctx context.Context, i int) error {
		v, err := j.comparePair(ctx, pairs[i])
		if err != nil {
			return fmt.Errorf("judge: prompt %s: %w", pairs[i].ID, err)
		}
		out[i] = v
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rep := j.rep
	rep.Groups = len(pairs)
	for _, v := range out {
		rep.Pairs++
		if v != Tie {
			rep.Consistent++
		}
	}
	slog.Info("judge: pairs compared", "model", opts.Model, "pairs", rep.Pairs, "decided", rep.Consistent,
		"requests", rep.Requests, "cache_hits", rep.CacheHits)
	return out, &rep, nil
}

// comparePair asks about p in both orders.
func (j *judge) comparePair(ctx context.Context, p Pair) (Verdict, error) {
	if p.A == p.B {
		return Tie, nil
	}
	it := &label.Item{GroupID: p.ID, Prompt: p.Prompt, Lang: p.Lang, Answers: []label.Answer{{Text: p.A}, {Text: p.B}}}
	valid := func(reply string) error {
		_, err := ParseVerdict(reply, 2)
		return err
	}
	var best [2]int // the answer (0: A, 1: B) each verdict ranks first
	for v, order := range [][]int{{0, 1}, {1, 0}} {
		user, err := j.render(it, order)
		if err != nil {
			return Tie, err
		}
		reply, err := j.ask(ctx, user, valid)
		if err != nil {
			if reply != "" {
				return Tie, fmt.Errorf("unusable reply %q: %w", snippet([]byte(reply)), err)
			}
			return Tie, err
		}
		ranking, _ := ParseVerdict(reply, 2)
		best[v] = order[ranking[0]]
	}
	switch {
	case best[0] != best[1]:
		return Tie, nil
	case best[0] == 0:
		return AWins, nil
	default:
		return BWins, nil
	}
}

// String names a verdict.
func (v Verdict) String() string {
	return [...]string{"B wins", "tie", "A wins"}[v+1]
}
