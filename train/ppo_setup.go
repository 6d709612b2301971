package train

import (
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/reward"
)

// ppoRun is the state of one run: the models (up to four) and their
// executables, the reward sources, the encoded prompts, the position in
// them and the checkpointed trainer state. setupPPO builds it; the phases
// read it.
type ppoRun struct {
	o          PPOOptions
	iterations int // total, including those before a resume

	// critic is nil for the critic-free algorithms, rm without --reward or
	// with a synthetic reward.
	actor, ref, critic, rm *model.Model
	tok                    *tokenizer.Tokenizer
	eos, pad               int
	norm                   infer.RewardNorm // of the reward model's scores
	// actorSaver and criticSaver write actor and critic into checkpoints
	// with the tokenizer files they were loaded with.
	actorSaver, criticSaver *modelSaver

	// rules are the rule rewards (--reward-fn), named ruleNames in the
	// metrics; weights weigh the reward sources (the RM first when there
	// is one, then each rule).
	rules     []*reward.Rule
	ruleNames []string
	weights   []float64

	prompts   []dataset.Prompt
	promptIDs [][]int32 // in the actor's template, at most MaxPromptLen tokens
	P, R      int       // prompt and response columns of every sequence
	stream    *promptStream
	ptx       *ptxData // nil without PPO-ptx

	dec                 *model.Decoder
	actorLP, refLP      *infer.LogProbExec
	criticV             *gmodel.Exec // nil without a critic
	rmScorer            *infer.Scorer
	actorOpt, criticOpt *Optimizer // criticOpt nil without a critic
	backends            map[string]compute.Backend

	state  *TrainerState
	kl     *KLController
	guard  *Guard
	log    *MetricsLog
	ckpt   *checkpointer
	stores []NamedStore
	// advantages estimates per-token advantages and returns (GAE for PPO).
	advantages advantageEstimator
}

// estimators are the advantage estimators of the algorithms.
var estimators = map[string]advantageEstimator{
	AlgoPPO: gaeEstimator, AlgoGRPO: grpoEstimator, AlgoRLOO: rlooEstimator, AlgoREINFORCEPP: reinforcePPEstimator,
}

// setupPPO loads and checks everything a PPO run needs, before any
// compute: prompts, output folder, models, ptx data, backends,
// executables and (with --resume) the saved state.
func setupPPO(o PPOOptions) (*ppoRun, error) {
	prompts, err := infer.ReadPrompts(o.Prompts, o.Encoding)
	if err != nil {
		return nil, option.Errorf("{Prompts}: %w", err)
	}
	rules, err := parseRewardFns(o, prompts)
	if err != nil {
		return nil, err
	}
	resumeFrom, err := StartRun(o.Algo, &CommonOptions{Out: o.Out, Resume: o.Resume}, o.Policy, o.Reward, o.Critic, o.Prompts, o.Ptx)
	if err != nil {
		return nil, err
	}
	r := &ppoRun{o: o, prompts: prompts, R: o.MaxNewTokens, backends: map[string]compute.Backend{},
		advantages: estimators[o.Algo], ckpt: &checkpointer{last: resumeFrom}}
	r.setupRewards(rules)
	if err := r.loadModels(resumeFrom); err != nil {
		return nil, err
	}
	if err := r.encode(); err != nil {
		return nil, err
	}
	if err := r.compile(); err != nil {
		return nil, err
	}
	if err := r.restore(resumeFrom); err != nil {
		return nil, err
	}
	return r, nil
}

// parseRewardFns parses the rule rewards and checks that every prompt has
// the reference answer those that compare with one need, before any output
// is touched.
func parseRewardFns(o PPOOptions, prompts []dataset.Prompt) ([]*reward.Rule, error) {
	var rules []*reward.Rule
	for _, spec := range o.RewardFns {
		rule, err := reward.Parse(spec)
		if err != nil {
			return nil, option.Errorf("{RewardFns}: %w", err)
		}
		rule.Timeout = o.RewardTimeout
		rules = append(rules, rule)
		if !rule.NeedsReference() {
			continue
		}
		missing, first := 0, -1
		for i, p := range prompts {
			if strings.TrimSpace(p.Reference) == "" {
				missing++
				if first < 0 {
					first = i
				}
			}
		}
		if missing > 0 {
			return nil, option.Errorf("{RewardFns} %s compares with each prompt's reference answer, but %d of %d rows of {Prompts} have none (first: row %d, id %q, task %q); use prompts with a reference column (build-prompts fills it for closed_qa, extract and classification rows) or a rule that needs none (regex:, cmd:)",
				spec, missing, len(prompts), first+1, prompts[first].ID, prompts[first].Task)
		}
	}
	return rules, nil
}

