package prompts

import (
	"path/filepath"
	"testing"
)

func BenchmarkProfTmp(b *testing.B) {
	dir := b.TempDir()
	specs := synth(b, dir, 40_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(b, Options{Sources: specs, Total: 10_000, Out: filepath.Join(dir, "out")})
	}
}
