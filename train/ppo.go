package train

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/option"
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

// RunPPO trains the policy with PPO (or, by Algo, the critic-free GRPO,
// RLOO or REINFORCE++) against the reward model and/or rule rewards, as
// OpenRLHF's PPO trainer does: each iteration makes experience (samples
// responses and scores them with actor, reference, critic and reward
// sources), computes per-token rewards and advantages, updates actor and
// critic for PPOEpochs passes in mini-batches, and adapts the KL
// coefficient.
func RunPPO(ctx context.Context, o PPOOptions) (*PPOResult, error) {
	return WithOutput(o.Out, func() (*PPOResult, error) { return runPPO(ctx, o) })
}

func runPPO(ctx context.Context, o PPOOptions) (*PPOResult, error) {
	o.Defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}
	if err := o.fitLengths(); err != nil {
		return nil, err
	}
	r, err := setupPPO(o)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := &PPOResult{}
	bar := progress.New(ctx, int64(r.iterations), "ppo iterations")
	defer bar.Finish()
	bar.StartAt(int64(r.state.Step))
	startIter := r.state.Step
	for r.state.Step < r.iterations {
		if err := ctx.Err(); err != nil {
			return nil, r.ckpt.interrupted(err, "iteration", r.state.Step)
		}
		iter, beta := r.state.Step, r.kl.Beta
		exp, err := r.makeExperience(ctx, iter)
		if err != nil {
			return nil, err
		}
		r.computeAdvantages(exp, beta, iter)
		upd, err := r.update(exp, iter)
		if err != nil {
			return nil, err
		}
		meanKL, _ := meanStd(exp.kl)
		r.kl.Update(meanKL, exp.N)
		r.state.Step++
		r.state.Tokens += int64(upd.tokens)
		m, err := r.report(iter, beta, exp, upd)
		if err != nil {
			return nil, err
		}
		if res.First == nil {
			res.First = m
		}
		res.Last = m
		// A NaN KL passes --max-kl's comparison; it must not be checkpointed.
		if e := klExplosion(meanKL, m["response_len"]); e.exploded() {
			return nil, e.error("iteration", iter+1, r.ckpt.last,
				option.Errorf("lower {LR} (now %g), raise {KLCoef} or set {TargetKL}", o.LR))
		}
		bar.Add(1)
		bar.SetStatus(fmt.Sprintf("reward %.3f kl %.3f len %.1f", m["reward_mean"], meanKL, m["response_len"]))
		stop, err := r.endIteration(iter, startIter, meanKL)
		if err != nil {
			return nil, err
		}
		if stop {
			res.Iterations, res.Stopped, res.Model, res.KLCoef = r.state.Step, true, r.ckpt.last, r.kl.Beta
			return res, nil
		}
	}
	bar.Finish()
	if err := r.publish(); err != nil {
		return nil, err
	}
	res.Iterations, res.Model, res.KLCoef = r.state.Step, o.Out, r.kl.Beta
	slog.Info("ppo done", "iterations", r.state.Step, "model", o.Out, "kl_coef", r.kl.Beta)
	return res, nil
}

// endIteration applies --max-kl and writes a checkpoint every SaveEvery
// iterations, at the last one and before a stop; stop reports a
// --stop-after stop (an error, a --max-kl stop).
func (r *ppoRun) endIteration(iter, startIter int, meanKL float64) (stop bool, err error) {
	o := r.o
	last := r.state.Step == r.iterations
	stop = o.StopAfter > 0 && r.state.Step-startIter >= o.StopAfter && !last
	var klErr error
	if o.MaxKL > 0 && meanKL > o.MaxKL {
		if o.OnMaxKL == "warn" {
			slog.Warn("KL to the reference is above --max-kl (reward hacking?)", "iteration", iter+1, "kl", meanKL, "max_kl", o.MaxKL)
		} else {
			klErr = option.Errorf("iteration %d: mean KL to the reference %.4g nats is above {MaxKL} %g: the policy drifts away (reward hacking?); raise {KLCoef} or set {TargetKL}, lower {LR}", iter+1, meanKL, o.MaxKL)
			stop = true
		}
	}
	if r.state.Step%o.SaveEvery == 0 || last || stop {
		if err := r.ckpt.Save(); err != nil {
			return false, err
		}
	}
	if klErr != nil {
		return false, fmt.Errorf("%w; checkpoint %s written", klErr, r.ckpt.last)
	}
	return stop, nil
}

// publish writes the final actor at the top of Out and (PPO) the critic
// in Out/critic.
func (r *ppoRun) publish() error {
	if r.ckpt.last == "" {
		if err := r.ckpt.Save(); err != nil {
			return err
		}
	}
	if err := publishModel(r.ckpt.last, r.o.Out); err != nil {
		return err
	}
	if r.critic == nil {
		finishPlots(r.o.Out, PPOPlots)
		return nil
	}
	if err := os.MkdirAll(filepath.Join(r.o.Out, CriticDir), 0o755); err != nil {
		return err
	}
	if err := publishModel(filepath.Join(r.ckpt.last, CriticDir), filepath.Join(r.o.Out, CriticDir)); err != nil {
		return err
	}
	finishPlots(r.o.Out, PPOPlots)
	return nil
}

// PPOPlots are the PNG plots of a PPO run.
var PPOPlots = []Plot{
	// One quantity per plot (a plot's lines share a unit and a scale).
	{File: "reward.png", Title: "normalised RM score (mean ± std) and total reward", Keys: []string{"reward_mean", "reward_total"}, Bands: map[string]string{"reward_mean": "reward_std"}},
	{File: "kl.png", Title: "KL to the reference per sequence (nats)", Keys: []string{"kl"}},
	{File: "kl_coef.png", Title: "KL coefficient β", Keys: []string{"kl_coef"}},
	{File: "entropy.png", Title: "policy entropy per token (nats)", Keys: []string{"entropy"}},
	{File: "response_len.png", Title: "response length (tokens)", Keys: []string{"response_len"}},
	{File: "losses.png", Title: "actor losses: clipped surrogate (and GRPO's KL term)", Keys: []string{"policy_loss", "kl_loss"}},
	{File: "value_loss.png", Title: "critic's value loss", Keys: []string{"value_loss"}},
	{File: "ptx_loss.png", Title: "ptx language-model loss (nats per token)", Keys: []string{"ptx_loss"}},
	{File: "clip.png", Title: "clip fractions (policy and value updates)", Keys: []string{"clip_frac", "value_clip_frac"}},
	{File: "approx_kl.png", Title: "approx-KL of each policy update (nats)", Keys: []string{"approx_kl"}},
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

// clipText shortens s to at most n runes for log lines.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
