package train

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/progress"
)

// CriticDir is the folder of the critic inside a PPO output or checkpoint.
const CriticDir = "critic"

// SamplesFile is the sample table log of a PPO run (JSON lines).
const SamplesFile = "samples.jsonl"

// PPOResult summarises a PPO run.
type PPOResult struct {
	// Iterations done in total (including those before a resume).
	Iterations int
	// First and Last are the metrics of the first and last iteration of
	// this invocation.
	First, Last Metrics
	// KLCoef is β at the end.
	KLCoef float64
	// Model is the folder of the final actor (Out), or of the last
	// checkpoint when the run stopped early.
	Model string
	// Stopped is true when the run stopped early (--stop-after, --max-kl).
	Stopped bool
}

// RunPPO trains the policy with PPO against the reward model: each
// iteration samples responses (rollout), scores them (actor and reference
// log-probs, values, RM score), computes per-token rewards and GAE
// advantages, and updates actor and critic for PPOEpochs passes in
// mini-batches.
func RunPPO(ctx context.Context, o PPOOptions) (*PPOResult, error) {
	o.Defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}

	// 1. Prompts, output folder, models. Every refusal comes before compute.
	prompts, err := readPrompts(o.Prompts, o.Encoding)
	if err != nil {
		return nil, err
	}
	resumeFrom, err := StartRun(&CommonOptions{Out: o.Out, Resume: o.Resume})
	if err != nil {
		return nil, err
	}
	maxSeq := o.MaxPromptLen + o.MaxNewTokens
	if cfg, err := model.LoadConfig(o.Policy); err == nil && cfg.MaxPositions > 0 && maxSeq > cfg.MaxPositions {
		return nil, fmt.Errorf("--max-prompt-len %d + --max-new-tokens %d = %d tokens is above the context of --policy %s (%d positions)",
			o.MaxPromptLen, o.MaxNewTokens, maxSeq, o.Policy, cfg.MaxPositions)
	}
	actorDir, criticDir := o.Policy, o.Critic
	if resumeFrom != "" {
		actorDir, criticDir = resumeFrom, filepath.Join(resumeFrom, CriticDir)
	}
	actor, tok, err := LoadModel("--policy", actorDir, maxSeq, o.Template)
	if err != nil {
		return nil, err
	}
	if !actor.HasLMHead {
		return nil, fmt.Errorf("--policy %s: the checkpoint has no language-model head; PPO starts from an SFT model", o.Policy)
	}
	ref, _, err := LoadModel("--policy", o.Policy, maxSeq, o.Template)
	if err != nil {
		return nil, err
	}
	critic, criticTok, err := LoadModel("--critic", criticDir, maxSeq, "")
	if err != nil {
		return nil, err
	}
	if !critic.HasScoreHead() {
		return nil, fmt.Errorf("--critic %s: the checkpoint has no score head; the critic starts from a reward model (rlhf rm)", criticDir)
	}
	if err := sameTokenizer("--policy", tok, "--critic", criticTok); err != nil {
		return nil, err
	}
	for _, m := range []*model.Model{actor, ref, critic} {
		if err := m.SetComputeDType(o.DType); err != nil {
			return nil, err
		}
	}
	var rm *model.Model
	rewardMean, rewardStd := 0.0, 1.0
	if o.rewardFn == nil {
		var rmTok = criticTok
		if rm, rmTok, err = LoadModel("--reward", o.Reward, maxSeq, ""); err != nil {
			return nil, err
		}
		if !rm.HasScoreHead() {
			return nil, fmt.Errorf("--reward %s: the checkpoint has no score head; train one with rlhf rm", o.Reward)
		}
		if err := rm.SetComputeDType(o.DType); err != nil {
			return nil, err
		}
		if err := sameTokenizer("--policy", tok, "--reward", rmTok); err != nil {
			return nil, err
		}
		if rm.Meta.RewardStd > 0 {
			rewardMean, rewardStd = rm.Meta.RewardMean, rm.Meta.RewardStd
		} else {
			slog.Warn("the reward model has no reward_mean/reward_std in rlhf.json; scores are used unnormalised", "reward", o.Reward)
		}
	}
	eos, pad := tok.EOS(), tok.PAD()
	if pad < 0 {
		pad = eos
	}

	// 2. Tokenise prompts (and ptx data) once.
	enc := &Encoder{Tok: tok, Meta: actor.Meta, MaxLen: maxSeq, Truncate: TruncateLeft}
	promptIDs, P, truncated := encodePrompts(prompts, enc, o.MaxPromptLen)
	if truncated > 0 {
		slog.Warn("prompts longer than --max-prompt-len lost their start", "rows", truncated, "max_prompt_len", o.MaxPromptLen)
	}
	R := o.MaxNewTokens
	if mp := actor.Config.MaxPositions; actor.Config.Arch == model.ArchGPT2 && mp > 0 && P+R > mp {
		return nil, fmt.Errorf("--max-prompt-len/--max-new-tokens: prompts of %d tokens plus %d new tokens exceed the model's %d positions", P, R, mp)
	}
	var ptx *ptxData
	if o.PtxCoef > 0 {
		penc := &Encoder{Tok: tok, Meta: actor.Meta, MaxLen: o.PtxMaxLen, Truncate: TruncateLeft}
		if ptx, err = loadPtx(o.Ptx, penc, o.PtxBatch, o.Seed, o.Encoding); err != nil {
			return nil, err
		}
	}
	iterations := o.Iterations
	if iterations == 0 {
		iterations = o.Epochs * ((len(prompts) + o.RolloutBatch - 1) / o.RolloutBatch)
	}

	// 3. Backends (one per distinct device spec) and executables.
	backends := map[string]compute.Backend{}
	backendFor := func(flag, spec string) (compute.Backend, error) {
		if spec == "" {
			spec = o.Backend
		}
		if b, ok := backends[spec]; ok {
			return b, nil
		}
		b, err := model.NewBackend(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		backends[spec] = b
		return b, nil
	}
	actorBE, err := backendFor("--actor-device", o.ActorDevice)
	if err != nil {
		return nil, err
	}
	refBE, err := backendFor("--ref-device", o.RefDevice)
	if err != nil {
		return nil, err
	}
	criticBE, err := backendFor("--critic-device", o.CriticDevice)
	if err != nil {
		return nil, err
	}
	dec, err := model.NewDecoder(actorBE, actor)
	if err != nil {
		return nil, err
	}
	actorLP, refLP := newLogProbExec(actorBE, actor), newLogProbExec(refBE, ref)
	criticV := newValueExec(criticBE, critic)
	score := o.rewardFn // synthetic reward (tests), else the reward model
	var rmScore func(tokens, mask *tensors.Tensor) ([]float32, error)
	if rm != nil {
		rmBE, err := backendFor("--reward-device", o.RewardDevice)
		if err != nil {
			return nil, err
		}
		rmExec := newRewardExec(rmBE, rm)
		rmScore = func(tokens, mask *tensors.Tensor) ([]float32, error) {
			t, err := rmExec.Exec1(tokens, mask)
			if err != nil {
				return nil, err
			}
			defer t.FinalizeAll()
			return tensors.MustCopyFlatData[float32](t), nil
		}
	}
	optCfg := OptimizerConfig{WeightDecay: o.WeightDecay, ClipGrad: o.ClipGrad}
	actorOpt := NewOptimizer(actorBE, actor.Store, ppoActorLoss(actor), optCfg)
	criticOpt := NewOptimizer(criticBE, critic.Store, ppoCriticLoss(critic), optCfg)
	stores := []NamedStore{{Name: "actor", Store: actor.Store}, {Name: "critic", Store: critic.Store}}

	// 4. State: iteration, prompt position, KL controller, ptx position.
	state := &TrainerState{Kind: "ppo", TotalSteps: iterations, Seed: o.Seed, Extra: map[string]float64{}}
	kl := &KLController{Beta: o.KLCoef, Target: o.TargetKL, Horizon: o.KLHorizon}
	if resumeFrom != "" {
		if state, err = LoadTrainerState(resumeFrom, stores...); err != nil {
			return nil, err
		}
		if state.Kind != "ppo" {
			return nil, fmt.Errorf("--resume: %s holds a %q run, not ppo", resumeFrom, state.Kind)
		}
		kl.Beta = state.Extra["kl_coef"]
		if ptx != nil {
			ptx.data.epoch, ptx.data.index = int(state.Extra["ptx_epoch"]), int(state.Extra["ptx_batch"])
		}
		state.TotalSteps = iterations
		slog.Info("resuming", "from", resumeFrom, "iteration", state.Step, "kl_coef", kl.Beta)
	} else {
		actor.Meta.Stage = "ppo"
		actor.Meta.BaseModel = o.Policy
		actor.Meta.Extra = map[string]any{"reward_model": o.Reward, "kl_coef": o.KLCoef, "ptx_coef": o.PtxCoef}
		critic.Meta.Stage = "ppo-critic"
		critic.Meta.BaseModel = o.Critic
	}
	if state.Extra == nil {
		state.Extra = map[string]float64{}
	}
	stream := &promptStream{n: len(prompts), seed: o.Seed, epoch: state.Epoch, pos: state.Batch}
	guard := &Guard{Allowed: o.SkipNonFinite, Skipped: state.Skipped}

	log, err := OpenMetricsLog(o.Out, state.Step)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	if err := trimSamples(o.Out, state.Step); err != nil {
		return nil, err
	}
	ckpt := &checkpointer{last: resumeFrom}
	ckpt.save = func() (string, error) {
		state.Epoch, state.Batch, state.Skipped = stream.epoch, stream.pos, guard.Skipped
		state.Extra["kl_coef"] = kl.Beta
		if ptx != nil {
			state.Extra["ptx_epoch"], state.Extra["ptx_batch"] = float64(ptx.data.epoch), float64(ptx.data.index)
		}
		return SaveCheckpoint(o.Out, state.Step, func(dir string) error {
			if err := actor.Save(dir); err != nil {
				return err
			}
			return critic.Save(filepath.Join(dir, CriticDir))
		}, state, o.Keep, stores...)
	}

	res := &PPOResult{}
	bar := progress.New(int64(iterations), "ppo iterations")
	bar.Add(int64(state.Step))
	startIter := state.Step
	for state.Step < iterations {
		if err := ctx.Err(); err != nil {
			bar.Finish()
			return nil, ckpt.interrupted(err, "iteration", state.Step)
		}
		iter := state.Step
		m := Metrics{"step": float64(iter + 1), "kl_coef": kl.Beta}

		// 5a. Rollout: sample one response per prompt with the actor.
		t0 := time.Now()
		idx := stream.next(o.RolloutBatch)
		batchPrompts := make([]dataset.Prompt, len(idx))
		batchIDs := make([][]int32, len(idx))
		for i, j := range idx {
			batchPrompts[i], batchIDs[i] = prompts[j], promptIDs[j]
		}
		resp, ended, err := sampleResponses(ctx, dec, batchIDs, &o, eos, pad, o.Seed, uint64(iter)*uint64(o.RolloutBatch))
		if err != nil {
			return nil, fmt.Errorf("rollout %d: %w", iter+1, err)
		}
		ro := layoutRollout(batchPrompts, batchIDs, resp, P, R, pad)
		ro.ended = ended
		genTime := time.Since(t0)

		// 5b. Score: actor and reference log-probs, values, RM score.
		t0 = time.Now()
		N := ro.N
		ro.logp, ro.refLogp = make([]float32, N*R), make([]float32, N*R)
		ro.values, ro.entropy = make([]float32, N*R), make([]float32, N*R)
		ro.rawRM = make([]float64, N)
		for lo := 0; lo < N; lo += o.MiniBatch {
			rows := ppoRange(lo, min(lo+o.MiniBatch, N))
			// Fresh input tensors for each executable: a tensor cannot be
			// shared by two backends (models may sit on different devices).
			inputs := func() []any {
				tokens, mask, pt := ro.rows(rows, ro.respMask)
				return []any{tokens, mask, pt[0]}
			}
			out, err := actorLP.Exec(inputs()...)
			if err != nil {
				return nil, err
			}
			scatterRows(ro.logp, out[0], rows, R)
			scatterRows(ro.entropy, out[1], rows, R)
			if out, err = refLP.Exec(inputs()...); err != nil {
				return nil, err
			}
			scatterRows(ro.refLogp, out[0], rows, R)
			out[1].FinalizeAll() // the reference's entropy is not used
			v, err := criticV.Exec1(inputs()...)
			if err != nil {
				return nil, err
			}
			scatterRows(ro.values, v, rows, R)
			if score != nil {
				for _, n := range rows {
					ro.rawRM[n] = score(ro.tokens[n*ro.T()+P-len(batchIDs[n]):n*ro.T()+P], resp[n])
				}
			} else {
				s, err := rmScore(ro.rewardRows(rows, eos))
				if err != nil {
					return nil, err
				}
				for i, n := range rows {
					ro.rawRM[n] = float64(s[i])
				}
			}
		}
		scoreTime := time.Since(t0)

		// 5c. Rewards and advantages: −β·KL per token, normalised (clipped)
		// RM score on the last token, GAE, whitening.
		ro.score, ro.kl, ro.reward = make([]float64, N), make([]float64, N), make([]float64, N)
		advs, rets := make([][]float64, N), make([][]float64, N)
		nonFinite := 0
		for n := range N {
			s := (ro.rawRM[n] - rewardMean) / rewardStd
			if o.RewardClip > 0 {
				s = math.Max(-o.RewardClip, math.Min(o.RewardClip, s))
			}
			if !finite(s) {
				nonFinite++
				s = 0
			}
			ro.score[n] = s
			L := ro.respLen[n]
			lp, rlp, vals := make([]float64, L), make([]float64, L), make([]float64, L)
			for t := range L {
				lp[t], rlp[t], vals[t] = float64(ro.logp[n*R+t]), float64(ro.refLogp[n*R+t]), float64(ro.values[n*R+t])
			}
			rewards, k := KLRewards(lp, rlp, s, kl.Beta)
			ro.kl[n] = k
			for _, r := range rewards {
				ro.reward[n] += r
			}
			advs[n], rets[n] = GAE(rewards, vals, o.Gamma, o.Lambda)
		}
		if nonFinite > 0 {
			slog.Warn("the reward model returned non-finite scores; they count as 0", "iteration", iter+1, "rows", nonFinite)
		}
		if !o.NoWhiten {
			Whiten(advs)
		}
		ro.adv, ro.returns = make([]float32, N*R), make([]float32, N*R)
		for n := range N {
			for t := range advs[n] {
				ro.adv[n*R+t], ro.returns[n*R+t] = float32(advs[n][t]), float32(rets[n][t])
			}
		}

		// 5d. Update: PPOEpochs passes in shuffled mini-batches; one critic
		// update and (after the warm-up) one actor update each.
		t0 = time.Now()
		trainActor := iter >= o.CriticWarmup
		var pgSum, vlSum, entSum, cfSum, vcfSum, akSum, ptxSum, updates float64
		trainTokens := 0
		order := rand.New(rand.NewPCG(o.Seed, uint64(iter)+0xabc))
		for range o.PPOEpochs {
			perm := order.Perm(N)
			for lo := 0; lo < N; lo += o.MiniBatch {
				rows := perm[lo:min(lo+o.MiniBatch, N)]
				tokens, mask, pt := ro.rows(rows, ro.respMask, ro.values, ro.returns)
				cr, err := criticOpt.Micro(tokens, mask, pt[0], pt[1], pt[2], float32(o.ValueClip))
				if err != nil {
					return nil, err
				}
				cstep, err := criticOpt.Step(o.CriticLR)
				if err != nil {
					return nil, err
				}
				if err := guard.Check(iter, cstep, cr.Loss, ckpt.last); err != nil {
					bar.Finish()
					return nil, fmt.Errorf("critic: %w", err)
				}
				vlSum += cr.Loss
				vcfSum += cr.Metrics[0]
				if trainActor {
					tokens, mask, pt := ro.rows(rows, ro.respMask, ro.logp, ro.adv)
					in := []any{tokens, mask, pt[0], pt[1], pt[2], float32(o.Clip), float32(o.EntropyCoef), float32(o.PtxCoef)}
					if ptx != nil {
						in = append(in, ptx.next(o.PtxBatch)...)
					}
					ar, err := actorOpt.Micro(in...)
					if err != nil {
						return nil, err
					}
					astep, err := actorOpt.Step(o.LR)
					if err != nil {
						return nil, err
					}
					if err := guard.Check(iter, astep, ar.Loss, ckpt.last); err != nil {
						bar.Finish()
						return nil, fmt.Errorf("actor: %w", err)
					}
					pgSum += ar.Metrics[0]
					entSum += ar.Metrics[1]
					cfSum += ar.Metrics[2]
					akSum += ar.Metrics[3]
					ptxSum += ar.Metrics[4]
				}
				updates++
				trainTokens += len(rows) * ro.T()
			}
		}
		trainTime := time.Since(t0)

		// 5e. KL controller, metrics, samples, guards, checkpoint.
		meanKL, _ := meanStd(ro.kl)
		kl.Update(meanKL, N)
		state.Step++
		state.Tokens += int64(trainTokens)
		rMean, rStd := meanStd(ro.score)
		lens := make([]float64, N)
		empty, noEOS := 0, 0
		var entMean float64
		for n := range N {
			lens[n] = float64(ro.respLen[n])
			if ro.respLen[n] == 0 || (ro.respLen[n] == 1 && ro.ended[n]) ||
				strings.TrimSpace(tok.Decode(ppoInts(ppoTrimEOS(resp[n], eos)))) == "" {
				empty++
			}
			if !ro.ended[n] {
				noEOS++
			}
			for t := range ro.respLen[n] {
				entMean += float64(ro.entropy[n*R+t])
			}
		}
		lenMean, _ := meanStd(lens)
		totalTok, _ := meanStd(lens)
		totalTok *= float64(N)
		totalR, _ := meanStd(ro.reward)
		m["reward_mean"], m["reward_std"], m["rm_score_raw"] = rMean, rStd, ppoMean(ro.rawRM)
		m["reward_total"] = totalR
		m["kl"], m["response_len"] = meanKL, lenMean
		m["entropy"] = entMean / math.Max(totalTok, 1)
		m["value_loss"], m["value_clip_frac"] = vlSum/updates, vcfSum/updates
		if trainActor {
			m["policy_loss"], m["clip_frac"], m["approx_kl"] = pgSum/updates, cfSum/updates, akSum/updates
			m["entropy_train"] = entSum / updates
			if ptx != nil {
				m["ptx_loss"] = ptxSum / updates
			}
		}
		m["empty_responses"], m["no_eos_responses"] = float64(empty), float64(noEOS)
		m["tokens_per_s_gen"] = totalTok / genTime.Seconds()
		m["tokens_per_s_train"] = float64(trainTokens) / trainTime.Seconds()
		m["time_gen_s"], m["time_score_s"], m["time_train_s"] = genTime.Seconds(), scoreTime.Seconds(), trainTime.Seconds()
		m["skipped_nonfinite"] = float64(guard.Skipped)
		if err := log.Write(m); err != nil {
			return nil, err
		}
		if res.First == nil {
			res.First = m
		}
		res.Last = m
		bar.Add(1)
		bar.SetStatus(fmt.Sprintf("reward %.3f kl %.3f len %.1f", rMean, meanKL, lenMean))
		if empty > N/2 {
			slog.Warn("more than half of the responses are empty (the policy emits EOS at once)", "iteration", iter+1, "empty", empty, "of", N)
		}
		if o.LogSamples > 0 && (iter%o.LogSamples == 0 || state.Step == iterations) {
			if err := logSamples(o.Out, iter+1, ro, tok.Decode, eos); err != nil {
				return nil, err
			}
		}

		last := state.Step == iterations
		stop := o.StopAfter > 0 && state.Step-startIter >= o.StopAfter && !last
		var klErr error
		if o.MaxKL > 0 && meanKL > o.MaxKL {
			if o.OnMaxKL == "warn" {
				slog.Warn("KL to the reference is above --max-kl (reward hacking?)", "iteration", iter+1, "kl", meanKL, "max_kl", o.MaxKL)
			} else {
				klErr = fmt.Errorf("iteration %d: mean KL to the reference %.4g nats is above --max-kl %g: the policy drifts away (reward hacking?); raise --kl-coef or set --target-kl, lower --lr", iter+1, meanKL, o.MaxKL)
				stop = true
			}
		}
		if state.Step%o.SaveEvery == 0 || last || stop {
			if err := ckpt.Save(); err != nil {
				return nil, err
			}
		}
		if klErr != nil {
			bar.Finish()
			return nil, fmt.Errorf("%w; checkpoint %s written", klErr, ckpt.last)
		}
		if stop {
			bar.Finish()
			res.Iterations, res.Stopped, res.Model, res.KLCoef = state.Step, true, ckpt.last, kl.Beta
			return res, nil
		}
	}
	bar.Finish()

	// 6. Publish the final actor at the top of Out and the critic in Out/critic.
	if ckpt.last == "" {
		if err := ckpt.Save(); err != nil {
			return nil, err
		}
	}
	if err := publishModel(ckpt.last, o.Out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Out, CriticDir), 0o755); err != nil {
		return nil, err
	}
	if err := publishModel(filepath.Join(ckpt.last, CriticDir), filepath.Join(o.Out, CriticDir)); err != nil {
		return nil, err
	}
	finishPlots(o.Out, PPOPlots)
	res.Iterations, res.Model, res.KLCoef = state.Step, o.Out, kl.Beta
	slog.Info("ppo done", "iterations", state.Step, "model", o.Out, "kl_coef", kl.Beta)
	return res, nil
}

