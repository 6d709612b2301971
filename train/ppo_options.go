package train

import (
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/reward"
)

// The RL algorithms of `rlhf ppo --algo`. PPO trains a critic; the others
// are critic-free and differ in their advantage estimator (see
// ppo_advantages.go and docs/ppo.md).
const (
	AlgoPPO         = "ppo"
	AlgoGRPO        = "grpo"
	AlgoRLOO        = "rloo"
	AlgoREINFORCEPP = "reinforce++"
)

// PPOAlgos are the values of PPOOptions.Algo.
var PPOAlgos = []string{AlgoPPO, AlgoGRPO, AlgoRLOO, AlgoREINFORCEPP}

// PPOOptions configure `rlhf ppo`: PPO (with the optional PPO-ptx term) of
// an SFT policy against a frozen reward model, InstructGPT style.
//
// Vocabulary: an "iteration" is one rollout (RolloutBatch prompts sampled,
// scored, turned into advantages) followed by PPOEpochs passes over it in
// mini-batches; each mini-batch is one optimizer update of the actor and
// one of the critic.
//
// Defaults: Defaults (called by RunPPO) fills zero sizes and rates, and
// RunPPO fits zero lengths to the models' context once their configs are
// read; a negative value is an error. Fields where 0 is meaningful (KLCoef, Gamma, Lambda, ValueClip,
// ClipGrad, LogSamples, Keep, Clip) keep what the caller set, so library
// callers should start from PPODefaults(), as the command does.
type PPOOptions struct {
	// Policy is the SFT checkpoint: the actor starts from it and the frozen
	// reference policy is it. Required.
	Policy string
	// Reward is the reward-model checkpoint (with a score head; its
	// rlhf.json reward_mean/reward_std normalise scores). Required unless
	// RewardFns are given.
	Reward string
	// Critic is the checkpoint the value function starts from (PPO only).
	// Default: Reward (InstructGPT initialises the value function from the
	// reward model).
	Critic string
	// Prompts is a prompt dataset (a folder with train/ and val/ splits, of
	// which train/ is used, one dataset, or a .parquet/.jsonl file). Required.
	Prompts string
	// Ptx is the pre-training data for PPO-ptx: a dataset of kind sft
	// (loss on the response, as in SFT) or qa (question and answer as plain
	// text, loss on every token), or a JSONL file of either. Needed when
	// PtxCoef > 0.
	Ptx string
	// Out is the output folder: the final actor (HF layout, loadable by
	// every command) at the top, the critic in critic/, checkpoints/,
	// metrics.jsonl, samples.jsonl and PNG plots. Required.
	Out string

	// Algo is the algorithm: "ppo" (GAE advantages from a trained critic),
	// or the critic-free "grpo" (group-normalised rewards, KL to the
	// reference as a loss term), "rloo" (leave-one-out baseline) and
	// "reinforce++" (batch-normalised returns). Default "ppo".
	Algo string
	// NumSamples is the number of responses sampled per prompt; an
	// iteration samples RolloutBatch × NumSamples sequences. 0 means 4 for
	// grpo and rloo (which compare the responses to one prompt and need at
	// least 2) and 1 for ppo and reinforce++.
	NumSamples int
	// RewardFns are rule rewards (see reward.Rule: exact-match,
	// contains, regex:PATTERN, length-penalty, cmd:PROG), scored against
	// each prompt row's reference answer, instead of or added to the RM.
	RewardFns []string
	// RewardWeights weigh the reward sources, in order: the RM's normalised
	// score first (when Reward is set), then each of RewardFns. Empty: 1 each.
	RewardWeights []float64
	// RewardTimeout bounds each call of a cmd: reward program (once per
	// iteration). Default 60s.
	RewardTimeout time.Duration

	// MaxNewTokens is the maximum response length in tokens, and
	// MaxPromptLen the maximum prompt length (template included; longer
	// prompts lose their start). Defaults (0): 128 and 256, or less to fit
	// the smallest context of policy, critic and reward model (see
	// infer.FitLengths: the prompt shrinks first, not below half the context).
	MaxNewTokens int
	MaxPromptLen int
	// Temperature, TopP (nucleus mass, 1 = off) and TopK (0 = off) shape
	// rollout sampling. Defaults 1, 1, 0: the policy's own distribution,
	// which PPO's log-probs assume (a zero Temperature or TopP means the
	// default, not greedy).
	Temperature, TopP float64
	TopK              int

	// Iterations is the number of rollouts; 0 means Epochs passes over the
	// prompts (ceil(prompts/RolloutBatch) iterations each). Default 0.
	Iterations int
	// Epochs is the number of passes over the prompts when Iterations is 0. Default 1.
	Epochs int
	// RolloutBatch is the number of prompts sampled per iteration (each
	// NumSamples times). Default 64.
	RolloutBatch int
	// MiniBatch is the number of sequences per update (and per generation
	// and scoring batch); it must divide RolloutBatch × NumSamples. Default 16.
	MiniBatch int
	// PPOEpochs is the number of passes over each rollout. Default 1.
	PPOEpochs int

	// LR and CriticLR are the (constant) AdamW learning rates of actor and
	// critic. Defaults 1e-5 and 5e-6.
	LR, CriticLR float64
	// WeightDecay is AdamW's decoupled weight decay. Default 0.
	WeightDecay float64
	// ClipGrad is the maximum global gradient norm of each update (0: off). Default 1.
	ClipGrad float64

	// KLCoef is β, the weight of the per-token KL penalty in the reward
	// (ppo, rloo, reinforce++) or of the KL loss term (grpo); the initial
	// value when TargetKL > 0. Default 0.02.
	KLCoef float64
	// TargetKL, when > 0, turns on the adaptive KL controller: β is steered
	// so that the mean KL per sequence (nats) approaches TargetKL.
	// Default 0 (fixed β).
	TargetKL float64
	// KLHorizon is the adaptive controller's horizon in sequences. Default 10000.
	KLHorizon float64
	// Gamma and Lambda are GAE's discount and trace decay. Defaults 1 and 0.95.
	Gamma, Lambda float64
	// Clip is the policy ratio clip ε. Default 0.2.
	Clip float64
	// ValueClip is the value clip ε around the rollout values (0: off). Default 0.2.
	ValueClip float64
	// EntropyCoef weighs the entropy bonus (nats per token). Default 0.
	EntropyCoef float64
	// RewardClip, when > 0, clips the normalised RM score to ±RewardClip. Default 0.
	RewardClip float64
	// NoWhiten turns off PPO's per-rollout whitening of advantages (mean 0,
	// std 1). Default false: advantages are whitened. (REINFORCE++'s
	// normalisation is part of the algorithm; GRPO and RLOO do not whiten.)
	NoWhiten bool

	// PtxCoef is γ_ptx, the weight of the pre-training LM loss added to the
	// actor loss (InstructGPT used 27.8); 0 is plain PPO. Default 0.
	PtxCoef float64
	// PtxBatch is the number of ptx sequences per update. Default MiniBatch.
	PtxBatch int
	// PtxMaxLen is the maximum ptx sequence length in tokens. Default
	// MaxPromptLen + MaxNewTokens (after they were fitted).
	PtxMaxLen int

	// MaxKL, when > 0, is the mean KL per sequence (nats) to the reference
	// above which the run stops (OnMaxKL "stop": a checkpoint is written and
	// an error returned) or warns ("warn"). Default 0 (off), OnMaxKL "stop".
	MaxKL   float64
	OnMaxKL string
	// CriticWarmup is the number of first iterations in which only the
	// critic trains (value-function warm-up). Default 0.
	CriticWarmup int
	// SkipNonFinite is how many updates with a NaN/Inf loss or gradient may
	// be skipped before the run stops. Default 0.
	SkipNonFinite int

	// SaveEvery is the number of iterations between checkpoints (the last
	// iteration always saves). Default 20.
	SaveEvery int
	// Keep is how many newest checkpoints are kept (0 keeps all). Default 2.
	Keep int
	// Resume continues from the newest checkpoint in Out.
	Resume bool
	// LogSamples is the number of iterations between sample tables (prompt,
	// response, reward) in the log and samples.jsonl; 0 disables them. Default 10.
	LogSamples int
	// StopAfter, when > 0, stops (after checkpointing) once this many
	// iterations ran in this invocation: a time budget for long runs.
	StopAfter int
	// Seed fixes prompt order, sampling and mini-batch order. Default 1.
	Seed uint64

	// DType is the compute dtype of the four models' graphs: "float32"
	// (default) or "bfloat16" (GPU; float32 master weights, norms, softmax
	// and log-probs).
	DType string
	// Backend is the default compute backend ("go", "xla:cuda", ...; "" uses
	// $RLHF_BACKEND or "go"). ActorDevice, CriticDevice, RefDevice and
	// RewardDevice place each model on its own backend (same syntax; ""
	// means Backend). Models with the same spec share one backend; data
	// moves between backends through host memory.
	Backend                                            string
	ActorDevice, CriticDevice, RefDevice, RewardDevice string
	// Template overrides the policy's prompt template.
	Template string
	// Encoding is the character encoding of JSONL prompts and --ptx data (default UTF-8,
	// where a line that is not valid UTF-8 is an error naming file and
	// line; or GBK, GB18030, Big5, decoded).
	Encoding dataset.Encoding

	// LoRA trains the actor as low-rank adapters over --policy (Rank > 0);
	// the reference is then the same weights with the adapters off (no
	// second copy) when it shares the actor's device. CriticLoRA does the
	// same for the critic (its score head trains in full). See LoRAOptions.
	LoRA, CriticLoRA LoRAOptions
	// GradCheckpoint recomputes each block's activations in the actor's
	// and critic's backward passes instead of keeping them.
	GradCheckpoint bool
	// RefDType and RewardDType are the dtypes the frozen reference and
	// reward model are stored and computed in (float32, bfloat16 or
	// float16; no float32 copy). Default: DType when it is bfloat16 or
	// float16, else float32.
	RefDType, RewardDType string

	// rewardFn, when set (tests), replaces the reward model (it is the
	// first reward source): the score of a response given its prompt (token
	// ids, EOS included when generated).
	rewardFn func(prompt, response []int32) float64
	// criticIsReward is set by Defaults when Critic was empty and took
	// Reward, so that errors about the critic name --reward.
	criticIsReward bool
}