// setupRewards keeps the rule rewards and resolves the weights of the
// reward sources.
func (r *ppoRun) setupRewards(rules []*reward.Rule) {
	o := r.o
	r.rules, r.ruleNames = rules, reward.Names(rules)
	r.weights = o.RewardWeights
	if len(r.weights) == 0 {
		n := len(r.rules)
		if o.hasRM() {
			n++
		}
		r.weights = make([]float64, n)
		for i := range r.weights {
			r.weights[i] = 1
		}
	}
}

// loadModels loads actor (from the checkpoint when resuming), reference,
// critic (PPO only) and reward model (when given), and checks they fit
// together.
func (r *ppoRun) loadModels(resumeFrom string) error {
	o := r.o
	maxSeq := o.MaxPromptLen + o.MaxNewTokens
	if cfg, err := model.LoadConfig(o.Policy); err == nil && cfg.MaxPositions > 0 && maxSeq > cfg.MaxPositions {
		return option.Errorf("{MaxPromptLen} %d + {MaxNewTokens} %d = %d tokens is above the context of {Policy} %s (%d positions)",
			o.MaxPromptLen, o.MaxNewTokens, maxSeq, o.Policy, cfg.MaxPositions)
	}
	// The critic starts from Reward unless Critic was given: errors
	// about its checkpoint name the option the user gave.
	var criticFrom any = option.Field("Critic")
	actorDir, criticDir := o.Policy, o.Critic
	criticWhy := "the critic starts from a reward model (rlhf rm)"
	if o.criticIsReward {
		criticFrom, criticWhy = option.Field("Reward"), "train one with rlhf rm (it is also the critic's start)"
	}
	if resumeFrom != "" {
		actorDir, criticDir, criticFrom = resumeFrom, filepath.Join(resumeFrom, CriticDir), "the checkpoint's critic"
	}
	var err error
	if r.actor, r.tok, err = loadModel(option.Field("Policy"), actorDir, maxSeq, o.Template); err != nil {
		return err
	}
	if !r.actor.HasLMHead {
		return option.Errorf("{Policy} %s: the checkpoint has no language-model head; PPO starts from an SFT model", o.Policy)
	}
	if r.sharedRef() {
		r.ref = r.actor.WithoutAdapters() // the actor's base with its adapters off: no second copy
	} else if r.ref, _, err = loadModel(option.Field("Policy"), o.Policy, maxSeq, o.Template); err != nil {
		return err
	}
	if r.actorSaver, err = newModelSaver(r.actor); err != nil {
		return option.Errorf("{Policy} %w", err)
	}
	models := []*model.Model{r.actor, r.ref}
	if o.critic() {
		critic, criticTok, err := loadModel(criticFrom, criticDir, maxSeq, "")
		if err != nil {
			return err
		}
		if !critic.HasScoreHead() {
			return option.Errorf("%s %s: the checkpoint has no score head; %s", criticFrom, criticDir, criticWhy)
		}
		if err := infer.SameTokenizer(r.tok, criticTok); err != nil {
			return option.Errorf("{Policy} and %s: %w", criticFrom, err)
		}
		r.critic = critic
		if r.criticSaver, err = newModelSaver(r.critic); err != nil {
			return option.Errorf("%s %w", criticFrom, err)
		}
		models = append(models, critic)
	}
	r.norm = infer.RewardNorm{Mean: 0, Std: 1}
	if o.rewardFn == nil && o.Reward != "" {
		rm, rmTok, err := loadModel(option.Field("Reward"), o.Reward, maxSeq, "")
		if err != nil {
			return err
		}
		if !rm.HasScoreHead() {
			return option.Errorf("{Reward} %s: the checkpoint has no score head; train one with rlhf rm", o.Reward)
		}
		if err := infer.SameTokenizer(r.tok, rmTok); err != nil {
			return option.Errorf("{Policy} and {Reward}: %w", err)
		}
		var ok bool
		if r.norm, ok = infer.NewRewardNorm(rm.Meta); !ok {
			slog.Warn("the reward model has no reward_mean/reward_std in rlhf.json; scores are used unnormalised", "reward", o.Reward)
		}
		r.rm = rm
		models = append(models, rm)
	}
	for _, m := range models {
		if err := m.SetComputeDType(o.DType); err != nil {
			return err
		}
	}
	if err := r.prepareMemory(resumeFrom != ""); err != nil {
		return err
	}
	r.eos, r.pad = r.tok.EOS(), r.tok.PAD()
	if r.pad < 0 {
		r.pad = r.eos
	}
	return nil
}

