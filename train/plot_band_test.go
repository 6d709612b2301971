package train

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestPlotBandAndLegendBelow: a key with a band is drawn as mean ± std (the
// std is no line of its own, so the axis is the mean's), and the legend
// sits in a strip below the plot: the bottom rows of the image have ink,
// and the top-right corner of the data area, where gonum put the legend,
// is blank.
func TestPlotBandAndLegendBelow(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, MetricsFile), []byte(`{"step":1,"m":-1,"s":0.4,"x":-1.1}
{"step":2,"m":-1.5,"s":0.3,"x":-1.6}
{"step":3,"m":-2,"s":0.2,"x":-2.2}
`), 0o644)
	files, err := PlotMetrics(dir, []Plot{{File: "r.png", Title: "reward", Keys: []string{"m", "x"}, Bands: map[string]string{"m": "s"}}})
	if err != nil || len(files) != 1 {
		t.Fatalf("%v %v", files, err)
	}
	f, _ := os.Open(files[0])
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	ink := func(x0, y0, x1, y1 int) int {
		n := 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				if r, g, bb, _ := img.At(x, y).RGBA(); r < 0xc000 || g < 0xc000 || bb < 0xc000 {
					n++
				}
			}
		}
		return n
	}
	h, w := b.Dy(), b.Dx()
	if ink(0, h-h/12, w, h) == 0 {
		t.Error("no legend in the strip below the plot")
	}
	// gonum's default legend place: top right inside the data area.
	if n := ink(w-w/4, h/8, w-w/40, h/4); n > 0 {
		t.Errorf("%d dark pixels where an in-plot legend would be", n)
	}
}
