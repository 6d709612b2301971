package train

import "math"

// The loops of the host optimizer (adamw_host.go): one pass each over a chunk
// of a parameter, its gradient and its moments. adamw_kernels_simd.go runs
// them 8 floats at a time where the build and the CPU allow (amd64 with
// GOEXPERIMENT=simd and AVX2); both forms do the same float32 operations in
// the same order, so they give the same bits (TestAdamWKernelsMatchScalar).

// adamwHyper are AdamW's constants for one step, as hostAdamW computes them:
// the update of w with gradient g (times scale) is
//
//	m1 = b1·m1 + c1·g;  m2 = b2·m2 + c2·g²
//	w  = (w − lr·(m1·d1)/(√(m2·d2) + eps)) − decay·w
type adamwHyper struct {
	scale, b1, c1, b2, c2, lr, d1, d2, eps, decay float32
}

// adamwChunk applies one AdamW update to w, m1, m2 from g (equal lengths).
func adamwChunk(h adamwHyper, w, m1, m2, g []float32) {
	n := len(w)
	done := 0
	if useSIMD {
		done = adamwSIMD(h, w, m1, m2, g)
	}
	adamwScalar(h, w[done:n], m1[done:n], m2[done:n], g[done:n])
}

func adamwScalar(h adamwHyper, w, m1, m2, g []float32) {
	m1, m2, g = m1[:len(w)], m2[:len(w)], g[:len(w)]
	for j := range w {
		gj := g[j] * h.scale
		m := h.b1*m1[j] + h.c1*gj
		s := h.b2*m2[j] + h.c2*(gj*gj)
		m1[j], m2[j] = m, s
		upd := h.lr * (m * h.d1) / (sqrt32(s*h.d2) + h.eps)
		wj := w[j]
		w[j] = (wj - upd) - h.decay*wj
	}
}

// sumSquares is Σ x² (float32 partial sums of at most a chunk, added in
// float64 by the caller).
func sumSquares(x []float32) float64 {
	done := 0
	var s float64
	if useSIMD {
		done, s = sumSquaresSIMD(x)
	}
	for _, v := range x[done:] {
		s += float64(v) * float64(v)
	}
	return s
}

// addInto does a += b (equal lengths).
func addInto(a, b []float32) {
	done := 0
	if useSIMD {
		done = addSIMD(a, b)
	}
	b = b[:len(a)]
	for j := done; j < len(a); j++ {
		a[j] += b[j]
	}
}

// sqrt32 is the float32 square root (exact: float64's, rounded once).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