// PPOPlots are the PNG plots of a PPO run.
var PPOPlots = []Plot{
	{File: "reward.png", Title: "normalised RM score (mean, std) and total reward", Keys: []string{"reward_mean", "reward_std", "reward_total"}},
	{File: "kl.png", Title: "KL to the reference per sequence (nats) and β", Keys: []string{"kl", "kl_coef"}},
	{File: "entropy.png", Title: "policy entropy per token (nats)", Keys: []string{"entropy"}},
	{File: "response_len.png", Title: "response length (tokens)", Keys: []string{"response_len"}},
	{File: "losses.png", Title: "policy, value and ptx losses", Keys: []string{"policy_loss", "value_loss", "ptx_loss"}},
	{File: "clip.png", Title: "clip fraction and approx-KL (policy update)", Keys: []string{"clip_frac", "approx_kl", "value_clip_frac"}},
	{File: "throughput.png", Title: "tokens/s (generation, training)", Keys: []string{"tokens_per_s_gen", "tokens_per_s_train"}},
	{File: "time.png", Title: "iteration time split (s)", Keys: []string{"time_gen_s", "time_score_s", "time_train_s"}},
}

// promptStream hands out prompt indices, epoch after epoch, in EpochOrder;
// (epoch, pos) is its checkpointed position.
type promptStream struct {
	n          int
	seed       uint64
	epoch, pos int
	order      []int
}