// encode tokenises the prompts (and ptx data) once, in the actor's template.
func (r *ppoRun) encode() error {
	o := r.o
	maxSeq := o.MaxPromptLen + o.MaxNewTokens
	enc := &infer.Encoder{Tok: r.tok, Meta: r.actor.Meta, MaxLen: maxSeq, Truncate: infer.TruncateLeft}
	var truncated int
	r.promptIDs, r.P, truncated = infer.EncodePrompts(r.prompts, enc, o.MaxPromptLen)
	if truncated > 0 {
		slog.Warn("prompts longer than --max-prompt-len lost their start", "rows", truncated, "max_prompt_len", o.MaxPromptLen)
	}
	if mp := r.actor.Config.MaxPositions; r.actor.Config.Arch == model.ArchGPT2 && mp > 0 && r.P+r.R > mp {
		return option.Errorf("{MaxPromptLen}/{MaxNewTokens}: prompts of %d tokens plus %d new tokens exceed the model's %d positions", r.P, r.R, mp)
	}
	if o.PtxCoef > 0 {
		penc := &infer.Encoder{Tok: r.tok, Meta: r.actor.Meta, MaxLen: o.PtxMaxLen, Truncate: infer.TruncateLeft}
		var err error
		if r.ptx, err = loadPtx(o.Ptx, penc, o.PtxBatch, o.Seed, o.Encoding); err != nil {
			return err
		}
	}
	r.iterations = o.Iterations
	if r.iterations == 0 {
		r.iterations = o.Epochs * ((len(r.prompts) + o.RolloutBatch - 1) / o.RolloutBatch)
	}
	return nil
}

// backendFor returns the backend of spec ("" = Backend), one per
// distinct spec; field names the device option in errors.
func (r *ppoRun) backendFor(field option.Field, spec string) (compute.Backend, error) {
	if spec == "" {
		spec = r.o.Backend
	}
	if b, ok := r.backends[spec]; ok {
		return b, nil
	}
	b, err := model.NewBackend(spec)
	if err != nil {
		return nil, option.Errorf("%s: %w", field, err)
	}
	r.backends[spec] = b
	return b, nil
}

// compile places each model on its backend and prepares the executables:
// the actor's decoder and log-probs, the reference's log-probs, the
// critic's values, the reward model's scorer and the optimizers (no critic
// executables for the critic-free algorithms).
func (r *ppoRun) compile() error {
	o := r.o
	actorBE, err := r.backendFor("ActorDevice", o.ActorDevice)
	if err != nil {
		return err
	}
	refBE, err := r.backendFor("RefDevice", o.RefDevice)
	if err != nil {
		return err
	}
	if r.dec, err = model.NewDecoder(actorBE, r.actor); err != nil {
		return err
	}
	r.actorLP, r.refLP = infer.NewLogProbExec(actorBE, r.actor), infer.NewLogProbExec(refBE, r.ref)
	if r.rm != nil {
		rmBE, err := r.backendFor("RewardDevice", o.RewardDevice)
		if err != nil {
			return err
		}
		if r.rmScorer, err = infer.NewScorer(rmBE, r.rm); err != nil {
			return err
		}
	}
	optCfg := OptimizerConfig{WeightDecay: o.WeightDecay, ClipGrad: o.ClipGrad}
	r.actorOpt = NewOptimizer(actorBE, r.actor.Store, ppoActorLoss(r.actor, o.Algo == AlgoGRPO), optCfg)
	r.stores = []NamedStore{{Name: "actor", Store: r.actor.Store}}
	if r.critic == nil {
		return nil
	}
	criticBE, err := r.backendFor("CriticDevice", o.CriticDevice)
	if err != nil {
		return err
	}
	r.criticV = newValueExec(criticBE, r.critic)
	r.criticOpt = NewOptimizer(criticBE, r.critic.Store, ppoCriticLoss(r.critic), optCfg)
	r.stores = append(r.stores, NamedStore{Name: "critic", Store: r.critic.Store})
	return nil
}

