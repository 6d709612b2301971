package label

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/reward"
)

// SyntheticOptions tune Synthetic (`rlhf comparisons synthetic`).
type SyntheticOptions struct {
	// Responses are the response datasets (K samples per prompt, e.g. from
	// `rlhf generate --num-samples K`).
	Responses []string
	// Reference are sft datasets whose responses are the references of the
	// "reference" rule (matched to responses by prompt text); they also give
	// the task and language of a prompt.
	Reference []string
	// Out is the comparison dataset directory to write.
	Out string
	// Prefer is the deterministic preference rule:
	//   reference    higher character-bigram F1 with the reference response
	//   keyword=W    more occurrences of W
	//   length=N     length in characters closer to N
	//   gold         higher score under the rules of GoldFns (a judge the
	//                user knows, as `rlhf eval --gold-fn` takes)
	Prefer string
	// GoldFns are the rule rewards (see reward.Rule) whose weighted sum ranks
	// the answers under Prefer "gold", each scored against the prompt's
	// reference response.
	GoldFns []string
	// GoldWeights weigh GoldFns, one each (default 1 each).
	GoldWeights []float64
	// IncludeReference adds each prompt's reference response to its group
	// as one more candidate, ranked by the same rule.
	IncludeReference bool
}

// SyntheticReport says what Synthetic wrote.
type SyntheticReport struct {
	Prompts int   `json:"prompts"`
	Groups  int   `json:"groups"`
	Rows    int64 `json:"rows"`
	// NoReference counts prompts skipped because the rule needs a
	// reference and none matched.
	NoReference int `json:"no_reference"`
	// Empty counts empty (whitespace-only) answers left out.
	Empty int `json:"empty"`
	// Read counts the response rows read; OneAnswer the prompts with fewer
	// than two distinct answers; Tied those whose answers all score the same.
	Read      int `json:"read"`
	OneAnswer int `json:"one_answer"`
	Tied      int `json:"tied"`
}

