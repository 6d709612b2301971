package prompts

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synth writes synthetic inputs for the mix tests and the benchmark: random
// Chinese and English text (so no two records are near-duplicates) in the
// layouts of several adapters. n is the number of qa records; the other
// sources get n/4 each. It returns the --source specs.
func synth(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	vocab := make([]string, 5000)
	syll := []string{"ka", "lo", "mi", "ten", "ra", "su", "vel", "dor", "pin", "qua", "zen", "bri", "sto", "ne", "gal", "fu"}
	for i := range vocab {
		var sb strings.Builder
		for k := 0; k < 2+rng.IntN(3); k++ {
			sb.WriteString(syll[rng.IntN(len(syll))])
		}
		vocab[i] = sb.String()
	}
	zh := func(min, max int) string {
		n := min + rng.IntN(max-min+1)
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteRune(rune(0x4e00 + rng.IntN(3000)))
		}
		return sb.String()
	}
	en := func(min, max int) string {
		n := min + rng.IntN(max-min+1)
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(w, " ")
	}
	text := func(lang string, min, max int) string {
		if lang == "zh" {
			return zh(min, max)
		}
		return en(min, max)
	}
	sentences := func(lang string, k int) string {
		parts := make([]string, k)
		for i := range parts {
			if lang == "zh" {
				parts[i] = zh(10, 25) + "。"
			} else {
				parts[i] = en(6, 14) + "."
			}
		}
		if lang == "zh" {
			return strings.Join(parts, "")
		}
		return strings.Join(parts, " ")
	}
	langOf := func(i int) string {
		if i%2 == 0 {
			return "zh"
		}
		return "en"
	}
	write := func(name string, rows int, row func(i int) any) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			tb.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := 0; i < rows; i++ {
			if err := enc.Encode(row(i)); err != nil {
				tb.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		return p
	}
	m := n / 4
	var specs []string
	specs = append(specs, "qa:"+write("syn_qa.jsonl", n, func(i int) any {
		l := langOf(i)
		return map[string]any{"title": text(l, 3, 6), "question": text(l, 8, 16) + "?", "answer": sentences(l, 2+rng.IntN(3)), "lang": l, "url": fmt.Sprint("https://x.example/", i)}
	}))
	specs = append(specs, "dialogue:"+write("syn_dialogue.jsonl", m, func(i int) any {
		l := langOf(i)
		turns := make([]string, 2+rng.IntN(3))
		for k := range turns {
			turns[k] = text(l, 6, 20)
		}
		return turns
	}))
	specs = append(specs, "pairs:"+write("syn_pairs.jsonl", m, func(i int) any {
		l := langOf(i)
		return map[string]any{"sentence1": text(l, 8, 20), "sentence2": text(l, 8, 20), "label": 1}
	}))
	specs = append(specs, "summarization:"+write("syn_summ.jsonl", m, func(i int) any {
		l := langOf(i)
		return map[string]any{"document": sentences(l, 3+rng.IntN(3)), "summary": text(l, 8, 16)}
	}))
	labels := []string{"sports", "finance", "tech", "health"}
	specs = append(specs, "classification:"+write("syn_cls.jsonl", m, func(i int) any {
		l := langOf(i)
		return map[string]any{"text": text(l, 10, 30), "label": labels[rng.IntN(len(labels))]}
	}))
	specs = append(specs, "squad:"+write("syn_squad.jsonl", m, func(i int) any {
		l := langOf(i)
		ctx := sentences(l, 3)
		return map[string]any{"context": ctx, "question": text(l, 6, 12), "answers": map[string]any{"text": []string{text(l, 2, 4)}}}
	}))
	specs = append(specs, "cluener:"+write("syn_cluener.jsonl", m, func(i int) any {
		l := langOf(i)
		e := text(l, 2, 3)
		return map[string]any{"text": text(l, 5, 15) + e + text(l, 5, 15), "label": map[string]any{"name": map[string]any{e: [][]int{{0, 1}}}}}
	}))
	return specs
}