// restore sets the iteration, prompt position, KL coefficient and ptx
// position: fresh, or from the checkpoint resumeFrom. It opens the metrics
// log and prepares checkpointing.
func (r *ppoRun) restore(resumeFrom string) error {
	o := r.o
	r.state = &TrainerState{Kind: o.Algo, TotalSteps: r.iterations, Seed: o.Seed, Extra: map[string]float64{}}
	r.kl = &KLController{Beta: o.KLCoef, Target: o.TargetKL, Horizon: o.KLHorizon}
	if resumeFrom != "" {
		state, err := LoadTrainerState(resumeFrom, r.stores...)
		if err != nil {
			return err
		}
		if state.Kind != o.Algo {
			return option.Errorf("{Resume}: %s holds a %q run, not %s (resume with the {Algo} it was started with)", resumeFrom, state.Kind, o.Algo)
		}
		r.state = state
		r.kl.Beta = state.Extra["kl_coef"]
		if r.ptx != nil {
			r.ptx.data.epoch, r.ptx.data.index = int(state.Extra["ptx_epoch"]), int(state.Extra["ptx_batch"])
		}
		state.TotalSteps = r.iterations
		slog.Info("resuming", "from", resumeFrom, "iteration", state.Step, "kl_coef", r.kl.Beta)
	} else {
		r.actor.Meta.Stage = o.Algo
		r.actor.Meta.BaseModel = o.Policy
		r.actor.Meta.Extra = map[string]any{"reward_model": o.Reward, "kl_coef": o.KLCoef, "ptx_coef": o.PtxCoef,
			"algo": o.Algo, "num_samples": o.NumSamples}
		if len(o.RewardFns) > 0 {
			r.actor.Meta.Extra["reward_fns"], r.actor.Meta.Extra["reward_weights"] = o.RewardFns, r.weights
		}
		if r.critic != nil {
			r.critic.Meta.Stage = "ppo-critic"
			r.critic.Meta.BaseModel = o.Critic
		}
	}
	if r.state.Extra == nil {
		r.state.Extra = map[string]float64{}
	}
	r.stream = &promptStream{n: len(r.prompts), seed: o.Seed, epoch: r.state.Epoch, pos: r.state.Batch}
	r.guard = &Guard{Allowed: o.SkipNonFinite, Skipped: r.state.Skipped}
	var err error
	if r.log, err = OpenMetricsLog(o.Out, r.state.Step); err != nil {
		return err
	}
	if err := trimSamples(o.Out, r.state.Step); err != nil {
		return err
	}
	r.ckpt.save = r.saveCheckpoint
	return nil
}

// saveCheckpoint records the run's position and writes actor, critic (PPO)
// and optimizer state.
func (r *ppoRun) saveCheckpoint() (string, error) {
	s := r.state
	s.Epoch, s.Batch, s.Skipped = r.stream.epoch, r.stream.pos, r.guard.Skipped
	s.Extra["kl_coef"] = r.kl.Beta
	if r.ptx != nil {
		s.Extra["ptx_epoch"], s.Extra["ptx_batch"] = float64(r.ptx.data.epoch), float64(r.ptx.data.index)
	}
	return SaveCheckpoint(r.o.Out, s.Step, func(dir string) error {
		if err := r.actorSaver.save(dir); err != nil {
			return err
		}
		if r.critic == nil {
			return nil
		}
		return r.criticSaver.save(filepath.Join(dir, CriticDir))
	}, s, r.o.Keep, r.stores...)
}

// close releases the metrics log.
func (r *ppoRun) close() { r.log.Close() }