func (s *promptStream) next(k int) []int {
	out := make([]int, 0, k)
	for len(out) < k {
		if s.pos >= s.n {
			s.epoch, s.pos, s.order = s.epoch+1, 0, nil
		}
		if s.order == nil {
			s.order = EpochOrder(s.n, s.seed, s.epoch)
		}
		out = append(out, s.order[s.pos])
		s.pos++
	}
	return out
}

// sampleRow is one line of samples.jsonl.
type sampleRow struct {
	Iteration int     `json:"iteration"`
	Prompt    string  `json:"prompt"`
	Response  string  `json:"response"`
	Score     float64 `json:"score"`
	KL        float64 `json:"kl"`
}

// logSamples logs a small table of the rollout (the first 4 rows, one log
// line each) and appends it to OUT/samples.jsonl.
func logSamples(out string, iter int, ro *rollout, decode func([]int) string, eos int) error {
	var lines []byte
	for n := range min(4, ro.N) {
		r := sampleRow{Iteration: iter, Prompt: ro.prompts[n].Prompt, Response: decode(ppoInts(ppoTrimEOS(ro.resp[n], eos))),
			Score: ro.score[n], KL: ro.kl[n]}
		b, _ := json.Marshal(r)
		lines = append(append(lines, b...), '\n')
		slog.Info("sample", "iteration", iter, "prompt", ppoClipText(r.Prompt, 60), "response", ppoClipText(r.Response, 120),
			"score", fmt.Sprintf("%+.3f", r.Score), "kl", fmt.Sprintf("%.3f", r.KL))
	}
	path := filepath.Join(out, SamplesFile)
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return atomicfile.WriteFile(path, append(old, lines...), 0o644)
}

