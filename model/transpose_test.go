package model

import (
	"testing"
	"time"
)

func TestTransposeInto(t *testing.T) {
	for _, rc := range [][2]int{{1, 1}, {3, 5}, {64, 64}, {70, 45}, {130, 200}} {
		rows, cols := rc[0], rc[1]
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, rows*cols)
		transposeInto(dst, src, rows, cols)
		for r := range rows {
			for c := range cols {
				if dst[c*rows+r] != src[r*cols+c] {
					t.Fatalf("%d×%d: [%d,%d] is %v, want %v", rows, cols, c, r, dst[c*rows+r], src[r*cols+c])
				}
			}
		}
	}
}

// BenchmarkTransposeInto: the decoder's refresh of a Qwen2-100m-sized LM
// head (32000×768), in elements per second.
func BenchmarkTransposeInto(b *testing.B) {
	rows, cols := 32000, 768
	src := make([]float32, rows*cols)
	dst := make([]float32, rows*cols)
	transposeInto(dst, src, rows, cols)
	for b.Loop() {
		t0 := time.Now()
		transposeInto(dst, src, rows, cols)
		b.ReportMetric(float64(rows*cols)/time.Since(t0).Seconds()/1e9, "Gelem/s")
	}
}

// DecoderCopies counts what the go backend's decoder copies.
func TestDecoderCopies(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchBloom} {
		m := tinyModel(t, arch)
		dec, err := NewDecoder(testBackend(), m)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, name := range dec.inOut {
			n += int64(m.Variable(name).Shape().Size())
		}
		if got := DecoderCopies(m.Config); got != n || n == 0 {
			t.Errorf("%s: DecoderCopies %d, the decoder copies %d weights", arch, got, n)
		}
	}
}
