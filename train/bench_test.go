package train

import (
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// benchSFTStep measures one SFT update (forward, backward, clipping, AdamW)
// on random tokens, reporting training tokens per second. Compilation is
// excluded (one warm-up update).
func benchSFTStep(b *testing.B, vocab, layers, hidden, heads, batch, seq int) {
	cfg, err := model.NewConfig(model.ArchGPT2, vocab, layers, hidden, heads, 0)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxPositions = max(seq, 1024)
	m, err := model.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	backend, err := NewBackend("go")
	if err != nil {
		b.Fatal(err)
	}
	opt := NewOptimizer(backend, m.Store, SFTLoss(m), OptimizerConfig{WeightDecay: 0.01, ClipGrad: 1})
	bt := benchBatch(vocab, batch, seq)
	step := func() {
		if _, err := opt.Micro(SFTInputs(bt)...); err != nil {
			b.Fatal(err)
		}
		if _, err := opt.Step(1e-4); err != nil {
			b.Fatal(err)
		}
	}
	step()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(batch*seq)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkSFTStepTiny: 2 layers, hidden 128, byte-level vocab, 8×256 tokens.
func BenchmarkSFTStepTiny(b *testing.B) { benchSFTStep(b, 257, 2, 128, 4, 8, 256) }

// BenchmarkSFTStepGPT2Small: GPT-2 small's shape (12 layers, hidden 768,
// 12 heads, vocab 50257), 1×256 tokens. Minutes on 2 cores: run it alone,
// e.g. go test ./train -run XXX -bench GPT2Small -benchtime 2x.
func BenchmarkSFTStepGPT2Small(b *testing.B) { benchSFTStep(b, 50257, 12, 768, 12, 1, 256) }
