package train

import (
	"slices"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/model"
)

// BenchmarkHostVsGraphAdamW times SFT steps at bench's "mid" shape (gpt2
// 6×512, vocab 257, 4×128 tokens) with AdamW on the host and in a graph,
// alternating step by step (and which goes first) in one process so that a
// shared machine's load hits both alike. It reports the median milliseconds of Micro (forward +
// backward) and Step (clipping + AdamW) for each. Run it alone:
//
//	go test ./train -run '^$' -bench HostVsGraph -benchtime 1x
func BenchmarkHostVsGraphAdamW(b *testing.B) {
	const vocab, layers, hidden, heads, batch, seq, rounds = 257, 6, 512, 8, 4, 128, 8
	backend, err := NewBackend("go")
	if err != nil {
		b.Fatal(err)
	}
	bt := benchBatch(vocab, batch, seq)
	type variant struct {
		name        string
		opt         *Optimizer
		micro, step []float64
	}
	var vs []*variant
	for _, host := range []bool{true, false} {
		cfg, err := model.NewConfig(model.ArchGPT2, vocab, layers, hidden, heads, 0)
		if err != nil {
			b.Fatal(err)
		}
		m, err := model.New(cfg, 1)
		if err != nil {
			b.Fatal(err)
		}
		name := "graph"
		if host {
			name = "host"
		}
		vs = append(vs, &variant{name: name, opt: newOptimizer(backend, m.Store, SFTLoss(m), OptimizerConfig{WeightDecay: 0.01, ClipGrad: 1}, host)})
	}
	run := func(v *variant, record bool) {
		t0 := time.Now()
		if _, err := v.opt.Micro(SFTInputs(bt)...); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := v.opt.Step(1e-4); err != nil {
			b.Fatal(err)
		}
		if record {
			v.micro = append(v.micro, t1.Sub(t0).Seconds()*1000)
			v.step = append(v.step, time.Since(t1).Seconds()*1000)
		}
	}
	for _, v := range vs {
		run(v, false) // compilation
	}
	for b.Loop() {
		for r := range rounds {
			// Alternate which goes first.
			run(vs[r%2], true)
			run(vs[1-r%2], true)
		}
	}
	median := func(x []float64) float64 {
		x = slices.Clone(x)
		slices.Sort(x)
		return x[len(x)/2]
	}
	for _, v := range vs {
		b.ReportMetric(median(v.micro), v.name+"-micro-ms")
		b.ReportMetric(median(v.step), v.name+"-step-ms")
		b.ReportMetric(float64(batch*seq)/(median(v.micro)+median(v.step))*1000, v.name+"-tokens/s")
	}
}
