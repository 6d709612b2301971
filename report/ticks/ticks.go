// Package ticks chooses the tick values and labels of a plot axis, for the
// report's SVG plots and the training PNG plots alike: round values (steps
// of 1, 2 or 5 × 10^k), labels with just the decimals the step needs (so two
// ticks never read alike), and few enough ticks that the labels do not
// overlap on the axis's length.
package ticks

import (
	"math"
	"strconv"
)

// Nice returns at most max (≥ 2; ≥ 3 for a range across zero) evenly spaced round tick values covering
// [lo, hi], and their step: the smallest of 1, 2 or 5 × 10^k that needs no
// more than max ticks. integer keeps the step at 1 or more (an axis of
// whole steps has no 1.5). A range of one value is widened around it.
func Nice(lo, hi float64, max int, integer bool) ([]float64, float64) {
	if max < 2 {
		max = 2
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return []float64{0, 1}, 1
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		d := math.Abs(lo) * 0.1
		if d == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	if lo < 0 && hi > 0 {
		max = int(math.Max(float64(max), 3)) // -x, 0, x at least
	}
	e0 := math.Floor(math.Log10((hi-lo)/float64(max))) - 1
	for e := e0; e < e0+30; e++ {
		for _, m := range []float64{1, 2, 5} {
			step := m * math.Pow(10, e)
			if integer && step < 1 {
				continue
			}
			a := math.Floor(lo/step + 1e-9)
			b := math.Ceil(hi/step - 1e-9)
			if b-a+1 > float64(max) {
				continue
			}
			if b == a {
				b++
			}
			var out []float64
			for k := a; k <= b; k++ {
				// Through decimal text, so 3 × 0.1 is 0.3.
				v, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'g', 12, 64), 64)
				out = append(out, v)
			}
			return out, step
		}
	}
	return []float64{lo, hi}, hi - lo // not reached: a step of 10 × (hi−lo) needs 2 or 3 ticks
}

// Label formats tick value v of an axis with the given step: as many
// decimals as the step needs, in exponent form for |v| ≥ 10^6 or steps
// below 10^-5, "0" for zero (never "-0").
func Label(v, step float64) string {
	if math.Abs(v) < step*1e-9 {
		return "0"
	}
	se := math.Floor(math.Log10(step) + 1e-9)
	if math.Abs(v) >= 1e6 || se < -5 {
		digits := int(math.Max(0, math.Floor(math.Log10(math.Abs(v))+1e-9)-se))
		return strconv.FormatFloat(v, 'e', digits, 64)
	}
	return strconv.FormatFloat(v, 'f', int(math.Max(0, -se)), 64)
}

// Axis is an axis for Fit, in pixels (or any one length unit).
type Axis struct {
	// Length is the axis's length.
	Length float64
	// CharWidth is the width of a label character on a horizontal axis,
	// whose labels sit side by side; 0 for a vertical axis, whose labels
	// stack.
	CharWidth float64
	// Gap is the least space between two labels: on a vertical axis, the
	// height of a label line.
	Gap float64
	// Integer keeps the step at 1 or more.
	Integer bool
}

// Fit returns the most ticks (at most 10) covering [lo, hi] whose labels
// fit side by side (or one above the other) on the axis without
// overlapping, and the labels.
func Fit(lo, hi float64, a Axis) ([]float64, []string) {
	var v []float64
	var labels []string
	for max := 10; max >= 2; max-- {
		var step float64
		v, step = Nice(lo, hi, max, a.Integer)
		labels = labels[:0]
		need := a.Gap
		for _, x := range v {
			l := Label(x, step)
			labels = append(labels, l)
			need = math.Max(need, float64(len(l))*a.CharWidth+a.Gap)
		}
		if len(v) <= 2 || a.Length*step/(v[len(v)-1]-v[0]) >= need {
			break
		}
	}
	return v, labels
}