// trimSamples keeps the lines of OUT/samples.jsonl up to iteration upTo
// (a resumed run rewrites what came after its checkpoint); upTo 0 starts
// the file afresh.
func trimSamples(out string, upTo int) error {
	path := filepath.Join(out, SamplesFile)
	old, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	var keep []byte
	for _, line := range strings.SplitAfter(string(old), "\n") {
		var r sampleRow
		if json.Unmarshal([]byte(line), &r) == nil && r.Iteration <= upTo {
			keep = append(keep, line...)
		}
	}
	return atomicfile.WriteFile(path, keep, 0o644)
}

// ppoClipText shortens s to at most n runes for log lines.
func ppoClipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func ppoTrimEOS(ids []int32, eos int) []int32 {
	if len(ids) > 0 && int(ids[len(ids)-1]) == eos {
		return ids[:len(ids)-1]
	}
	return ids
}

func ppoInts(ids []int32) []int {
	out := make([]int, len(ids))
	for i, t := range ids {
		out[i] = int(t)
	}
	return out
}

func ppoRange(lo, hi int) []int {
	out := make([]int, hi-lo)
	for i := range out {
		out[i] = lo + i
	}
	return out
}

func ppoMean(x []float64) float64 {
	m, _ := meanStd(x)
	return m
}
