package train

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// report writes one iteration's metrics to the metrics log (and, every
// LogSamples iterations, a sample table) and returns them. beta is the KL
// coefficient the iteration ran with.
func (r *ppoRun) report(iter int, beta float64, exp *experience, upd updateStats) (Metrics, error) {
	N, R := exp.N, exp.R
	empty, noEOS := 0, 0
	lens := make([]float64, N)
	var entSum float64
	for n := range N {
		lens[n] = float64(exp.RespLen[n])
		if exp.RespLen[n] == 0 || (exp.RespLen[n] == 1 && exp.Ended[n]) ||
			strings.TrimSpace(exp.ResponseText(n, r.tok.Decode, r.eos)) == "" {
			empty++
		}
		if !exp.Ended[n] {
			noEOS++
		}
		for t := range exp.RespLen[n] {
			entSum += float64(exp.entropy[n*R+t])
		}
	}
	rMean, rStd := meanStd(exp.score)
	rawMean, _ := meanStd(exp.rawRM)
	meanKL, _ := meanStd(exp.kl)
	lenMean, _ := meanStd(lens)
	totalTok := lenMean * float64(N)
	totalR, _ := meanStd(exp.reward)
	m := Metrics{"step": float64(iter + 1), "kl_coef": beta,
		"reward_mean": rMean, "reward_std": rStd, "reward_total": totalR,
		"kl": meanKL, "response_len": lenMean, "entropy": entSum / math.Max(totalTok, 1),
		"empty_responses": float64(empty), "no_eos_responses": float64(noEOS),
		"tokens_per_s_gen":   totalTok / exp.genTime.Seconds(),
		"tokens_per_s_train": float64(upd.tokens) / upd.time.Seconds(),
		"time_gen_s":         exp.genTime.Seconds(), "time_score_s": exp.scoreTime.Seconds(), "time_train_s": upd.time.Seconds(),
		"skipped_nonfinite": float64(r.guard.Skipped)}
	if r.o.hasRM() {
		m["rm_score_raw"] = rawMean
	}
	for k, name := range r.ruleNames {
		m["rule_"+name], _ = meanStd(exp.rules[k])
	}
	if r.o.NumSamples > 1 {
		m["group_score_std"] = groupStd(exp.score, exp.group)
	}
	if r.critic != nil {
		m["value_loss"], m["value_clip_frac"] = upd.critic.loss, upd.critic.clipFrac
	}
	if upd.trainedActor {
		a := upd.actor
		m["policy_loss"], m["clip_frac"], m["approx_kl"], m["entropy_train"] = a.policyLoss, a.clipFrac, a.approxKL, a.entropy
		if r.ptx != nil {
			m["ptx_loss"] = a.ptxLoss
		}
		if r.o.Algo == AlgoGRPO {
			m["kl_loss"] = a.klLoss
		}
	}
	if err := r.log.Write(m); err != nil {
		return nil, err
	}
	if empty > N/2 {
		slog.Warn("more than half of the responses are empty (the policy emits EOS at once)", "iteration", iter+1, "empty", empty, "of", N)
	}
	if r.o.LogSamples > 0 && (iter%r.o.LogSamples == 0 || r.state.Step == r.iterations) {
		if err := r.logSamples(iter+1, exp); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// logSamples logs a small table of the experience (the first 4 rows, one
// log line each) and appends it to OUT/samples.jsonl.
func (r *ppoRun) logSamples(iter int, exp *experience) error {
	var lines []byte
	for n := range min(4, exp.N) {
		row := sampleRow{Iteration: iter, Prompt: exp.prompts[n].Prompt, Response: exp.ResponseText(n, r.tok.Decode, r.eos),
			Score: exp.score[n], KL: exp.kl[n]}
		b, _ := json.Marshal(row)
		lines = append(append(lines, b...), '\n')
		slog.Info("sample", "iteration", iter, "prompt", clipText(row.Prompt, 60), "response", clipText(row.Response, 120),
			"score", fmt.Sprintf("%+.3f", row.Score), "kl", fmt.Sprintf("%.3f", row.KL))
	}
	path := filepath.Join(r.o.Out, SamplesFile)
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return atomicfile.WriteFile(path, append(old, lines...), 0o644)
}

// groupStd is the mean over prompts of the population standard deviation
// of the scores of their responses: 0 means every group agreed, so GRPO
// and RLOO had nothing to learn from it.
func groupStd(score []float64, group []int) float64 {
	gs := groups(group)
	var sum float64
	for _, g := range gs {
		xs := make([]float64, len(g))
		for i, n := range g {
			xs[i] = score[n]
		}
		_, s := meanStd(xs)
		sum += s
	}
	return sum / float64(max(len(gs), 1))
}
