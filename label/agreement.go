package label

import (
	"fmt"
	"math"
	"sort"
)

// Pair judgements: how one ranking orders two answers x < y (by id).
const (
	pairTie    = 0 // same rank
	pairFirst  = 1 // x ranked better
	pairSecond = 2 // y ranked better
)

// pairJudgement is the judgement of ranking r on answers x and y.
func pairJudgement(r Ranking, x, y string) int {
	switch {
	case r[x] < r[y]:
		return pairFirst
	case r[x] > r[y]:
		return pairSecond
	}
	return pairTie
}

// sharedPairs returns the answer-id pairs (x < y) ranked by both a and b.
func sharedPairs(a, b Ranking) [][2]string {
	var ids []string
	for id := range a {
		if _, ok := b[id]; ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out [][2]string
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			out = append(out, [2]string{ids[i], ids[j]})
		}
	}
	return out
}

// PairAgreement compares two rankings of the same answers pair by pair. It
// counts the pairs both rankings order strictly (ties in either are left
// out, as they are left out of the exported comparisons) and how many of
// those they order the same way.
func PairAgreement(a, b Ranking) (agree, total int) {
	for _, p := range sharedPairs(a, b) {
		ja, jb := pairJudgement(a, p[0], p[1]), pairJudgement(b, p[0], p[1])
		if ja == pairTie || jb == pairTie {
			continue
		}
		total++
		if ja == jb {
			agree++
		}
	}
	return agree, total
}

// CohenKappa is Cohen's kappa of two raters' nominal labels of the same
// units (a[i] and b[i] label unit i): (p_o - p_e) / (1 - p_e), with p_o the
// observed agreement and p_e the agreement expected from each rater's own
// label frequencies. It is NaN with no units, or when p_e is 1 (both raters
// always gave one and the same label).
func CohenKappa(a, b []int) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.NaN()
	}
	n := float64(len(a))
	ca, cb := map[int]float64{}, map[int]float64{}
	po := 0.0
	for i := range a {
		ca[a[i]]++
		cb[b[i]]++
		if a[i] == b[i] {
			po++
		}
	}
	po /= n
	pe := 0.0
	for c, x := range ca {
		pe += x / n * cb[c] / n
	}
	if pe >= 1 {
		return math.NaN()
	}
	return (po - pe) / (1 - pe)
}

// KrippendorffAlpha is Krippendorff's alpha for nominal data. units[u]
// holds the labels the coders gave unit u (any number of coders per unit;
// units with fewer than two labels are not pairable and are ignored). It is
// 1 - (n-1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k over the coincidence
// matrix o, and NaN when fewer than two labels are pairable or all
// pairable labels are the same.
func KrippendorffAlpha(units [][]int) float64 {
	o := map[[2]int]float64{}
	for _, u := range units {
		m := len(u)
		if m < 2 {
			continue
		}
		for i := range u {
			for j := range u {
				if i != j {
					o[[2]int{u[i], u[j]}] += 1 / float64(m-1)
				}
			}
		}
	}
	nc := map[int]float64{}
	n := 0.0
	disagree := 0.0
	for ck, v := range o {
		nc[ck[0]] += v
		n += v
		if ck[0] != ck[1] {
			disagree += v
		}
	}
	expected := 0.0
	for c, x := range nc {
		for k, y := range nc {
			if c != k {
				expected += x * y
			}
		}
	}
	if n < 2 || expected == 0 {
		return math.NaN()
	}
	return 1 - (n-1)*disagree/expected
}

// StatsOptions tune Stats.
type StatsOptions struct {
	// Threshold is the agreement (0-1) below which a labeler gets a
	// warning, for agreement with gold and with other labelers. Default 0.7.
	Threshold float64
}

