// Package plan estimates the memory a training step needs on each device,
// by component, before a run: weights (per model, in its dtype), gradients
// (the step's gradient and the optimizer's accumulator), AdamW state (two
// float32 moments per trained weight), activations of the training forward
// and backward pass (reduced by gradient checkpointing), and for the
// PPO family the rollout's KV cache. `rlhf plan` prints the estimate and the
// training commands refuse a run it says cannot fit.
//
// Counts come from the models' weight tables (model.Config.ParamCount,
// LoRAParamCount); the activation formula is per transformer block at
// batch × sequence, with constants calibrated against peak RSS measured on
// CPU (train.BenchmarkPlanPeakRSS; the comparison is TestEstimateMatchesMeasuredRSS).
package plan

import (
	"fmt"
	"strings"

	"github.com/rlhf-project/rlhf/model"
)

// Steps the estimate knows.
const (
	StepSFT = "sft"
	StepRM  = "rm"
	StepDPO = "dpo"
	StepPPO = "ppo"
)

// Steps lists the values of Options.Step.
var Steps = []string{StepSFT, StepRM, StepDPO, StepPPO}

// LoRA is the part of a LoRA configuration that sets memory.
type LoRA struct {
	Rank    int      // 0: train every weight
	Targets []string // PEFT target_modules or model.AllLinear
}

// Options describe a run to estimate. Zero sizes take the commands'
// defaults (fill).
type Options struct {
	Step string // sft, rm, dpo or ppo
	Algo string // ppo's --algo: ppo trains a critic; grpo, rloo, reinforce++ do not

	// Policy is the trained model (sft, dpo; ppo's actor; rm's reward model
	// being trained). Reward is ppo's frozen reward model, Critic ppo's
	// critic (default: the reward model's shape).
	Policy, Reward, Critic *model.Config

	// sft, rm, dpo: sequences (rm, dpo: comparison pairs) per micro-batch
	// and their length in tokens.
	BatchSize, MaxSeqLen int
	// GradAccum is the micro-batches per update (sft, rm, dpo): it does not
	// change memory; suggestions that halve BatchSize double it.
	GradAccum int
	// ppo: sequences per update, generation and scoring batch, and the
	// prompt and response lengths.
	MiniBatch, MaxPromptLen, MaxNewTokens int

	LoRA, CriticLoRA LoRA
	GradCheckpoint   bool
	// DType is the compute dtype (float32, bfloat16, float16); RefDType and
	// RewardDType the frozen models' (default: DType when it is 16-bit,
	// else float32).
	DType, RefDType, RewardDType string

	// Devices are the devices' memory sizes in bytes; the models of ppo are
	// spread over them (actor first). Empty: estimate for one device of
	// unknown size.
	Devices []int64
	// CPU estimates for the go backend (process runtime instead of a CUDA
	// context); the calibration uses it.
	CPU bool
}

func (o *Options) fill() {
	if o.Step == "" {
		o.Step = StepSFT
	}
	if o.Algo == "" {
		o.Algo = "ppo"
	}
	if o.BatchSize == 0 {
		o.BatchSize = 8
	}
	if o.GradAccum == 0 {
		o.GradAccum = 1
	}
	if o.MaxSeqLen == 0 { // the trainers' default: min(512, the model's context)
		o.MaxSeqLen = 512
		if o.Policy != nil && o.Policy.MaxPositions > 0 {
			o.MaxSeqLen = min(o.MaxSeqLen, o.Policy.MaxPositions)
		}
	}
	if o.MiniBatch == 0 {
		o.MiniBatch = 16
	}
	if o.MaxPromptLen == 0 {
		o.MaxPromptLen = 256
	}
	if o.MaxNewTokens == 0 {
		o.MaxNewTokens = 128
	}
	if o.DType == "" {
		o.DType = "float32"
	}
	frozen := "float32"
	if o.DType != "float32" {
		frozen = o.DType
	}
	if o.RefDType == "" {
		o.RefDType = frozen
	}
	if o.RewardDType == "" {
		o.RewardDType = frozen
	}
	if o.LoRA.Rank > 0 && len(o.LoRA.Targets) == 0 {
		o.LoRA.Targets = []string{model.AllLinear}
	}
	if o.CriticLoRA.Rank > 0 && len(o.CriticLoRA.Targets) == 0 {
		o.CriticLoRA.Targets = []string{model.AllLinear}
	}
}

