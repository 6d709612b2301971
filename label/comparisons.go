package label

import (
	"github.com/rlhf-project/rlhf/dataset"
)

// Group is one prompt with answers and their 1-based ranks (1 is best,
// equal ranks are ties), ready to expand into comparison rows.
type Group struct {
	GroupID string
	Prompt  string
	// History is the conversation before Prompt (the history column).
	History string
	Answers []string
	Ranks   []int
	Task    string
	Lang    string
	Source  string
}

// Pairs expands g into its C(K,2) comparison rows, chosen before rejected,
// in answer order; tied pairs are dropped. Every row shares g.GroupID.
func (g Group) Pairs() []dataset.Comparison { return g.PairsWhere(nil) }

// pair is the comparison row of answers c (chosen) and r (rejected).
func (g Group) pair(c, r int) dataset.Comparison {
	return dataset.WithID(dataset.Comparison{
		GroupID:      g.GroupID,
		Prompt:       g.Prompt,
		History:      g.History,
		Chosen:       g.Answers[c],
		Rejected:     g.Answers[r],
		ChosenRank:   int32(g.Ranks[c]),
		RejectedRank: int32(g.Ranks[r]),
		Task:         g.Task,
		Lang:         g.Lang,
		Source:       g.Source,
	})
}

// PairsWhere is Pairs keeping only the pairs keep accepts (answer indexes,
// better first); a nil keep keeps every untied pair.
func (g Group) PairsWhere(keep func(better, worse int) bool) []dataset.Comparison {
	var out []dataset.Comparison
	for i := range g.Answers {
		for j := i + 1; j < len(g.Answers); j++ {
			if g.Ranks[i] == g.Ranks[j] {
				continue
			}
			c, r := i, j
			if g.Ranks[j] < g.Ranks[i] {
				c, r = j, i
			}
			if keep == nil || keep(c, r) {
				out = append(out, g.pair(c, r))
			}
		}
	}
	return out
}
