package train

import (
	"fmt"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
)

// PPOOptions configure `rlhf ppo`: PPO (with the optional PPO-ptx term) of
// an SFT policy against a frozen reward model, InstructGPT style.
//
// Vocabulary: an "iteration" is one rollout (RolloutBatch prompts sampled,
// scored, turned into advantages) followed by PPOEpochs passes over it in
// mini-batches; each mini-batch is one optimizer update of the actor and
// one of the critic.
//
// Defaults: Defaults (called by RunPPO) fills zero sizes, rates and
// lengths; fields where 0 is meaningful (KLCoef, Gamma, Lambda, ValueClip,
// ClipGrad, LogSamples, Keep, Clip) keep what the caller set, so library
// callers should start from PPODefaults(), as the command does.
type PPOOptions struct {
	// Policy is the SFT checkpoint: the actor starts from it and the frozen
	// reference policy is it. Required.
	Policy string
	// Reward is the reward-model checkpoint (with a score head; its
	// rlhf.json reward_mean/reward_std normalise scores). Required.
	Reward string
	// Critic is the checkpoint the value function starts from. Default: Reward
	// (InstructGPT initialises the value function from the reward model).
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

	// MaxNewTokens is the maximum response length in tokens. Default 128.
	MaxNewTokens int
	// MaxPromptLen is the maximum prompt length in tokens (template
	// included); longer prompts lose their start. Default 256.
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
	// RolloutBatch is the number of prompts sampled per iteration. Default 64.
	RolloutBatch int
	// MiniBatch is the number of sequences per update (and per generation
	// and scoring batch); it must divide RolloutBatch. Default 16.
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

	// KLCoef is β, the weight of the per-token KL penalty (the initial value
	// when TargetKL > 0). Default 0.02.
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
	// NoWhiten turns off the per-rollout whitening of advantages (mean 0,
	// std 1). Default false: advantages are whitened.
	NoWhiten bool

	// PtxCoef is γ_ptx, the weight of the pre-training LM loss added to the
	// actor loss (InstructGPT used 27.8); 0 is plain PPO. Default 0.
	PtxCoef float64
	// PtxBatch is the number of ptx sequences per update. Default MiniBatch.
	PtxBatch int
	// PtxMaxLen is the maximum ptx sequence length in tokens. Default
	// MaxPromptLen + MaxNewTokens.
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

	// rewardFn, when set (tests), replaces the reward model: the score of a
	// response given its prompt (token ids, EOS included when generated).
	rewardFn func(prompt, response []int32) float64
	// criticIsReward is set by Defaults when Critic was empty and took
	// Reward, so that errors about the critic name --reward.
	criticIsReward bool
}