// dtypeBytes is the size of one scalar of a dtype name.
func dtypeBytes(dt string) (int64, error) {
	switch dt {
	case "float32", "f32":
		return 4, nil
	case "bfloat16", "bf16", "float16", "f16":
		return 2, nil
	}
	return 0, fmt.Errorf("dtype %q: want float32, bfloat16 or float16", dt)
}

// Usage is bytes by component.
type Usage struct {
	Weights, Gradients, Optimizer, Activations, KVCache, Runtime int64
}

// Total is the peak: what stays resident plus the larger of the training
// phase's activations and the rollout phase's KV cache (they never
// coexist).
func (u Usage) Total() int64 {
	return u.Weights + u.Gradients + u.Optimizer + max(u.Activations, u.KVCache) + u.Runtime
}

func (u *Usage) add(v Usage) {
	u.Weights += v.Weights
	u.Runtime += v.Runtime
	u.Gradients += v.Gradients
	u.Optimizer += v.Optimizer
	u.Activations = max(u.Activations, v.Activations) // models train one after the other
	u.KVCache = max(u.KVCache, v.KVCache)
}

// ModelUsage is the estimate of one model of the step.
type ModelUsage struct {
	Role      string // policy, reward model, actor, critic, reference, reward
	Params    int64  // weights of the model (base weights with LoRA)
	Trainable int64  // trained weights: all of them, or the adapters (+ score head)
	DType     string // storage dtype of the frozen weights
	Device    int    // index into Options.Devices
	Shared    bool   // the reference is the actor's base with adapters off: no weights of its own
	Usage
}

// Device is the estimate of one device.
type Device struct {
	Memory int64 // bytes; 0 when unknown
	Models []string
	Usage
}

// Fits reports whether the device's estimate fits its memory (true when
// the memory is unknown).
func (d Device) Fits() bool { return d.Memory == 0 || d.Total() <= d.Memory }

// Estimate is the result of Estimate.
type Estimate struct {
	Options Options
	Models  []ModelUsage
	Devices []Device
}

// Fits reports whether every device's estimate fits.
func (e *Estimate) Fits() bool {
	for _, d := range e.Devices {
		if !d.Fits() {
			return false
		}
	}
	return true
}

// Calibration constants (elements per token per block, with h the hidden
// size, I the MLP inner size, a·s the attention scores of a query): the
// forward values the backward pass keeps, and the working memory of the
// backward pass; fitted to the peak RSS of train.BenchmarkPlanPeakRSS and
// train.BenchmarkGradCheckpointPeakRSS.
const (
	actPerH     = 16 // residuals, norms, q/k/v, attention output, projections
	actPerI     = 3  // MLP inner activations (pre-activation, activation, and the gate for llama)
	actPerScore = 3  // attention scores, softmax, its gradient
	logitCopies = 6  // logits, their max-shifted exp and log-softmax, and the gradients of these (float32)
	cudaRuntime = 1 << 30
	cpuRuntime  = 40 << 20 // the go process and its runtime on CPU, plus cpuWeightsSlack of the weights
	// cpuWeightsSlack is the part of the weights the go backend's process
	// holds again (initialisation and transfer buffers; measured: 183 MiB
	// more than GPT-2 small's 475 MiB of weights once built, 40 MiB for a
	// tiny model).
	cpuWeightsSlack = 0.3
	inferCopies     = 2 // logits and log-softmax of a scoring forward pass (float32)
)

// blockActivations is the bytes one block keeps for the backward pass over
// b sequences of s tokens.
func blockActivations(c *model.Config, b, s int, bytes int64) int64 {
	n := int64(b) * int64(s)
	perTok := int64(actPerH*c.Hidden+actPerI*c.Intermediate) + int64(actPerScore*c.Heads)*int64(s)
	return n * perTok * bytes
}