// Defaults fills zero values with the documented defaults, except the
// lengths that depend on the models (MaxNewTokens, MaxPromptLen and
// PtxMaxLen), which fitLengths sets once the models' configs are read.
func (o *PPOOptions) Defaults() {
	if o.Algo == "" {
		o.Algo = AlgoPPO
	}
	if o.NumSamples == 0 {
		o.NumSamples = 1
		if o.Algo == AlgoGRPO || o.Algo == AlgoRLOO {
			o.NumSamples = 4
		}
	}
	ppoDefaultF(&o.Temperature, 1)
	ppoDefaultF(&o.TopP, 1)
	ppoDefault(&o.Epochs, 1)
	ppoDefault(&o.RolloutBatch, 64)
	ppoDefault(&o.MiniBatch, 16)
	ppoDefault(&o.PPOEpochs, 1)
	ppoDefaultF(&o.LR, 1e-5)
	ppoDefaultF(&o.CriticLR, 5e-6)
	ppoDefaultF(&o.KLHorizon, 10000)
	ppoDefault(&o.SaveEvery, 20)
	if o.RewardTimeout == 0 {
		o.RewardTimeout = reward.DefaultTimeout
	}
	if o.Critic == "" && o.Algo == AlgoPPO {
		o.Critic, o.criticIsReward = o.Reward, true
	}
	if o.PtxBatch == 0 {
		o.PtxBatch = o.MiniBatch
	}
	if o.OnMaxKL == "" {
		o.OnMaxKL = "stop"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	o.memoryDefaults()
}

// PPODefaults returns options with every default filled, for the command
// to bind flags to (so --help shows them).
func PPODefaults() PPOOptions {
	o := PPOOptions{KLCoef: 0.02, Gamma: 1, Lambda: 0.95, Clip: 0.2, ValueClip: 0.2, ClipGrad: 1, Keep: 2, LogSamples: 10}
	o.LoRA, o.CriticLoRA = LoRADefaults(), LoRADefaults()
	o.Defaults()
	o.Critic, o.criticIsReward, o.NumSamples = "", false, 0 // depend on --reward and --algo
	o.RefDType, o.RewardDType = "", ""                      // depend on --dtype
	return o
}

// critic reports whether the algorithm trains a critic.
func (o *PPOOptions) critic() bool { return o.Algo == AlgoPPO }

// hasRM reports whether a reward model (or the tests' rewardFn) is the
// first reward source.
func (o *PPOOptions) hasRM() bool { return o.Reward != "" || o.rewardFn != nil }

// checkAlgo validates what depends on the algorithm and the reward sources.
func (o *PPOOptions) checkAlgo() error {
	sources := len(o.RewardFns)
	if o.hasRM() {
		sources++
	}
	switch {
	case !slices.Contains(PPOAlgos, o.Algo):
		return option.Errorf("{Algo} %q: want one of %s", o.Algo, strings.Join(PPOAlgos, ", "))
	case o.NumSamples < 1:
		return option.Errorf("{NumSamples} %d: want at least 1", o.NumSamples)
	case (o.Algo == AlgoGRPO || o.Algo == AlgoRLOO) && o.NumSamples < 2:
		return option.Errorf("{NumSamples} %d: {Algo} %s compares the responses to each prompt; want at least 2", o.NumSamples, o.Algo)
	case len(o.RewardWeights) > 0 && len(o.RewardWeights) != sources:
		return option.Errorf("{RewardWeights}: %d weights for %d reward sources (want one per source, in order: the RM when {Reward} is given, then each {RewardFns})", len(o.RewardWeights), sources)
	case o.RewardTimeout < 0:
		return option.Errorf("{RewardTimeout} %s: want ≥ 0", o.RewardTimeout)
	}
	for i, w := range o.RewardWeights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return option.Errorf("{RewardWeights}: weight %d is %v; want finite numbers", i+1, w)
		}
	}
	if o.critic() {
		if o.Critic == "" {
			return option.Errorf("{Critic}: PPO trains a critic, which starts from {Reward} by default; without {Reward} give {Critic} (a reward-model checkpoint), or pick a critic-free {Algo} (grpo, rloo, reinforce++)")
		}
		return nil
	}
	for _, c := range []struct {
		set   bool
		field option.Field
	}{{o.Critic != "", "Critic"}, {o.CriticDevice != "", "CriticDevice"}, {o.CriticWarmup > 0, "CriticWarmup"},
		{o.CriticLoRA.Enabled(), "CriticLoRA.Rank"}} {
		if c.set {
			return option.Errorf("%s: {Algo} %s trains no critic; it applies to {Algo} ppo only", c.field, o.Algo)
		}
	}
	if o.NoWhiten {
		return option.Errorf("{NoWhiten}: {Algo} %s has no PPO whitening to turn off (REINFORCE++'s normalisation is part of the algorithm; GRPO and RLOO normalise per prompt); it applies to {Algo} ppo only", o.Algo)
	}
	return nil
}