// LabelerStats are one labeler's figures.
type LabelerStats struct {
	Name  string `json:"name"`
	Tasks int    `json:"tasks"`
	Skips int    `json:"skips"`
	// MeanSeconds is the mean time per ranked task, in seconds, over the
	// tasks whose time is known.
	MeanSeconds float64 `json:"mean_seconds"`
	// GoldItems and GoldPairs count the gold items this labeler ranked and
	// the answer pairs both orders strictly; GoldAgreement is the share of
	// those pairs ordered as in gold (nil without any).
	GoldItems     int      `json:"gold_items"`
	GoldPairs     int      `json:"gold_pairs"`
	GoldAgreement *float64 `json:"gold_agreement"`
	// PeerItems counts the items another labeler ranked too; PeerPairs and
	// PeerAgreement are as for gold, pooled over all other labelers.
	PeerItems     int      `json:"peer_items"`
	PeerPairs     int      `json:"peer_pairs"`
	PeerAgreement *float64 `json:"peer_agreement"`
	// PeerKappa is Cohen's kappa of this labeler's pair judgements (first
	// better, second better, tie) against the other labelers' on shared
	// items, pooled over all other labelers.
	PeerKappa *float64 `json:"peer_kappa"`
	Warnings  []string `json:"warnings,omitempty"`
}

// PairStats are the figures of two labelers over the items both ranked.
type PairStats struct {
	A         string   `json:"a"`
	B         string   `json:"b"`
	Items     int      `json:"items"`
	Pairs     int      `json:"pairs"`
	Agreement *float64 `json:"agreement"`
	// Kappa is Cohen's kappa over every answer pair of the shared items
	// (ties included as a third label).
	Kappa *float64 `json:"kappa"`
}

// Stats are the agreement figures of a labelling database.
type Stats struct {
	Items     int            `json:"items"`
	GoldItems int            `json:"gold_items"`
	Ranked    int            `json:"ranked_items"`
	Overlap   float64        `json:"overlap"`
	Threshold float64        `json:"threshold"`
	Labelers  []LabelerStats `json:"labelers"`
	Pairs     []PairStats    `json:"pairs"`
	// Alpha is Krippendorff's alpha (nominal: first better, second better,
	// tie) over every answer pair of every item ranked by two or more
	// labelers; AlphaUnits counts those answer pairs.
	Alpha      *float64 `json:"alpha"`
	AlphaUnits int      `json:"alpha_units"`
}