// trainActivations is the training pass's activation memory of model c
// over b sequences of s tokens: every block's kept values (only each
// block's input with checkpointing, plus one block's recomputed values),
// and the output layer (vocabulary logits for a causal LM, nothing big for
// a score head).
func trainActivations(c *model.Config, b, s int, bytes int64, ckpt, lmHead bool) int64 {
	n := int64(b) * int64(s)
	block := blockActivations(c, b, s, bytes)
	var act int64
	if ckpt {
		act = int64(c.Layers)*n*int64(c.Hidden)*bytes + block
	} else {
		act = int64(c.Layers) * block
	}
	if lmHead {
		act += logitCopies * n * int64(c.VocabSize) * 4
	}
	return act
}

// EstimateRun computes the memory of the run o describes.
func EstimateRun(o Options) (*Estimate, error) {
	o.fill()
	if o.Policy == nil {
		return nil, fmt.Errorf("no policy model")
	}
	compute, err := dtypeBytes(o.DType)
	if err != nil {
		return nil, err
	}
	e := &Estimate{Options: o}
	ndev := max(1, len(o.Devices))
	e.Devices = make([]Device, ndev)
	for i := range e.Devices {
		if i < len(o.Devices) {
			e.Devices[i].Memory = o.Devices[i]
		}
	}
	valueCfg := func(c *model.Config) *model.Config {
		v := *c
		v.NumLabels = 1
		return &v
	}
	// trained is a model trained over b sequences of s tokens.
	trained := func(role string, c *model.Config, lora LoRA, lmHead bool, b, s int) (ModelUsage, error) {
		m := ModelUsage{Role: role, Params: c.ParamCount(lmHead), DType: "float32"}
		if lora.Rank > 0 {
			ad, err := c.LoRAParamCount(lmHead, lora.Rank, lora.Targets)
			if err != nil {
				return m, fmt.Errorf("%s: %w", role, err)
			}
			m.Trainable = ad + int64(c.NumLabels*c.Hidden)
			base := int64(4)
			if compute == 2 {
				base, m.DType = 2, o.DType // frozen base stored in the compute dtype
			}
			m.Weights = (m.Params-int64(c.NumLabels*c.Hidden))*base + m.Trainable*4
		} else {
			m.Trainable = m.Params
			m.Weights = 4 * m.Params // float32 master weights
			if compute == 2 {
				m.Weights += 2 * m.Params // the 16-bit copy the graphs compute with
			}
		}
		m.Gradients = 8 * m.Trainable // the micro-batch's gradient and the accumulator
		m.Optimizer = 8 * m.Trainable // AdamW's two moments
		m.Activations = trainActivations(c, b, s, compute, o.GradCheckpoint, lmHead)
		return m, nil
	}
	frozen := func(role string, c *model.Config, dt string, lmHead bool) (ModelUsage, error) {
		bytes, err := dtypeBytes(dt)
		if err != nil {
			return ModelUsage{}, fmt.Errorf("%s: %w", role, err)
		}
		p := c.ParamCount(lmHead)
		return ModelUsage{Role: role, Params: p, DType: dt, Usage: Usage{Weights: p * bytes}}, nil
	}
	var ms []ModelUsage
	add := func(m ModelUsage, err error) error {
		if err == nil {
			ms = append(ms, m)
		}
		return err
	}
	switch o.Step {
	case StepSFT:
		err = add(trained("policy", o.Policy, o.LoRA, true, o.BatchSize, o.MaxSeqLen))
	case StepRM:
		err = add(trained("reward model", valueCfg(o.Policy), o.LoRA, false, 2*o.BatchSize, o.MaxSeqLen))
	case StepDPO:
		// The reference's log-probs are computed before training and
		// cached (train.DPOOptions.Ref): it is not resident while the
		// policy trains, and scoring alone needs less than training.
		err = add(trained("policy", o.Policy, o.LoRA, true, 2*o.BatchSize, o.MaxSeqLen))
	case StepPPO:
		err = e.addPPO(&ms, o, compute, trained, frozen, valueCfg)
	default:
		return nil, fmt.Errorf("step %q: want one of %s", o.Step, strings.Join(Steps, ", "))
	}
	if err != nil {
		return nil, err
	}
	if o.CPU {
		for i := range ms {
			ms[i].Runtime = int64(cpuWeightsSlack * float64(ms[i].Weights))
		}
	}
	// Place the models: the first on device 0, each other on the device
	// with the most room left (a shared reference goes with the actor).
	for i := range ms {
		d := 0
		if i > 0 && !ms[i].Shared && ndev > 1 {
			best := int64(-1 << 62)
			for j := range e.Devices {
				u := e.Devices[j].Usage
				u.add(ms[i].Usage)
				room := e.Devices[j].Memory - u.Total()
				if room > best {
					best, d = room, j
				}
			}
		}
		ms[i].Device = d
		if len(e.Devices[d].Models) == 0 { // a device in use: the runtime's share
			e.Devices[d].Runtime = cudaRuntime
			if o.CPU {
				e.Devices[d].Runtime = cpuRuntime
			}
		}
		e.Devices[d].add(ms[i].Usage)
		e.Devices[d].Models = append(e.Devices[d].Models, ms[i].Role)
	}
	e.Models = ms
	return e, nil
}