// Synthetic ranks the sampled answers of every prompt by a deterministic
// rule instead of a person: a stand-in labeller for demos, tests and
// ablations, so the whole pipeline runs without anyone ranking. Equal scores
// are ties (dropped); empty answers are left out. Source is "synthetic:" +
// the rule.
func Synthetic(ctx context.Context, opts SyntheticOptions) (*SyntheticReport, error) {
	if len(opts.Responses) == 0 || opts.Out == "" {
		return nil, option.Errorf("comparisons synthetic: {Responses} and {Out} are required")
	}
	if err := dataset.CheckOutput[dataset.Comparison](opts.Out, append(slices.Clone(opts.Responses), opts.Reference...)...); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	score, needsRef, err := preferenceRule(opts.Prefer, opts.GoldFns, opts.GoldWeights)
	if err != nil {
		return nil, err
	}
	if (needsRef || opts.IncludeReference) && len(opts.Reference) == 0 {
		return nil, option.Errorf("{Prefer} %s / {IncludeReference} need {Reference} sft data", opts.Prefer)
	}
	refs := map[string]dataset.SFT{}
	if len(opts.Reference) > 0 {
		rows, err := dataset.ReadAll[dataset.SFT](opts.Reference...)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if k := r.History + "\x1f" + r.Prompt; refs[k].Prompt == "" {
				refs[k] = r
			}
		}
	}

	type group struct {
		promptID, prompt, history string
		answers                   []string
	}
	var order []string
	groups := map[string]*group{}
	empty := 0
	r, err := dataset.Open[dataset.Response](opts.Responses...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	read := 0
	err = r.Each(ctx, func(row dataset.Response) error {
		read++
		if strings.TrimSpace(row.Response) == "" {
			empty++
			return nil
		}
		key := row.PromptID
		if key == "" {
			key = row.History + "\x1f" + row.Prompt
		}
		g := groups[key]
		if g == nil {
			g = &group{promptID: key, prompt: row.Prompt, history: row.History}
			groups[key] = g
			order = append(order, key)
		}
		if !slices.Contains(g.answers, row.Response) {
			g.answers = append(g.answers, row.Response)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	w, err := dataset.Create[dataset.Comparison](opts.Out, dataset.WriterOptions{
		Meta: map[string]string{"source": "synthetic", "prefer": opts.Prefer, "include_reference": strconv.FormatBool(opts.IncludeReference)},
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &SyntheticReport{Prompts: len(order), Empty: empty, Read: read}
	for _, key := range order {
		g := groups[key]
		ref, hasRef := refs[g.history+"\x1f"+g.prompt]
		if needsRef && !hasRef {
			rep.NoReference++
			continue
		}
		answers := g.answers
		if opts.IncludeReference && hasRef && !slices.Contains(answers, ref.Response) {
			answers = append(answers, ref.Response)
		}
		if len(answers) < 2 {
			rep.OneAnswer++
			continue
		}
		scores, err := score(ctx, g.prompt, answers, ref.Response)
		if err != nil {
			return nil, err
		}
		lang := ref.Lang
		if lang == "" {
			lang = DetectLang(g.prompt)
		}
		grp := Group{
			GroupID: dataset.ContentID("synthetic", opts.Prefer, g.promptID), Prompt: g.prompt, History: g.history,
			Answers: answers, Ranks: CompetitionRanks(scores), Task: ref.Task, Lang: lang,
			Source: "synthetic:" + opts.Prefer,
		}
		rows := grp.Pairs()
		if len(rows) == 0 {
			rep.Tied++
			continue
		}
		rep.Groups++
		if err := w.Write(rows...); err != nil {
			return nil, err
		}
	}
	rep.Rows = w.Rows()
	if rep.Rows == 0 {
		return nil, option.Errorf("comparisons synthetic: no pairs from %d responses in %s (%d empty, %d prompt(s) with one answer, %d prompt(s) without a reference, %d prompt(s) whose answers all tie under {Prefer} %s)",
			rep.Read, strings.Join(opts.Responses, ", "), rep.Empty, rep.OneAnswer, rep.NoReference, rep.Tied, opts.Prefer)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	slog.Info("comparisons synthetic: wrote", "out", opts.Out, "prefer", opts.Prefer, "prompts", rep.Prompts,
		"groups", rep.Groups, "rows", rep.Rows, "no_reference", rep.NoReference, "empty_answers", rep.Empty)
	return rep, nil
}

// scoreFunc scores the answers to one prompt (higher is better).
type scoreFunc func(ctx context.Context, prompt string, answers []string, reference string) ([]float64, error)

// eachAnswer makes a scoreFunc of a score of one answer.
func eachAnswer(f func(answer, reference string) float64) scoreFunc {
	return func(_ context.Context, _ string, answers []string, ref string) ([]float64, error) {
		scores := make([]float64, len(answers))
		for i, a := range answers {
			scores[i] = f(a, ref)
		}
		return scores, nil
	}
}

// preferenceRule parses a --prefer rule into a score.
func preferenceRule(rule string, goldFns []string, goldWeights []float64) (score scoreFunc, needsRef bool, err error) {
	name, arg, _ := strings.Cut(rule, "=")
	if name != "gold" && (len(goldFns) > 0 || len(goldWeights) > 0) {
		return nil, false, option.Errorf("{GoldFns}/{GoldWeights} rank answers under {Prefer} gold only, not {Prefer} %s", rule)
	}
	switch name {
	case "reference":
		return eachAnswer(BigramF1), true, nil
	case "keyword":
		if arg == "" {
			return nil, false, option.Errorf("{Prefer} keyword=WORD: the word is missing")
		}
		return eachAnswer(func(a, _ string) float64 { return float64(strings.Count(a, arg)) }), false, nil
	case "length":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return nil, false, option.Errorf("{Prefer} length=N: want a number of characters, got %q", arg)
		}
		return eachAnswer(func(a, _ string) float64 { return -abs(float64(utf8.RuneCountInString(a) - n)) }), false, nil
	case "gold":
		if rule != "gold" {
			break
		}
		if len(goldFns) == 0 {
			return nil, false, option.Errorf("{Prefer} gold needs the judge's rules ({GoldFns})")
		}
		judge, err := reward.ParseSum(goldFns, goldWeights, 0)
		if err != nil {
			return nil, false, option.Errorf("{GoldFns}: %w", err)
		}
		return func(ctx context.Context, prompt string, answers []string, ref string) ([]float64, error) {
			in := make([]reward.Input, len(answers))
			for i, a := range answers {
				in[i] = reward.Input{Prompt: prompt, Response: a, Reference: ref}
			}
			return judge.Score(ctx, in)
		}, judge.NeedsReference(), nil
	}
	return nil, false, option.Errorf("{Prefer} %q: want reference, keyword=WORD, length=N or gold", rule)
}

// BigramF1 is the F1 overlap of the character bigram multisets of a and b
// (1 for equal non-empty texts, 0 when nothing is shared); it treats
// Chinese and English alike without word segmentation.
func BigramF1(a, b string) float64 {
	ga, gb := bigrams(a), bigrams(b)
	na, nb := 0, 0
	for _, c := range ga {
		na += c
	}
	for _, c := range gb {
		nb += c
	}
	if na == 0 || nb == 0 {
		return 0
	}
	common := 0
	for g, c := range ga {
		common += min(c, gb[g])
	}
	if common == 0 {
		return 0
	}
	p, r := float64(common)/float64(na), float64(common)/float64(nb)
	return 2 * p * r / (p + r)
}

func bigrams(s string) map[[2]rune]int {
	rs := []rune(s)
	out := map[[2]rune]int{}
	for i := 0; i+1 < len(rs); i++ {
		out[[2]rune{rs[i], rs[i+1]}]++
	}
	return out
}

// CompetitionRanks turns scores (higher is better) into 1-based competition
// ranks: 1 + the number of strictly better scores, so equal scores tie.
func CompetitionRanks[T cmp.Ordered](scores []T) []int {
	ranks := make([]int, len(scores))
	for i, s := range scores {
		ranks[i] = 1
		for _, o := range scores {
			if o > s {
				ranks[i]++
			}
		}
	}
	return ranks
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
