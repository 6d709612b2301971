package model

import (
	"math"
	"testing"
)

// TestKVCacheMatchesFullForward teacher-forces a continuation through the
// KV-cache decoder and compares every step's logits with the full forward
// pass over the whole sequence.
func TestKVCacheMatchesFullForward(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchQwen2, ArchBloom} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			// Prompts of 4 and 2 tokens, left-padded to 4; then 3 forced tokens each.
			prompt := [][]int32{{7, 8, 9, 10}, {0, 0, 11, 12}}
			pmask := [][]int32{{1, 1, 1, 1}, {0, 0, 1, 1}}
			cont := [][]int32{{13, 14, 15}, {16, 17, 18}}
			full := make([][]int32, 2)
			fmask := make([][]int32, 2)
			for b := range full {
				full[b] = append(append([]int32{}, prompt[b]...), cont[b]...)
				fmask[b] = append(append([]int32{}, pmask[b]...), 1, 1, 1)
			}
			want := runLogits(t, m, full, fmask)
			dec, err := NewDecoder(testBackend(), m)
			if err != nil {
				t.Fatal(err)
			}
			st, logits, err := dec.Start(prompt, pmask, 9) // 2 spare slots
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			check := func(pos int, got [][]float32) {
				for b := range got {
					for v := range got[b] {
						if d := math.Abs(float64(got[b][v] - want[b][pos][v])); d > 1e-4 || math.IsNaN(d) {
							t.Fatalf("row %d position %d vocab %d: cached %v, full %v", b, pos, v, got[b][v], want[b][pos][v])
						}
					}
				}
			}
			check(3, logits)
			for i := range 3 {
				logits, err = st.Step([]int32{cont[0][i], cont[1][i]}, nil)
				if err != nil {
					t.Fatal(err)
				}
				check(4+i, logits)
			}
		})
	}
}

// TestSlidingWindow checks mistral's local attention: it changes logits once
// the sequence is longer than the window, and the KV cache applies it too.
func TestSlidingWindow(t *testing.T) {
	m := tinyModel(t, ArchMistral)
	seq := [][]int32{{1, 2, 3, 4, 5, 6, 7, 8}}
	mask := [][]int32{{1, 1, 1, 1, 1, 1, 1, 1}}
	full := runLogits(t, m, seq, mask)
	m.Config.SlidingWindow = 3
	local := runLogits(t, m, seq, mask)
	for pos := range 8 {
		diff := math.Abs(float64(full[0][pos][0] - local[0][pos][0]))
		if (pos < 3) != (diff < 1e-6) {
			t.Fatalf("position %d: window 3 changed logits by %g", pos, diff)
		}
	}
	dec, err := NewDecoder(testBackend(), m)
	if err != nil {
		t.Fatal(err)
	}
	st, logits, err := dec.Start([][]int32{{0, 1, 2, 3, 4}}, [][]int32{{0, 1, 1, 1, 1}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := runLogits(t, m, [][]int32{{1, 2, 3, 4, 5, 6, 7}}, [][]int32{{1, 1, 1, 1, 1, 1, 1}})
	for i, next := range []int32{5, 6, 7} {
		for v := range logits[0] {
			if d := math.Abs(float64(logits[0][v] - want[0][3+i][v])); d > 1e-4 {
				t.Fatalf("step %d: cached logits differ by %g", i, d)
			}
		}
		if logits, err = st.Step([]int32{next}, nil); err != nil {
			t.Fatal(err)
		}
	}
}
