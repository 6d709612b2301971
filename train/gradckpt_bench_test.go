package train

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/model"
)

// rssChildEnv selects the child mode of BenchmarkGradCheckpointPeakRSS.
const rssChildEnv = "RLHF_RSS_CHILD"

// maxRSSKiB is the peak resident set size of this process (Linux: KiB).
func maxRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return int64(ru.Maxrss)
}

// rssChild runs one SFT update (forward, backward, AdamW) at GPT-2 small's
// shape on 4×512 tokens in mode "full", "full+ckpt", "lora" or
// "lora+ckpt", and prints its peak RSS.
func rssChild(b *testing.B, mode string) {
	const vocab, layers, hidden, heads, batch, seq = 50257, 12, 768, 12, 4, 512
	cfg, err := model.NewConfig(model.ArchGPT2, vocab, layers, hidden, heads, 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.GradCheckpoint = strings.HasSuffix(mode, "+ckpt")
	if strings.HasPrefix(mode, "lora") {
		if err := m.AddLoRA(model.LoRA{Rank: 16, Alpha: 32, Targets: []string{model.AllLinear}}, 1); err != nil {
			b.Fatal(err)
		}
	}
	weights := maxRSSKiB()
	backend, err := NewBackend("go")
	if err != nil {
		b.Fatal(err)
	}
	opt := NewOptimizer(backend, m.Store, SFTLoss(m), OptimizerConfig{ClipGrad: 1})
	bt := benchBatch(vocab, batch, seq)
	start := time.Now()
	r, err := opt.Micro(SFTInputs(bt)...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := opt.Step(1e-4); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("RSS_RESULT %s %d %d %.1f %.6f\n", mode, maxRSSKiB(), weights, time.Since(start).Seconds(), r.Loss)
}

// BenchmarkGradCheckpointPeakRSS measures the peak RSS of one SFT update
// at GPT-2 small's shape (12 layers, hidden 768, vocab 50257), batch 4×512,
// on the go backend, without and with --grad-checkpoint (and with LoRA
// r=16 on every linear map), each in a fresh process. About 14 minutes and
// up to 9 GB on 2 cores (numbers in docs/training.md); run it alone:
//
//	go test ./train -run XXX -bench GradCheckpointPeakRSS -benchtime 1x
func BenchmarkGradCheckpointPeakRSS(b *testing.B) {
	if mode := os.Getenv(rssChildEnv); mode != "" {
		rssChild(b, mode)
		return
	}
	for range b.N {
		for _, mode := range []string{"full", "full+ckpt", "lora", "lora+ckpt"} {
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkGradCheckpointPeakRSS$", "-test.benchtime=1x")
			cmd.Env = append(os.Environ(), rssChildEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%s: %v\n%s", mode, err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) != 6 || f[0] != "RSS_RESULT" {
					continue
				}
				peak, _ := strconv.ParseFloat(f[2], 64)
				weights, _ := strconv.ParseFloat(f[3], 64)
				b.ReportMetric(peak/1024, "MiB-peak-"+mode)
				b.Logf("%-10s peak RSS %7.0f MiB (after building the model %5.0f MiB), update %s s, loss %s", mode, peak/1024, weights/1024, f[4], f[5])
			}
		}
	}
}
