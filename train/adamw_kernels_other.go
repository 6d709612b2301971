//go:build !(amd64 && goexperiment.simd)

package train

// useSIMD is false: this build has no SIMD kernels (amd64 with
// GOEXPERIMENT=simd has them).
const useSIMD = false

func adamwSIMD(adamwHyper, []float32, []float32, []float32, []float32) int { return 0 }
func sumSquaresSIMD([]float32) (int, float64)                              { return 0, 0 }
func addSIMD(_, _ []float32) int                                           { return 0 }