// addPPO adds the PPO family's models: the actor (trained; generates the
// rollouts with a KV cache), the critic (--algo ppo), the reference and the
// reward model (frozen, scoring MiniBatch sequences at a time).
func (e *Estimate) addPPO(ms *[]ModelUsage, o Options, compute int64,
	trained func(string, *model.Config, LoRA, bool, int, int) (ModelUsage, error),
	frozen func(string, *model.Config, string, bool) (ModelUsage, error),
	valueCfg func(*model.Config) *model.Config) error {
	if o.Reward == nil {
		return fmt.Errorf("ppo needs the reward model's config")
	}
	s := o.MaxPromptLen + o.MaxNewTokens
	b := o.MiniBatch
	actor, err := trained("actor", o.Policy, o.LoRA, true, b, s)
	if err != nil {
		return err
	}
	// Rollouts: the KV cache of MiniBatch sequences of s tokens, and the
	// float32 logits of scoring them (actor and reference log-probs).
	c := o.Policy
	kvHeads, headDim := c.KVHeads, c.HeadDim
	if kvHeads == 0 {
		kvHeads = c.Heads
	}
	if headDim == 0 {
		headDim = c.Hidden / c.Heads
	}
	actor.KVCache = 2*int64(c.Layers)*int64(b)*int64(s)*int64(kvHeads*headDim)*compute +
		inferCopies*int64(b)*int64(s)*int64(c.VocabSize)*4 + blockActivations(c, b, s, compute)
	if o.CPU && compute == 4 {
		// The go backend's decoder holds [in, out] copies of the [out, in]
		// matrices while it generates (model.DecoderCopies).
		actor.KVCache += model.DecoderCopies(c) * 4
	}
	*ms = append(*ms, actor)
	if o.Algo == "ppo" {
		cc := o.Critic
		if cc == nil {
			cc = o.Reward
		}
		critic, err := trained("critic", valueCfg(cc), o.CriticLoRA, false, b, s)
		if err != nil {
			return err
		}
		*ms = append(*ms, critic)
	}
	ref, err := frozen("reference", o.Policy, o.RefDType, true)
	if err != nil {
		return err
	}
	if o.LoRA.Rank > 0 {
		// The reference is the actor's frozen base with the adapters off.
		ref.Shared, ref.Weights = true, 0
	}
	*ms = append(*ms, ref)
	rw, err := frozen("reward", valueCfg(o.Reward), o.RewardDType, false)
	if err != nil {
		return err
	}
	*ms = append(*ms, rw)
	return nil
}
