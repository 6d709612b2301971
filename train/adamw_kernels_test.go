package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func randomFloats(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = scale * float32(r.NormFloat64())
	}
	return x
}

// The SIMD kernels (where this build and CPU have them) give the scalar
// loop's bits, at lengths with and without a tail.
func TestAdamWKernelsMatchScalar(t *testing.T) {
	t.Logf("SIMD kernels in this build: %v", useSIMD)
	r := rand.New(rand.NewPCG(1, 2))
	h := adamwHyper{scale: 0.37, b1: 0.9, c1: 0.1, b2: 0.999, c2: 0.001, lr: 1e-3, d1: 1 / (1 - 0.9*0.9), d2: 1 / (1 - 0.999*0.999), eps: 1e-8, decay: 1e-5}
	for _, n := range []int{0, 1, 7, 8, 9, 16, 17, 1000, 4099} {
		w, g := randomFloats(r, n, 1), randomFloats(r, n, 3)
		m1 := randomFloats(r, n, 0.1)
		m2 := randomFloats(r, n, 0.1)
		for i := range m2 {
			m2[i] *= m2[i] // a second moment is ≥ 0
		}
		w0, w2, m12, m22 := slices.Clone(w), slices.Clone(w), slices.Clone(m1), slices.Clone(m2)
		adamwChunk(h, w, m1, m2, g)
		adamwScalar(h, w2, m12, m22, g)
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(w2[i]) || m1[i] != m12[i] || m2[i] != m22[i] {
				t.Fatalf("n=%d, value %d: kernel (w %v, m1 %v, m2 %v), scalar (%v, %v, %v)", n, i, w[i], m1[i], m2[i], w2[i], m12[i], m22[i])
			}
		}
		if n > 0 && slices.Equal(w, w0) {
			t.Fatalf("n=%d: the update changed no weight", n)
		}

		a, a2 := slices.Clone(g), slices.Clone(g)
		addInto(a, w)
		for i := range a2 {
			a2[i] += w[i]
		}
		if !slices.Equal(a, a2) {
			t.Fatalf("n=%d: addInto differs from a += b", n)
		}

		var want float64
		for _, v := range g {
			want += float64(v) * float64(v)
		}
		if got := sumSquares(g); math.Abs(got-want) > 1e-5*want {
			t.Fatalf("n=%d: sumSquares %v, want %v", n, got, want)
		}
	}
}

// BenchmarkAdamWKernels times one AdamW pass over 16M parameters (about
// bench's mid shape) with the kernels of this build and with the scalar
// loop, alternating in one process; it reports the median milliseconds of
// each. Run it alone:
//
//	go test ./train -run '^$' -bench AdamWKernels -benchtime 1x
func BenchmarkAdamWKernels(b *testing.B) {
	const n, rounds = 16 << 20, 6
	r := rand.New(rand.NewPCG(1, 2))
	w, g, m1, m2 := randomFloats(r, n, 1), randomFloats(r, n, 1), make([]float32, n), make([]float32, n)
	data := [][]float32{w}
	h := adamwHyper{scale: 1, b1: 0.9, c1: 0.1, b2: 0.999, c2: 0.001, lr: 1e-4, d1: 1, d2: 1, eps: 1e-8}
	pass := func(f func(adamwHyper, []float32, []float32, []float32, []float32)) float64 {
		t0 := time.Now()
		parallelChunks(data, func(_, lo, hi int) { f(h, w[lo:hi], m1[lo:hi], m2[lo:hi], g[lo:hi]) })
		return time.Since(t0).Seconds() * 1000
	}
	var kern, scal []float64
	for b.Loop() {
		for r := range rounds {
			if r%2 == 0 {
				kern = append(kern, pass(adamwChunk))
				scal = append(scal, pass(adamwScalar))
			} else {
				scal = append(scal, pass(adamwScalar))
				kern = append(kern, pass(adamwChunk))
			}
		}
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(kern), "kernel-ms")
	b.ReportMetric(med(scal), "scalar-ms")
}
