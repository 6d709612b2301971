//go:build amd64 && goexperiment.simd

package train

import "simd/archsimd"

// useSIMD: the CPU has AVX2 (every x86-64 since 2013-2015).
var useSIMD = archsimd.X86.AVX2()

// adamwSIMD updates the first multiple of 8 values and returns how many.
func adamwSIMD(h adamwHyper, w, m1, m2, g []float32) int {
	n := len(w) &^ 7
	m1, m2, g = m1[:len(w)], m2[:len(w)], g[:len(w)]
	scale := archsimd.BroadcastFloat32x8(h.scale)
	b1, c1 := archsimd.BroadcastFloat32x8(h.b1), archsimd.BroadcastFloat32x8(h.c1)
	b2, c2 := archsimd.BroadcastFloat32x8(h.b2), archsimd.BroadcastFloat32x8(h.c2)
	lr, d1, d2 := archsimd.BroadcastFloat32x8(h.lr), archsimd.BroadcastFloat32x8(h.d1), archsimd.BroadcastFloat32x8(h.d2)
	eps, decay := archsimd.BroadcastFloat32x8(h.eps), archsimd.BroadcastFloat32x8(h.decay)
	for j := 0; j < n; j += 8 {
		gj := archsimd.LoadFloat32x8(g[j:]).Mul(scale)
		m := b1.Mul(archsimd.LoadFloat32x8(m1[j:])).Add(c1.Mul(gj))
		s := b2.Mul(archsimd.LoadFloat32x8(m2[j:])).Add(c2.Mul(gj.Mul(gj)))
		m.Store(m1[j:])
		s.Store(m2[j:])
		upd := lr.Mul(m.Mul(d1)).Div(s.Mul(d2).Sqrt().Add(eps))
		wj := archsimd.LoadFloat32x8(w[j:])
		wj.Sub(upd).Sub(decay.Mul(wj)).Store(w[j:])
	}
	return n
}

// sumSquaresSIMD returns how many leading values it summed and Σ x² of them.
func sumSquaresSIMD(x []float32) (int, float64) {
	n := len(x) &^ 15
	var a0, a1 archsimd.Float32x8
	for j := 0; j < n; j += 16 {
		v0, v1 := archsimd.LoadFloat32x8(x[j:]), archsimd.LoadFloat32x8(x[j+8:])
		a0 = a0.Add(v0.Mul(v0))
		a1 = a1.Add(v1.Mul(v1))
	}
	var lanes [8]float32
	a0.Add(a1).Store(lanes[:])
	var s float64
	for _, v := range lanes {
		s += float64(v)
	}
	return n, s
}

// addSIMD does a += b on the first multiple of 8 values and returns how many.
func addSIMD(a, b []float32) int {
	n := len(a) &^ 7
	b = b[:len(a)]
	for j := 0; j < n; j += 8 {
		archsimd.LoadFloat32x8(a[j:]).Add(archsimd.LoadFloat32x8(b[j:])).Store(a[j:])
	}
	return n
}