// fitLengths sets MaxPromptLen and MaxNewTokens not given to fit the
// smallest context of the policy, critic and reward model (infer.FitLengths),
// saying so when that lowered the defaults, then PtxMaxLen's default.
func (o *PPOOptions) fitLengths() error {
	positions := infer.ContextOf(o.Policy, o.Critic, o.Reward)
	p, r, err := infer.FitLengths(positions, o.MaxPromptLen, o.MaxNewTokens, infer.DefaultMaxPromptLen, infer.DefaultMaxNewTokens)
	if err != nil {
		return err
	}
	if (o.MaxPromptLen == 0 && p < infer.DefaultMaxPromptLen) || (o.MaxNewTokens == 0 && r < infer.DefaultMaxNewTokens) {
		slog.Info("--max-prompt-len/--max-new-tokens not given: lowered from 256/128 to fit the models' context",
			"max_prompt_len", p, "max_new_tokens", r, "positions", positions)
	}
	o.MaxPromptLen, o.MaxNewTokens = p, r
	if o.PtxMaxLen == 0 {
		o.PtxMaxLen = p + r
	}
	return nil
}

func ppoDefault(x *int, v int) {
	if *x == 0 {
		*x = v
	}
}

func ppoDefaultF(x *float64, v float64) {
	if *x == 0 {
		*x = v
	}
}