// Defaults fills zero values with the documented defaults.
func (o *PPOOptions) Defaults() {
	ppoDefault(&o.MaxNewTokens, 128)
	ppoDefault(&o.MaxPromptLen, 256)
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
	if o.Critic == "" {
		o.Critic, o.criticIsReward = o.Reward, true
	}
	if o.PtxBatch == 0 {
		o.PtxBatch = o.MiniBatch
	}
	if o.PtxMaxLen == 0 {
		o.PtxMaxLen = o.MaxPromptLen + o.MaxNewTokens
	}
	if o.OnMaxKL == "" {
		o.OnMaxKL = "stop"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// PPODefaults returns options with every default filled, for the command
// to bind flags to (so --help shows them).
func PPODefaults() PPOOptions {
	o := PPOOptions{KLCoef: 0.02, Gamma: 1, Lambda: 0.95, Clip: 0.2, ValueClip: 0.2, ClipGrad: 1, Keep: 2, LogSamples: 10}
	o.Defaults()
	o.Critic, o.criticIsReward = "", false
	return o
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
		return fmt.Errorf("--policy: no SFT checkpoint given")
	case o.Reward == "" && o.rewardFn == nil:
		return fmt.Errorf("--reward: no reward-model checkpoint given")
	case o.Prompts == "":
		return fmt.Errorf("--prompts: no prompt dataset given")
	case o.Out == "":
		return fmt.Errorf("--out: no output folder given")
	case o.MaxNewTokens < 1:
		return fmt.Errorf("--max-new-tokens %d: want at least 1", o.MaxNewTokens)
	case o.MaxPromptLen < 1:
		return fmt.Errorf("--max-prompt-len %d: want at least 1", o.MaxPromptLen)
	case o.Temperature < 0 || o.TopP < 0 || o.TopP > 1 || o.TopK < 0:
		return fmt.Errorf("--temperature must be ≥ 0, --top-p in [0,1], --top-k ≥ 0")
	case o.Iterations < 0 || o.Epochs < 1:
		return fmt.Errorf("--iterations %d / --epochs %d: want iterations ≥ 0 and epochs ≥ 1", o.Iterations, o.Epochs)
	case o.MiniBatch < 1 || o.RolloutBatch < 1 || o.RolloutBatch%o.MiniBatch != 0:
		return fmt.Errorf("--rollout-batch %d must be a positive multiple of --mini-batch %d", o.RolloutBatch, o.MiniBatch)
	case o.PPOEpochs < 1:
		return fmt.Errorf("--ppo-epochs %d: want at least 1", o.PPOEpochs)
	case !(o.LR > 0) || !(o.CriticLR > 0):
		return fmt.Errorf("--lr %g / --critic-lr %g: want positive learning rates", o.LR, o.CriticLR)
	case o.WeightDecay < 0 || o.ClipGrad < 0:
		return fmt.Errorf("--weight-decay and --clip-grad must not be negative")
	case o.KLCoef < 0 || o.TargetKL < 0 || o.KLHorizon <= 0:
		return fmt.Errorf("--kl-coef %g, --target-kl %g: want ≥ 0; --kl-horizon %g: want > 0", o.KLCoef, o.TargetKL, o.KLHorizon)
	case o.Gamma < 0 || o.Gamma > 1 || o.Lambda < 0 || o.Lambda > 1:
		return fmt.Errorf("--gamma %g / --lambda %g: want values in [0, 1]", o.Gamma, o.Lambda)
	case !(o.Clip > 0) || o.ValueClip < 0:
		return fmt.Errorf("--clip %g: want > 0; --value-clip %g: want ≥ 0 (0 = off)", o.Clip, o.ValueClip)
	case o.EntropyCoef < 0 || o.RewardClip < 0:
		return fmt.Errorf("--entropy-coef and --reward-clip must not be negative")
	case o.PtxCoef < 0:
		return fmt.Errorf("--ptx-coef %g: want ≥ 0 (0 = plain PPO)", o.PtxCoef)
	case o.PtxCoef > 0 && o.Ptx == "":
		return fmt.Errorf("--ptx-coef %g needs --ptx DATASET (sft or qa pre-training data)", o.PtxCoef)
	case o.PtxBatch < 1 || o.PtxMaxLen < 2:
		return fmt.Errorf("--ptx-batch %d / --ptx-max-len %d: want ≥ 1 and ≥ 2", o.PtxBatch, o.PtxMaxLen)
	case o.MaxKL < 0 || (o.OnMaxKL != "stop" && o.OnMaxKL != "warn"):
		return fmt.Errorf("--max-kl %g (want ≥ 0) / --on-max-kl %q (want stop or warn)", o.MaxKL, o.OnMaxKL)
	case o.CriticWarmup < 0 || o.SkipNonFinite < 0 || o.SaveEvery < 1 || o.Keep < 0 || o.LogSamples < 0 || o.StopAfter < 0:
		return fmt.Errorf("--critic-warmup-steps, --skip-nonfinite, --keep, --log-samples, --stop-after must be ≥ 0 and --save-every ≥ 1")
	case o.Template != "" && !strings.Contains(o.Template, "{prompt}"):
		return fmt.Errorf("--template %q: it must contain {prompt}", o.Template)
	}
	return nil
}
