package report

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/rlhf-project/rlhf/report/ticks"
)

// series is one line of a plot: y against x, with an optional band
// (y ± band) drawn under it.
type series struct {
	name string
	x, y []float64
	band []float64
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// svgPlot draws one quantity (one y axis) over steps as an inline SVG: the
// legend goes below the plot area, never over the data, and the ticks are
// round numbers.
func svgPlot(title, xlabel, ylabel string, ss []series) string {
	const W, H, right, top, bottom = 460, 300, 16, 28, 46
	left := 64 // widened below for long y labels
	pw, ph := float64(W-left-right), float64(H-top-bottom-22*((len(ss)+1)/2))
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for i := range s.x {
			if math.IsNaN(s.y[i]) || math.IsInf(s.y[i], 0) {
				continue
			}
			b := 0.0
			if s.band != nil {
				b = s.band[i]
			}
			xmin, xmax = math.Min(xmin, s.x[i]), math.Max(xmax, s.x[i])
			ymin, ymax = math.Min(ymin, s.y[i]-b), math.Max(ymax, s.y[i]+b)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="plot" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, W, H, W, H, html.EscapeString(title))
	fmt.Fprintf(&sb, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, left, html.EscapeString(title))
	if math.IsInf(xmin, 0) {
		fmt.Fprintf(&sb, `<text x="%d" y="%d" font-size="12">no data</text></svg>`, left, top+40)
		return sb.String()
	}
	if xmax == xmin {
		xmin, xmax = xmin-1, xmax+1
	}
	// Round ticks whose labels do not overlap: the y range grows to its
	// outer ticks; x ticks outside the steps are left out.
	yt, ylabels := ticks.Fit(ymin, ymax, ticks.Axis{Length: ph, Gap: 16})
	ymin, ymax = math.Min(ymin, yt[0]), math.Max(ymax, yt[len(yt)-1])
	for _, l := range ylabels {
		if w := int(float64(len(l))*6.5) + 22; w > left {
			left = w
		}
	}
	pw = float64(W - left - right)
	X := func(x float64) float64 { return float64(left) + (x-xmin)/(xmax-xmin)*pw }
	Y := func(y float64) float64 { return float64(top) + (ymax-y)/(ymax-ymin)*ph }
	// Axes, grid and ticks.
	fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`, left, top, pw, ph)
	for i, v := range yt {
		fmt.Fprintf(&sb, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`,
			left, float64(left)+pw, Y(v), Y(v), left-4, Y(v)+4, ylabels[i])
	}
	// Steps are whole numbers: no 1.5.
	whole := xmin == math.Trunc(xmin) && xmax == math.Trunc(xmax)
	xt, xlabels := ticks.Fit(xmin, xmax, ticks.Axis{Length: pw, CharWidth: 6.5, Gap: 10, Integer: whole})
	for i, v := range xt {
		if v < xmin-1e-9*(xmax-xmin) || v > xmax+1e-9*(xmax-xmin) {
			continue
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" class="xtick">%s</text>`, X(v), float64(top)+ph+14, xlabels[i])
	}
	fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`, float64(left)+pw/2, float64(top)+ph+28, html.EscapeString(xlabel))
	fmt.Fprintf(&sb, `<text x="12" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 12 %.1f)">%s</text>`, float64(top)+ph/2, float64(top)+ph/2, html.EscapeString(ylabel))
	for k, s := range ss {
		c := palette[k%len(palette)]
		if s.band != nil {
			var pts []string
			for i := range s.x {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(s.x[i]), Y(s.y[i]+s.band[i])))
			}
			for i := len(s.x) - 1; i >= 0; i-- {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(s.x[i]), Y(s.y[i]-s.band[i])))
			}
			fmt.Fprintf(&sb, `<polygon points="%s" fill="%s" fill-opacity="0.18" stroke="none"/>`, strings.Join(pts, " "), c)
		}
		var pts []string
		for i := range s.x {
			if !math.IsNaN(s.y[i]) && !math.IsInf(s.y[i], 0) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(s.x[i]), Y(s.y[i])))
			}
		}
		fmt.Fprintf(&sb, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8"/>`, strings.Join(pts, " "), c)
		if len(pts) == 1 {
			fmt.Fprintf(&sb, `<circle cx="%s" r="3" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), c)
		}
		// Legend below the plot area.
		lx := float64(left) + float64(k%2)*pw/2
		ly := float64(top) + ph + 44 + float64(k/2)*18
		name := s.name
		if s.band != nil {
			name += " (band: ± std)"
		}
		fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f" font-size="11">%s</text>`,
			lx, lx+18, ly-4, ly-4, c, lx+22, ly, html.EscapeString(name))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}
