package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/report/ticks"
)

// MetricsFile is the name of the metrics log inside a run's output folder.
const MetricsFile = "metrics.jsonl"

// Metrics is one logging step: metric name → value. The "step" entry is the
// optimizer step the values belong to. Non-finite values are written as null.
type Metrics map[string]float64

// MetricsLog appends one JSON object per logging step to metrics.jsonl.
type MetricsLog struct {
	path string
	f    *os.File
}

// OpenMetricsLog opens dir/metrics.jsonl for appending. When resuming from
// step resumeStep (> 0), lines of steps after it (logged by the interrupted
// run after its last checkpoint) are dropped first, so the log reads as one
// uninterrupted run; with resumeStep 0 the file is started afresh.
func OpenMetricsLog(dir string, resumeStep int) (*MetricsLog, error) {
	path := filepath.Join(dir, MetricsFile)
	var keep []byte
	if resumeStep > 0 {
		old, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(old))
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var m struct {
				Step *float64 `json:"step"`
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.Step == nil || int(*m.Step) > resumeStep {
				continue
			}
			keep = append(keep, sc.Bytes()...)
			keep = append(keep, '\n')
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, keep, 0o644); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &MetricsLog{path: path, f: f}, nil
}

// Path is the file being written.
func (l *MetricsLog) Path() string { return l.path }

// Write appends one line.
func (l *MetricsLog) Write(m Metrics) error {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out[k] = nil
		} else {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = l.f.Write(append(b, '\n'))
	return err
}

// Close flushes and closes the log.
func (l *MetricsLog) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// ReadMetrics reads a metrics.jsonl file.
func ReadMetrics(path string) ([]Metrics, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Metrics
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	line := 0
	for sc.Scan() {
		line++
		var m map[string]*float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		mm := Metrics{}
		for k, v := range m {
			if v == nil {
				mm[k] = math.NaN()
			} else {
				mm[k] = *v
			}
		}
		out = append(out, mm)
	}
	return out, sc.Err()
}

// Plot is one PNG of curves against the step.
type Plot struct {
	// File is the PNG file name, e.g. "loss.png".
	File string
	// Title is drawn above the plot.
	Title string
	// Keys are the metrics drawn, one line each; keys absent from the log are
	// skipped, and a plot with no data is not written.
	Keys []string
	// Bands maps a key to the key of its standard deviation, drawn as a
	// band (key ± std) under its line rather than as a line of its own.
	Bands map[string]string
}

// PlotMetrics draws the plots from metrics.jsonl in dir into dir. It returns
// the files written.
func PlotMetrics(dir string, plots []Plot) ([]string, error) {
	rows, err := ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		return nil, err
	}
	var written []string
	for _, pl := range plots {
		p := newMetricsPlot(pl.Title)
		var lines []any
		for _, key := range pl.Keys {
			var pts plotter.XYs
			var band []float64
			for _, r := range rows {
				v, ok := r[key]
				s, hasStep := r["step"]
				if ok && hasStep && !math.IsNaN(v) && !math.IsInf(v, 0) {
					pts = append(pts, plotter.XY{X: s, Y: v})
					if sd, ok := r[pl.Bands[key]]; ok && !math.IsNaN(sd) && !math.IsInf(sd, 0) {
						band = append(band, sd)
					} else {
						band = append(band, 0)
					}
				}
			}
			if len(pts) == 0 {
				continue
			}
			idx := make([]int, len(pts))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(i, j int) bool { return pts[idx[i]].X < pts[idx[j]].X })
			sorted := make(plotter.XYs, len(pts))
			for i, k := range idx {
				sorted[i] = pts[k]
			}
			name := key
			if std := pl.Bands[key]; std != "" {
				// The band: key ± std, a filled polygon under the line.
				poly := make(plotter.XYs, 0, 2*len(sorted))
				for i, k := range idx {
					poly = append(poly, plotter.XY{X: sorted[i].X, Y: sorted[i].Y + band[k]})
				}
				for i := len(idx) - 1; i >= 0; i-- {
					poly = append(poly, plotter.XY{X: sorted[i].X, Y: sorted[i].Y - band[idx[i]]})
				}
				if pg, err := plotter.NewPolygon(poly); err == nil {
					r, g, b, _ := plotutil.Color(len(lines) / 2).RGBA()
					pg.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 50}
					pg.LineStyle.Width = 0
					p.Add(pg)
				}
				name = key + " (band: ± " + std + ")"
			}
			lines = append(lines, name, sorted)
		}
		if len(lines) == 0 {
			continue
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return written, fmt.Errorf("plot %s: %w", pl.File, err)
		}
		// The y range ends on round ticks.
		if v, _ := ticks.Fit(p.Y.Min, p.Y.Max, yAxis); len(v) > 0 {
			p.Y.Min, p.Y.Max = math.Min(p.Y.Min, v[0]), math.Max(p.Y.Max, v[len(v)-1])
		}
		buf, err := drawWithLegendBelow(p, 8*vg.Inch, 5*vg.Inch)
		if err != nil {
			return written, fmt.Errorf("plot %s: %w", pl.File, err)
		}
		path := filepath.Join(dir, pl.File)
		if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// The PNG plots' axes for ticks.Fit, in points of an 8×5 inch image with
// gonum's 10-point tick labels (conservative lengths of the data area).
var (
	xAxis = ticks.Axis{Length: 440, CharWidth: 6, Gap: 14, Integer: true}
	yAxis = ticks.Axis{Length: 200, Gap: 16}
)

// roundTicks is the plots' plot.Ticker: ticks.Fit's round values and
// labels, inside the axis range. On the step axis (Integer), a range of
// whole numbers gets whole ticks.
type roundTicks struct{ axis ticks.Axis }

func (r roundTicks) Ticks(min, max float64) []plot.Tick {
	a := r.axis
	a.Integer = a.Integer && min == math.Trunc(min) && max == math.Trunc(max)
	v, labels := ticks.Fit(min, max, a)
	eps := 1e-9 * (max - min)
	var out []plot.Tick
	for i, x := range v {
		if x >= min-eps && x <= max+eps {
			out = append(out, plot.Tick{Value: x, Label: labels[i]})
		}
	}
	return out
}

// newMetricsPlot is a plot of metrics against the step, with round,
// non-overlapping ticks on both axes.
func newMetricsPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.X.Tick.Marker = roundTicks{xAxis}
	p.Y.Tick.Marker = roundTicks{yAxis}
	return p
}

// drawWithLegendBelow renders p as PNG with its legend in a strip below the
// plot, never over the data.
func drawWithLegendBelow(p *plot.Plot, w, h vg.Length) (*bytes.Buffer, error) {
	leg := p.Legend
	p.Legend = plot.NewLegend()
	leg.Top, leg.Left = true, true
	rows := vg.Length(0)
	entry := leg.TextStyle.Height("M") + 2
	// The entries' count is not exported: measure the legend's height.
	c := vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	dc := draw.New(c)
	rows = leg.Rectangle(dc).Size().Y + entry/2
	p.Draw(draw.Crop(dc, 0, 0, rows, 0))
	leg.XOffs = 8 * vg.Millimeter
	leg.Draw(draw.Crop(dc, 0, 0, 0, -(h - rows)))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return &buf, nil
}