// Check validates the options before anything is loaded.
func (o *PPOOptions) Check() error {
	switch {
	case o.Policy == "":
		return option.Errorf("{Policy}: no SFT checkpoint given")
	case !o.hasRM() && len(o.RewardFns) == 0:
		return option.Errorf("{Reward}: no reward-model checkpoint given (or rule rewards with {RewardFns})")
	case o.Prompts == "":
		return option.Errorf("{Prompts}: no prompt dataset given")
	case o.Out == "":
		return option.Errorf("{Out}: no output folder given")
	case o.MaxNewTokens < 0:
		return option.Errorf("{MaxNewTokens} %d: want at least 1 (or 0: fit the policy's context)", o.MaxNewTokens)
	case o.MaxPromptLen < 0:
		return option.Errorf("{MaxPromptLen} %d: want at least 1 (or 0: fit the policy's context)", o.MaxPromptLen)
	case o.Temperature < 0 || o.TopP < 0 || o.TopP > 1 || o.TopK < 0:
		return option.Errorf("{Temperature} must be ≥ 0, {TopP} in [0,1], {TopK} ≥ 0")
	case o.Iterations < 0 || o.Epochs < 1:
		return option.Errorf("{Iterations} %d / {Epochs} %d: want iterations ≥ 0 and epochs ≥ 1", o.Iterations, o.Epochs)
	case o.MiniBatch < 1 || o.RolloutBatch < 1 || o.NumSamples <= 1 && o.RolloutBatch%o.MiniBatch != 0:
		return option.Errorf("{RolloutBatch} %d must be a positive multiple of {MiniBatch} %d", o.RolloutBatch, o.MiniBatch)
	case o.NumSamples > 1 && (o.RolloutBatch*o.NumSamples)%o.MiniBatch != 0:
		return option.Errorf("{RolloutBatch} %d × {NumSamples} %d = %d sequences per iteration must be a multiple of {MiniBatch} %d",
			o.RolloutBatch, o.NumSamples, o.RolloutBatch*o.NumSamples, o.MiniBatch)
	case o.PPOEpochs < 1:
		return option.Errorf("{PPOEpochs} %d: want at least 1", o.PPOEpochs)
	case !(o.LR > 0) || !(o.CriticLR > 0):
		return option.Errorf("{LR} %g / {CriticLR} %g: want positive learning rates", o.LR, o.CriticLR)
	case o.WeightDecay < 0 || o.ClipGrad < 0:
		return option.Errorf("{WeightDecay} and {ClipGrad} must not be negative")
	case o.KLCoef < 0 || o.TargetKL < 0 || o.KLHorizon <= 0:
		return option.Errorf("{KLCoef} %g, {TargetKL} %g: want ≥ 0; {KLHorizon} %g: want > 0", o.KLCoef, o.TargetKL, o.KLHorizon)
	case o.Gamma < 0 || o.Gamma > 1 || o.Lambda < 0 || o.Lambda > 1:
		return option.Errorf("{Gamma} %g / {Lambda} %g: want values in [0, 1]", o.Gamma, o.Lambda)
	case !(o.Clip > 0) || o.ValueClip < 0:
		return option.Errorf("{Clip} %g: want > 0; {ValueClip} %g: want ≥ 0 (0 = off)", o.Clip, o.ValueClip)
	case o.EntropyCoef < 0 || o.RewardClip < 0:
		return option.Errorf("{EntropyCoef} and {RewardClip} must not be negative")
	case o.PtxCoef < 0:
		return option.Errorf("{PtxCoef} %g: want ≥ 0 (0 = plain PPO)", o.PtxCoef)
	case o.PtxCoef > 0 && o.Ptx == "":
		return option.Errorf("{PtxCoef} %g needs {Ptx} DATASET (sft or qa pre-training data)", o.PtxCoef)
	case o.PtxBatch < 1 || o.PtxMaxLen < 0 || o.PtxMaxLen == 1:
		return option.Errorf("{PtxBatch} %d / {PtxMaxLen} %d: want ≥ 1 and ≥ 2", o.PtxBatch, o.PtxMaxLen)
	case o.MaxKL < 0 || (o.OnMaxKL != "stop" && o.OnMaxKL != "warn"):
		return option.Errorf("{MaxKL} %g (want ≥ 0) / {OnMaxKL} %q (want stop or warn)", o.MaxKL, o.OnMaxKL)
	case o.CriticWarmup < 0 || o.SkipNonFinite < 0 || o.SaveEvery < 1 || o.Keep < 0 || o.LogSamples < 0 || o.StopAfter < 0:
		return option.Errorf("{CriticWarmup}, {SkipNonFinite}, {Keep}, {LogSamples}, {StopAfter} must be ≥ 0 and {SaveEvery} ≥ 1")
	case model.CheckTemplate(o.Template) != nil:
		return option.Errorf("{Template} %q: want none, model (the tokenizer's chat template) or a text with {prompt}", o.Template)
	}
	if err := o.checkMemory(); err != nil {
		return err
	}
	return o.checkAlgo()
}