func ptr(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func ratio(a, b int) *float64 {
	if b == 0 {
		return nil
	}
	return ptr(float64(a) / float64(b))
}

// ComputeStats derives the agreement figures from a State. Labelers lists
// the names to report even without submissions; admins are not labelers.
func ComputeStats(st *State, items int, labelers []string, opts StatsOptions) *Stats {
	if opts.Threshold == 0 {
		opts.Threshold = 0.7
	}
	names := map[string]bool{}
	for _, n := range labelers {
		names[n] = true
	}
	for n := range st.Active {
		names[n] = true
	}
	for n := range st.Skipped {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	out := &Stats{Items: items, GoldItems: len(st.Gold), Threshold: opts.Threshold}
	ranked := map[string]bool{}
	byGroup := map[string][]string{} // group → labelers who ranked it
	for _, n := range sorted {
		for g := range st.Active[n] {
			ranked[g] = true
			byGroup[g] = append(byGroup[g], n)
		}
	}
	out.Ranked = len(ranked)

	type peerAcc struct {
		items, agree, pairs int
		mine, theirs        []int
	}
	acc := map[string]*peerAcc{}
	for _, n := range sorted {
		acc[n] = &peerAcc{}
	}
	for i, a := range sorted {
		for _, b := range sorted[i+1:] {
			ps := PairStats{A: a, B: b}
			var ja, jb []int
			agreeN := 0
			for g, sa := range st.Active[a] {
				sb, ok := st.Active[b][g]
				if !ok {
					continue
				}
				ps.Items++
				ag, tot := PairAgreement(sa.Ranks, sb.Ranks)
				agreeN += ag
				ps.Pairs += tot
				for _, p := range sharedPairs(sa.Ranks, sb.Ranks) {
					ja = append(ja, pairJudgement(sa.Ranks, p[0], p[1]))
					jb = append(jb, pairJudgement(sb.Ranks, p[0], p[1]))
				}
			}
			if ps.Items == 0 {
				continue
			}
			ps.Agreement = ratio(agreeN, ps.Pairs)
			ps.Kappa = ptr(CohenKappa(ja, jb))
			out.Pairs = append(out.Pairs, ps)
			for _, x := range []struct {
				n           string
				mine, other []int
			}{{a, ja, jb}, {b, jb, ja}} {
				pa := acc[x.n]
				pa.agree += agreeN
				pa.pairs += ps.Pairs
				pa.mine = append(pa.mine, x.mine...)
				pa.theirs = append(pa.theirs, x.other...)
			}
		}
	}
	for _, n := range sorted {
		for g := range st.Active[n] {
			if len(byGroup[g]) > 1 {
				acc[n].items++
			}
		}
	}

	for _, n := range sorted {
		ls := LabelerStats{Name: n, Tasks: len(st.Active[n]), Skips: len(st.Skipped[n])}
		secs, timed := 0.0, 0
		goldAgree := 0
		for g, sub := range st.Active[n] {
			if sub.Seconds >= 0 { // not SecondsUnknown
				secs += sub.Seconds
				timed++
			}
			if gold, ok := st.Gold[g]; ok {
				ls.GoldItems++
				ag, tot := PairAgreement(sub.Ranks, gold.Ranks)
				goldAgree += ag
				ls.GoldPairs += tot
			}
		}
		if timed > 0 {
			ls.MeanSeconds = secs / float64(timed)
		}
		ls.GoldAgreement = ratio(goldAgree, ls.GoldPairs)
		pa := acc[n]
		ls.PeerItems, ls.PeerPairs = pa.items, pa.pairs
		ls.PeerAgreement = ratio(pa.agree, pa.pairs)
		ls.PeerKappa = ptr(CohenKappa(pa.mine, pa.theirs))
		if ls.GoldAgreement != nil && *ls.GoldAgreement < opts.Threshold {
			ls.Warnings = append(ls.Warnings, fmt.Sprintf("agreement with gold %.2f is below %.2f", *ls.GoldAgreement, opts.Threshold))
		}
		if ls.PeerAgreement != nil && *ls.PeerAgreement < opts.Threshold {
			ls.Warnings = append(ls.Warnings, fmt.Sprintf("agreement with other labelers %.2f is below %.2f", *ls.PeerAgreement, opts.Threshold))
		}
		out.Labelers = append(out.Labelers, ls)
	}

	var units [][]int
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		coders := byGroup[g]
		if len(coders) < 2 {
			continue
		}
		ref := st.Active[coders[0]][g].Ranks
		for _, p := range sharedPairs(ref, ref) {
			var u []int
			for _, c := range coders {
				r := st.Active[c][g].Ranks
				if _, ok := r[p[0]]; !ok {
					continue
				}
				if _, ok := r[p[1]]; !ok {
					continue
				}
				u = append(u, pairJudgement(r, p[0], p[1]))
			}
			if len(u) >= 2 {
				units = append(units, u)
			}
		}
	}
	out.AlphaUnits = len(units)
	out.Alpha = ptr(KrippendorffAlpha(units))
	return out
}

// Stats computes the agreement figures of the store.
func (s *Store) Stats(opts StatsOptions) (*Stats, error) {
	st, err := s.State()
	if err != nil {
		return nil, err
	}
	items, err := s.Items()
	if err != nil {
		return nil, err
	}
	ls, err := s.Labelers()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range ls {
		if l.Role == RoleLabeler {
			names = append(names, l.Name)
		} else {
			delete(st.Skipped, l.Name) // an admin's skips only move the admin on
		}
	}
	stats := ComputeStats(st, len(items), names, opts)
	if stats.Overlap, err = s.OverlapRate(); err != nil {
		return nil, err
	}
	return stats, nil
}
