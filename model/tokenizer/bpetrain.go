package tokenizer

import (
	"container/heap"
	"context"
)

// This file holds the byte-level BPE trainer. It is ours rather than
// sugarme's (model/bpe.BpeTrainer) because that one, measured here, missed
// merges whose pair was still the most frequent (" hello" stayed "Ġhell" +
// "o" with merges to spare), broke ties between equal counts by map order
// (two runs on the same data gave different files), dropped its special
// tokens and printed to stdout unconditionally.
//
// The algorithm is the usual one (Sennrich et al.; HF tokenizers' trainer):
// count the pairs of adjacent symbols over all words weighted by their
// counts, repeatedly merge the most frequent pair (ties: the pair whose
// token strings sort first) into a new symbol, and update the counts of the
// words that contained it.

// bpeWord is one distinct pre-tokenized word: its symbols and how often it
// occurs.
type bpeWord struct {
	syms  []int
	count int
}

type symPair [2]int

// pairItem is a heap entry; count may be stale and is checked on pop.
type pairItem struct {
	pair  symPair
	count int
}

type pairHeap struct {
	items []pairItem
	str   *[]string // token strings, for tie-breaking
}

func (h pairHeap) Len() int { return len(h.items) }
func (h pairHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.count != b.count {
		return a.count > b.count
	}
	s := *h.str
	if s[a.pair[0]] != s[b.pair[0]] {
		return s[a.pair[0]] < s[b.pair[0]]
	}
	return s[a.pair[1]] < s[b.pair[1]]
}
func (h pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)   { h.items = append(h.items, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}

// trainBPE learns merges on raw-byte words (word -> count) until the
// vocabulary (256 byte tokens first, id = byte value, spelled in GPT-2's
// byte-to-unicode alphabet) holds vocabSize tokens or no pair occurs
// minFreq times. It returns the vocabulary and the merges in rank order.
func trainBPE(ctx context.Context, words map[string]int, vocabSize, minFreq int) (map[string]int, [][2]string, error) {
	vocab := byteAlphabet()
	str := make([]string, 256, vocabSize)
	for b := range 256 {
		str[b] = byteChars[b]
	}
	var ws []bpeWord
	for w, c := range words {
		syms := make([]int, len(w))
		for i := 0; i < len(w); i++ {
			syms[i] = int(w[i])
		}
		ws = append(ws, bpeWord{syms, c})
	}

	counts := map[symPair]int{}
	where := map[symPair]map[int]struct{}{} // words holding the pair (may be stale)
	bump := func(p symPair, delta, wi int) {
		counts[p] += delta
		if delta > 0 {
			if where[p] == nil {
				where[p] = map[int]struct{}{}
			}
			where[p][wi] = struct{}{}
		}
	}
	for wi, w := range ws {
		for i := 0; i+1 < len(w.syms); i++ {
			bump(symPair{w.syms[i], w.syms[i+1]}, w.count, wi)
		}
	}
	h := &pairHeap{str: &str}
	for p, c := range counts {
		h.items = append(h.items, pairItem{p, c})
	}
	heap.Init(h)

	var merges [][2]string
	for len(vocab) < vocabSize && h.Len() > 0 {
		if len(merges)%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		top := heap.Pop(h).(pairItem)
		if cur := counts[top.pair]; cur != top.count {
			if cur > 0 {
				heap.Push(h, pairItem{top.pair, cur})
			}
			continue
		}
		if top.count < max(minFreq, 1) {
			break
		}
		a, b := top.pair[0], top.pair[1]
		merged := str[a] + str[b]
		id, ok := vocab[merged]
		if !ok {
			id = len(str)
			vocab[merged] = id
		}
		if id == len(str) {
			str = append(str, merged)
		}
		merges = append(merges, [2]string{str[a], str[b]})

		// Merge the pair in the words holding it, updating the counts of
		// the neighbouring pairs only (as HF's Word::merge does).
		changed := map[symPair]struct{}{}
		for wi := range where[top.pair] {
			w := &ws[wi]
			c := w.count
			out := make([]int, 0, len(w.syms))
			for i := 0; i < len(w.syms); i++ {
				if i+1 >= len(w.syms) || w.syms[i] != a || w.syms[i+1] != b {
					out = append(out, w.syms[i])
					continue
				}
				if len(out) > 0 {
					prev := out[len(out)-1]
					bump(symPair{prev, a}, -c, wi)
					bump(symPair{prev, id}, c, wi)
					changed[symPair{prev, a}] = struct{}{}
					changed[symPair{prev, id}] = struct{}{}
				}
				if i+2 < len(w.syms) {
					next := w.syms[i+2]
					bump(symPair{b, next}, -c, wi)
					bump(symPair{id, next}, c, wi)
					changed[symPair{b, next}] = struct{}{}
					changed[symPair{id, next}] = struct{}{}
				}
				counts[top.pair] -= c
				out = append(out, id)
				i++
			}
			w.syms = out
		}
		delete(where, top.pair)
		for p := range changed {
			if c := counts[p]; c > 0 && p != top.pair {
				heap.Push(h, pairItem{p, c})
			}
		}
	}
	return vocab, merges, nil
}
