package plan

import (
	"math"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// measuredRSS are peak RSS numbers of one SFT update on the go backend
// (CPU, float32), each in a fresh process: the 2×256 and tiny ones from
// train.BenchmarkPlanPeakRSS, the 4×512 ones from
// train.BenchmarkGradCheckpointPeakRSS (docs/training.md).
var measuredRSS = []struct {
	name                         string
	vocab, layers, hidden, heads int
	batch, seq, loraRank         int
	ckpt                         bool
	mib                          float64
}{
	{"tiny", 1024, 2, 64, 4, 4, 64, 0, false, 59},
	{"gpt2s full 2x256", 50257, 12, 768, 12, 2, 256, 0, false, 3792},
	{"gpt2s full+ckpt 2x256", 50257, 12, 768, 12, 2, 256, 0, true, 3241},
	{"gpt2s lora16 2x256", 50257, 12, 768, 12, 2, 256, 16, false, 2033},
	{"gpt2s lora16+ckpt 2x256", 50257, 12, 768, 12, 2, 256, 16, true, 1531},
	{"gpt2s full 4x512", 50257, 12, 768, 12, 4, 512, 0, false, 8524},
	{"gpt2s full+ckpt 4x512", 50257, 12, 768, 12, 4, 512, 0, true, 5295},
	{"gpt2s lora16 4x512", 50257, 12, 768, 12, 4, 512, 16, false, 6761},
	{"gpt2s lora16+ckpt 4x512", 50257, 12, 768, 12, 4, 512, 16, true, 4045},
}

// TestEstimateMatchesMeasuredRSS holds the estimate within 20% of the
// measured peak RSS of every recorded configuration.
func TestEstimateMatchesMeasuredRSS(t *testing.T) {
	for _, m := range measuredRSS {
		c, err := model.NewConfig(model.ArchGPT2, m.vocab, m.layers, m.hidden, m.heads, 0)
		if err != nil {
			t.Fatal(err)
		}
		e, err := EstimateRun(Options{Step: StepSFT, Policy: c, BatchSize: m.batch, MaxSeqLen: m.seq,
			LoRA: LoRA{Rank: m.loraRank}, GradCheckpoint: m.ckpt, CPU: true})
		if err != nil {
			t.Fatal(err)
		}
		est := float64(e.Devices[0].Total()) / (1 << 20)
		ratio := est / m.mib
		t.Logf("%-24s estimated %6.0f MiB, measured %6.0f MiB, ratio %.2f", m.name, est, m.mib, ratio)
		if math.Abs(ratio-1) > 0.2 {
			t.Errorf("%s: estimated %.0f MiB, measured %.0f MiB: off by more than 20%%", m.name, est, m.mib)
		}
	}
}

func gpt2Small(t *testing.T) *model.Config {
	c, err := model.NewConfig(model.ArchGPT2, 50257, 12, 768, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEstimateComponents checks the bookkeeping: AdamW's moments and the
// gradients at 8 bytes per trained weight, LoRA training only adapters over
// a 16-bit base, frozen models in their dtype, the shared LoRA reference.
func TestEstimateComponents(t *testing.T) {
	c := gpt2Small(t)
	p := c.ParamCount(true)
	e, err := EstimateRun(Options{Step: StepSFT, Policy: c})
	if err != nil {
		t.Fatal(err)
	}
	d := e.Devices[0]
	if d.Weights != 4*p || d.Optimizer != 8*p || d.Gradients != 8*p {
		t.Errorf("full sft: weights %d, optimizer %d, gradients %d; want %d, %d, %d", d.Weights, d.Optimizer, d.Gradients, 4*p, 8*p, 8*p)
	}
	ckpt, _ := EstimateRun(Options{Step: StepSFT, Policy: c, GradCheckpoint: true})
	if ckpt.Devices[0].Activations >= d.Activations {
		t.Errorf("checkpointing: activations %d, without %d", ckpt.Devices[0].Activations, d.Activations)
	}
	lora, err := EstimateRun(Options{Step: StepSFT, Policy: c, LoRA: LoRA{Rank: 16}, DType: "bfloat16"})
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := c.LoRAParamCount(true, 16, []string{model.AllLinear})
	if m := lora.Models[0]; m.Trainable != ad || m.Weights != 2*p+4*ad || m.Optimizer != 8*ad {
		t.Errorf("lora bf16: %+v; want trainable %d, weights %d", m, ad, 2*p+4*ad)
	}
	ppo, err := EstimateRun(Options{Step: StepPPO, Policy: c, Reward: c, LoRA: LoRA{Rank: 8}, RewardDType: "bfloat16"})
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{}
	for _, m := range ppo.Models {
		roles = append(roles, m.Role)
		switch m.Role {
		case "reference":
			if !m.Shared || m.Weights != 0 {
				t.Errorf("reference with LoRA actor: %+v, want shared base", m)
			}
		case "reward":
			if m.Weights != 2*m.Params {
				t.Errorf("bf16 reward: weights %d, want %d", m.Weights, 2*m.Params)
			}
		case "actor":
			if m.KVCache == 0 {
				t.Error("actor: no KV cache")
			}
		}
	}
	if got := strings.Join(roles, ","); got != "actor,critic,reference,reward" {
		t.Errorf("ppo models %s", got)
	}
	grpo, _ := EstimateRun(Options{Step: StepPPO, Algo: "grpo", Policy: c, Reward: c})
	if len(grpo.Models) != 3 {
		t.Errorf("grpo: %d models, want 3 (no critic)", len(grpo.Models))
	}
}

// TestPPOSpreadsOverDevices: on two devices the critic goes next to the
// actor's device, not on it.
func TestPPOSpreadsOverDevices(t *testing.T) {
	c := gpt2Small(t)
	e, err := EstimateRun(Options{Step: StepPPO, Policy: c, Reward: c, Devices: []int64{40 << 30, 40 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Models[0].Device != 0 || e.Models[1].Device != 1 {
		t.Errorf("actor on %d, critic on %d; want 0 and 1", e.Models[0].Device, e.Models[1].Device)
	}
}

// TestSuggestMakesItFit: a full-SFT 1.3B run on 24 GiB does not fit;
// the suggestions end in a plan that does, each lowering the estimate.
func TestSuggestMakesItFit(t *testing.T) {
	c, err := model.NewConfig(model.ArchLlama, 32000, 24, 2048, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Step: StepSFT, Policy: c, BatchSize: 8, MaxSeqLen: 512, Devices: []int64{24 << 30}}
	e, _ := EstimateRun(o)
	if e.Fits() {
		t.Fatalf("1.3B full SFT fits 24 GiB: %s", GiB(e.Devices[0].Total()))
	}
	s, ok, err := Suggest(o)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || len(s) == 0 || !s[len(s)-1].Estimate.Fits() {
		t.Fatalf("suggestions %+v do not fit", s)
	}
	prev := e.Devices[0].Total()
	for _, x := range s {
		if got := x.Estimate.Devices[0].Total(); got >= prev {
			t.Errorf("%s: %s, not below %s", x.Change, GiB(got), GiB(prev))
		}
		prev = x.Estimate.Devices[0].Total()
	}
	if s[0].Flags != "--grad-checkpoint" {
		t.Errorf("first suggestion %q, want --grad-checkpoint", s[0].Flags)
	}
}

func TestParseDevices(t *testing.T) {
	for in, want := range map[string][]int64{
		"40GiB,40GiB": {40 << 30, 40 << 30}, "A100-80G": {80 << 30}, "2xA100-40G": {40 << 30, 40 << 30},
		"24GB": {24e9}, "a100-40g": {40 << 30}, "512M": {512 << 20},
	} {
		got, err := ParseDevices(in, "--device-memory")
		if err != nil || len(got) != len(want) || got[0] != want[0] {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "40", "forty GiB", "A100-41G", "40XB"} {
		if _, err := ParseDevices(bad, "--device-memory"); err == nil || !strings.Contains(err.Error(), "--device-memory") {
			t.Errorf("%q: error %v, want one naming --device-memory", bad, err)
		}
	}
}

func TestParseNvidiaSMI(t *testing.T) {
	out := "0, 40960\n1, 81920\n"
	got, err := ParseNvidiaSMI(out, "")
	if err != nil || len(got) != 2 || got[0] != 40<<30 || got[1] != 80<<30 {
		t.Errorf("all: %v %v", got, err)
	}
	got, err = ParseNvidiaSMI(out, "1")
	if err != nil || len(got) != 1 || got[0] != 80<<30 {
		t.Errorf("CUDA_VISIBLE_DEVICES=1: %v %v", got, err)
	}
	if _, err := ParseNvidiaSMI(out, "GPU-1234"); err == nil {
		t.Error("a UUID in CUDA_VISIBLE_DEVICES: no error")
	}
	if _, err := ParseNvidiaSMI("No devices were found", ""); err == nil {
		t.Error("no devices: no error")
	}
}

// On the go backend the actor's decoder holds [in, out] copies of its
// [out, in] matrices while it generates: the CPU estimate of ppo counts them
// in the rollout phase, a GPU one not.
func TestEstimatePPODecoderCopiesOnCPU(t *testing.T) {
	c, err := model.NewConfig(model.ArchQwen2, 1000, 2, 64, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	actor := func(cpu bool) ModelUsage {
		e, err := EstimateRun(Options{Step: StepPPO, Policy: c, Reward: c, CPU: cpu})
		if err != nil {
			t.Fatal(err)
		}
		return e.Models[0]
	}
	cpu, gpu := actor(true), actor(false)
	if got, want := cpu.KVCache-gpu.KVCache, model.DecoderCopies(c)*4; got != want {
		t.Errorf("CPU rollout memory exceeds the GPU one by %d, want the decoder copies' %d", got, want)
	}
}
