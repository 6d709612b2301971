package train

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// planRSSChildEnv selects the child mode of BenchmarkPlanPeakRSS.
const planRSSChildEnv = "RLHF_PLAN_RSS_CHILD"

// planRSSCase is one configuration whose peak RSS BenchmarkPlanPeakRSS
// measures (plan/estimate_test.go holds the recorded numbers).
type planRSSCase struct {
	name                         string
	vocab, layers, hidden, heads int
	batch, seq, loraRank         int
	ckpt                         bool
}

func (c planRSSCase) String() string {
	return fmt.Sprintf("%s:%d:%d:%d:%d:%d:%d:%d:%t", c.name, c.vocab, c.layers, c.hidden, c.heads, c.batch, c.seq, c.loraRank, c.ckpt)
}

func parsePlanRSSCase(s string) (planRSSCase, error) {
	f := strings.Split(s, ":")
	if len(f) != 9 {
		return planRSSCase{}, fmt.Errorf("bad case %q", s)
	}
	n := make([]int, 7)
	for i := range n {
		v, err := strconv.Atoi(f[i+1])
		if err != nil {
			return planRSSCase{}, err
		}
		n[i] = v
	}
	return planRSSCase{f[0], n[0], n[1], n[2], n[3], n[4], n[5], n[6], f[8] == "true"}, nil
}

// planRSSChild runs one SFT update (forward, backward, AdamW) of case c on
// the go backend and prints its peak RSS and the RSS after building the model.
func planRSSChild(b *testing.B, c planRSSCase) {
	cfg, err := model.NewConfig(model.ArchGPT2, c.vocab, c.layers, c.hidden, c.heads, 0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.GradCheckpoint = c.ckpt
	if c.loraRank > 0 {
		if err := m.AddLoRA(model.LoRA{Rank: c.loraRank, Alpha: 32, Targets: []string{model.AllLinear}}, 1); err != nil {
			b.Fatal(err)
		}
	}
	weights := maxRSSKiB()
	backend, err := NewBackend("go")
	if err != nil {
		b.Fatal(err)
	}
	opt := NewOptimizer(backend, m.Store, SFTLoss(m), OptimizerConfig{ClipGrad: 1})
	bt := benchBatch(c.vocab, c.batch, c.seq)
	if _, err := opt.Micro(SFTInputs(bt)...); err != nil {
		b.Fatal(err)
	}
	if _, err := opt.Step(1e-4); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("PLAN_RSS %s %d %d\n", c.name, maxRSSKiB(), weights)
}

// BenchmarkPlanPeakRSS measures, each in a fresh process, the peak RSS of
// one SFT update on the go backend for the configurations the memory
// estimate (package plan) is checked against: a tiny model, and GPT-2
// small at 2×256 tokens fully trained and with LoRA r=16 on every linear
// map, each without and with gradient checkpointing. A few minutes on 2
// cores, up to 4 GB; the numbers are recorded in plan/estimate_test.go:
//
//	go test ./train -run XXX -bench PlanPeakRSS -benchtime 1x
func BenchmarkPlanPeakRSS(b *testing.B) {
	if s := os.Getenv(planRSSChildEnv); s != "" {
		c, err := parsePlanRSSCase(s)
		if err != nil {
			b.Fatal(err)
		}
		planRSSChild(b, c)
		return
	}
	const v, l, h, a = 50257, 12, 768, 12
	cases := []planRSSCase{
		{"tiny", 1024, 2, 64, 4, 4, 64, 0, false},
		{"gpt2s-full", v, l, h, a, 2, 256, 0, false},
		{"gpt2s-full+ckpt", v, l, h, a, 2, 256, 0, true},
		{"gpt2s-lora16", v, l, h, a, 2, 256, 16, false},
		{"gpt2s-lora16+ckpt", v, l, h, a, 2, 256, 16, true},
	}
	for range b.N {
		for _, c := range cases {
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkPlanPeakRSS$", "-test.benchtime=1x")
			cmd.Env = append(os.Environ(), planRSSChildEnv+"="+c.String())
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%s: %v\n%s", c.name, err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) != 4 || f[0] != "PLAN_RSS" {
					continue
				}
				peak, _ := strconv.ParseFloat(f[2], 64)
				weights, _ := strconv.ParseFloat(f[3], 64)
				b.ReportMetric(peak/1024, "MiB-peak-"+c.name)
				b.Logf("%-18s %v peak RSS %7.0f MiB (after building the model %5.0f MiB)", c.name, c, peak/1024, weights/1024)
			}
		}
	}
}
