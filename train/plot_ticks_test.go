package train

import (
	"math"
	"strconv"
	"testing"

	"gonum.org/v1/plot"
)

// TestPlotTicks: the PNG plots' axes use round ticks (1, 2 or 5 × 10^k)
// with distinct labels, where gonum's default ticker labels the demo's
// reward range -2.181..-2.113 as "-2.2 -2.2 -2.1 -2.1" and steps 1..30000
// as 4000, 16000, 28000; the step axis never shows 1.5.
func TestPlotTicks(t *testing.T) {
	p := newMetricsPlot("t")
	for _, tc := range []struct {
		ticker   plot.Ticker
		min, max float64
	}{{p.Y.Tick.Marker, -2.181, -2.113}, {p.X.Tick.Marker, 1, 30000}, {p.Y.Tick.Marker, 123456, 123472}, {p.X.Tick.Marker, 1, 3},
		{p.Y.Tick.Marker, 0.97, 1.03}} {
		var vals []float64
		seen := map[string]bool{}
		for _, tk := range tc.ticker.Ticks(tc.min, tc.max) {
			if tk.Label == "" {
				continue
			}
			v, err := strconv.ParseFloat(tk.Label, 64)
			if err != nil || seen[tk.Label] || math.Abs(v-tk.Value) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Errorf("[%v, %v]: label %q of %v (repeated %v)", tc.min, tc.max, tk.Label, tk.Value, seen[tk.Label])
			}
			seen[tk.Label] = true
			vals = append(vals, v)
		}
		if len(vals) < 3 {
			t.Errorf("[%v, %v]: ticks %v", tc.min, tc.max, vals)
			continue
		}
		step := vals[1] - vals[0]
		e := math.Floor(math.Log10(step) + 1e-9)
		m := step / math.Pow(10, e)
		if math.Abs(m-1) > 1e-6 && math.Abs(m-2) > 1e-6 && math.Abs(m-5) > 1e-6 {
			t.Errorf("[%v, %v]: step %v of %v is not 1, 2 or 5 × 10^k", tc.min, tc.max, step, vals)
		}
		if tc.max == 3 && step != 1 {
			t.Errorf("steps 1..3: ticks %v", vals)
		}
	}
}
