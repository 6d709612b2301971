package report

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

var (
	yTickRE = regexp.MustCompile(`<text x="\d+" y="[\d.]+" font-size="11" text-anchor="end">([^<]*)</text>`)
	xTickRE = regexp.MustCompile(`<text x="([\d.]+)" y="[\d.]+" font-size="11" text-anchor="middle" class="xtick">([^<]*)</text>`)
)

// TestSVGTicks: the report's plots label their axes with distinct round
// values (steps of 1, 2 or 5 × 10^k) that do not overlap, even for values
// that differ only in their last digits and for long runs.
func TestSVGTicks(t *testing.T) {
	var x, y []float64
	for s := 1; s <= 30000; s += 100 {
		x = append(x, float64(s))
		y = append(y, 123456+float64(s%17))
	}
	svg := svgPlot("t", "step", "y", []series{{name: "a", x: x, y: y}})
	check := func(axis string, labels []string) {
		t.Helper()
		if len(labels) < 3 {
			t.Fatalf("%s: %d tick labels %v", axis, len(labels), labels)
		}
		seen := map[string]bool{}
		var vals []float64
		for _, l := range labels {
			v, err := strconv.ParseFloat(l, 64)
			if err != nil || seen[l] {
				t.Fatalf("%s: labels %v: %q repeated or not a number", axis, labels, l)
			}
			seen[l] = true
			vals = append(vals, v)
		}
		step := vals[1] - vals[0]
		e := math.Floor(math.Log10(math.Abs(step)) + 1e-9)
		m := math.Abs(step) / math.Pow(10, e)
		if math.Abs(m-1) > 1e-6 && math.Abs(m-2) > 1e-6 && math.Abs(m-5) > 1e-6 {
			t.Errorf("%s: step %v is not 1, 2 or 5 × 10^k (labels %v)", axis, step, labels)
		}
	}
	var ys []string
	for _, m := range yTickRE.FindAllStringSubmatch(svg, -1) {
		ys = append(ys, m[1])
	}
	check("y", ys)
	var xs []string
	var lastRight float64 = -1
	for _, m := range xTickRE.FindAllStringSubmatch(svg, -1) {
		xs = append(xs, m[2])
		pos, _ := strconv.ParseFloat(m[1], 64)
		half := float64(len(m[2])) * 6.5 / 2
		if pos-half < lastRight {
			t.Errorf("x labels overlap at %q", m[2])
		}
		lastRight = pos + half
	}
	check("x", xs)
}
