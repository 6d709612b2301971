package ticks

import (
	"fmt"
	"math"
	"strconv"
	"testing"
)

// isNiceStep: 1, 2 or 5 times a power of ten.
func isNiceStep(step float64) bool {
	e := math.Floor(math.Log10(step) + 1e-9)
	m := step / math.Pow(10, e)
	for _, n := range []float64{1, 2, 5} {
		if math.Abs(m-n) < 1e-6 {
			return true
		}
	}
	return false
}

// TestNiceExamples: the round values a reader expects.
func TestNiceExamples(t *testing.T) {
	for _, tc := range []struct {
		lo, hi  float64
		max     int
		integer bool
		want    string
	}{
		{0, 1, 6, false, "[0 0.2 0.4 0.6 0.8 1]"},
		{-2.181, -2.113, 6, false, "[-2.2 -2.18 -2.16 -2.14 -2.12 -2.1]"},
		{0, 97, 6, false, "[0 20 40 60 80 100]"},
		{1, 4, 8, true, "[1 2 3 4]"},
		{1, 3, 8, true, "[1 2 3]"}, // steps: never 1.5
		{0, 12345, 5, false, "[0 5000 10000 15000]"},
		{0.0001, 0.00042, 5, false, "[0.0001 0.0002 0.0003 0.0004 0.0005]"},
	} {
		v, _ := Nice(tc.lo, tc.hi, tc.max, tc.integer)
		if got := fmt.Sprint(v); got != tc.want {
			t.Errorf("Nice(%v, %v, %d, %v) = %s, want %s", tc.lo, tc.hi, tc.max, tc.integer, got, tc.want)
		}
	}
}

// TestNiceProperties: over many ranges, the ticks are steps of 1, 2 or 5 ×
// 10^k, cover the range, are at most max, and their labels are all
// different, round-trip to the tick value and never read like 2.5 on an
// integer axis.
func TestNiceProperties(t *testing.T) {
	for _, r := range [][2]float64{{0, 1}, {-2.181, -2.113}, {0.5, 0.5}, {1e-7, 3e-7}, {123456, 123470}, {-5e6, 7e7}, {0, 3},
		{0.97, 1.03}, {-0.004, 0.0031}, {1, 1000}, {0, 1e-12}, {-1, 1}} {
		for _, max := range []int{2, 3, 5, 8} {
			if r[0] < 0 && r[1] > 0 && max < 3 {
				max = 3
			}
			for _, integer := range []bool{false, true} {
				v, step := Nice(r[0], r[1], max, integer)
				name := fmt.Sprintf("Nice(%v, %v, %d, %v) = %v", r[0], r[1], max, integer, v)
				if !isNiceStep(step) || (integer && step < 1) {
					t.Errorf("%s: step %v", name, step)
				}
				if len(v) < 2 || len(v) > max || (step > math.Max(10*(r[1]-r[0]), 2*math.Max(math.Abs(r[0]), math.Abs(r[1]))) && !(integer && step == 1)) || v[0] > r[0]+step*1e-6 || v[len(v)-1] < r[1]-step*1e-6 {
					t.Errorf("%s: does not cover the range in at most %d ticks", name, max)
				}
				seen := map[string]bool{}
				for i, x := range v {
					if i > 0 && math.Abs(x-v[i-1]-step) > step*1e-6 {
						t.Errorf("%s: uneven", name)
					}
					l := Label(x, step)
					back, err := strconv.ParseFloat(l, 64)
					if seen[l] || err != nil || math.Abs(back-x) > step*1e-3 {
						t.Errorf("%s: label %q of %v (repeated %v, %v)", name, l, x, seen[l], err)
					}
					seen[l] = true
				}
			}
		}
	}
}

// TestFitNoOverlap: on a short axis fewer, wider-spaced ticks are chosen so
// that the labels (charPx per character plus a gap) never overlap.
func TestFitNoOverlap(t *testing.T) {
	for _, length := range []float64{60, 120, 380, 1000} {
		for _, r := range [][2]float64{{0, 30000}, {-2.181, -2.113}, {1, 250}, {1e6, 3e6}} {
			v, labels := Fit(r[0], r[1], Axis{Length: length, CharWidth: 6.5, Gap: 8, Integer: true})
			if len(v) != len(labels) || len(v) < 2 {
				t.Fatalf("Fit(%v, %v): %v %v", r[0], r[1], v, labels)
			}
			var width float64
			for _, l := range labels {
				width = math.Max(width, float64(len(l))*6.5+8)
			}
			if gap := length / float64(len(v)-1); gap < width && len(v) > 2 {
				t.Errorf("axis %vpx, range %v: %d labels %v of up to %.0fpx at %.0fpx apart overlap", length, r, len(v), labels, width, gap)
			}
		}
	}
	// Vertical labels: one text line (height) each.
	v, _ := Fit(0, 1, Axis{Length: 100, Gap: 16})
	if len(v) > 100/16+1 {
		t.Errorf("vertical axis of 100px: %d ticks", len(v))
	}
}
