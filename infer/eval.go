package infer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/progress"
)

// EvalOptions configure `rlhf eval`: a policy against a baseline on the
// same prompts, judged by a reward model.
type EvalOptions struct {
	// Policy and Baseline are the two language-model checkpoints (e.g.
	// ppo and sft). Required; they must share a tokenizer.
	Policy, Baseline string
	// Reward is the reward-model checkpoint that judges. Required.
	Reward string
	// Prompts is a prompt dataset: one dataset, a .parquet/.jsonl file, or a
	// folder with splits (val/ is used when present, else train/). Required.
	Prompts string
	// Out is the output folder: eval.json, policy/ and baseline/ response
	// datasets. Required.
	Out string
	// MaxPrompts limits the number of prompts (the first ones); 0 = all.
	MaxPrompts int
	// MaxNewTokens is the maximum response length in tokens, and
	// MaxPromptLen keeps the last tokens of longer prompts. Defaults (0):
	// 128 and 256, or less to fit the models' context (FitLengths).
	MaxNewTokens int
	MaxPromptLen int
	// Temperature (0 = greedy), TopP (0 or 1 = off) and TopK (0 = off)
	// shape sampling; the command's defaults (1, 1, 0) sample each model's
	// own distribution, which the KL estimate assumes.
	Temperature, TopP float64
	TopK              int
	// BatchSize is the number of sequences generated and scored together. Default 8.
	BatchSize int
	// Seed fixes sampling; the baseline samples with a different stream
	// derived from it, so a model compared with itself is not trivially tied.
	// Default 1.
	Seed uint64
	// DType is the compute dtype: "float32" (default) or "bfloat16" (GPU).
	DType string
	// Backend is the compute backend (see model.NewBackend).
	Backend string
	// Template overrides the checkpoints' prompt template (by default each
	// model uses its own rlhf.json template).
	Template string
	// Encoding is the character encoding of JSONL prompts (default UTF-8,
	// where a line that is not valid UTF-8 is an error naming file and
	// line; or GBK, GB18030, Big5, decoded).
	Encoding dataset.Encoding
}

// EvalStats are the results over a set of prompts (all, or one task).
type EvalStats struct {
	// N is the number of prompts.
	N int `json:"n"`
	// RewardPolicy and RewardBaseline are mean RM scores (normalised with
	// the RM's rlhf.json reward_mean/reward_std when present).
	RewardPolicy   float64 `json:"reward_policy"`
	RewardBaseline float64 `json:"reward_baseline"`
	// WinRate is the fraction of prompts where the policy's response scores
	// higher (ties count half); WinLow and WinHigh bound its 95% Wilson
	// score interval. Wins, Ties and Losses are the counts.
	WinRate float64 `json:"win_rate"`
	WinLow  float64 `json:"win_rate_ci_low"`
	WinHigh float64 `json:"win_rate_ci_high"`
	Wins    int     `json:"wins"`
	Ties    int     `json:"ties"`
	Losses  int     `json:"losses"`
	// KL is the mean over the policy's responses of Σ_t log π(y_t) − log
	// π_baseline(y_t): a Monte-Carlo estimate of KL(policy ‖ baseline) per
	// response, in nats.
	KL float64 `json:"kl_to_baseline"`
	// LenPolicy and LenBaseline are mean response lengths in tokens (EOS included).
	LenPolicy   float64 `json:"len_policy"`
	LenBaseline float64 `json:"len_baseline"`
}

// EvalResult is eval.json.
type EvalResult struct {
	Policy   string               `json:"policy"`
	Baseline string               `json:"baseline"`
	Reward   string               `json:"reward"`
	Prompts  string               `json:"prompts"`
	All      EvalStats            `json:"all"`
	PerTask  map[string]EvalStats `json:"per_task"`
	Settings map[string]any       `json:"settings"`
}

// EvalFile is the name of the results file in Out.
const EvalFile = "eval.json"

// evalSide is one model's samples and scores.
type evalSide struct {
	resp    [][]int32
	reward  []float64
	logp    []float64 // Σ log-prob of the response under this model
	ended   []bool
	klToRef []float64 // policy only
}

// RunEval samples the policy and the baseline on the same prompts, scores
// both with the reward model and writes eval.json and the responses.
func RunEval(ctx context.Context, o EvalOptions) (*EvalResult, error) {
	if o.Policy == "" || o.Baseline == "" || o.Reward == "" || o.Prompts == "" || o.Out == "" {
		return nil, fmt.Errorf("--policy, --baseline, --reward, --prompts and --out are required")
	}
	if err := notNegative(sizes{{"MaxNewTokens", o.MaxNewTokens}, {"MaxPromptLen", o.MaxPromptLen},
		{"BatchSize", o.BatchSize}}); err != nil {
		return nil, err
	}
	if o.BatchSize == 0 {
		o.BatchSize = 8
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Temperature < 0 || o.TopP < 0 || o.TopP > 1 || o.TopK < 0 || o.MaxPrompts < 0 {
		return nil, fmt.Errorf("--temperature must be ≥ 0, --top-p in [0,1], --top-k and --max-prompts ≥ 0")
	}

	// 1. Prompts and models.
	paths := []string{o.Prompts}
	if tr, val, err := dataset.Splits(o.Prompts); err == nil && len(val) > 0 {
		paths = val
	} else if err == nil && len(tr) > 0 {
		paths = tr
	}
	prompts, err := ReadPrompts(paths[0], o.Encoding)
	if err != nil {
		return nil, fmt.Errorf("--prompts: %w", err)
	}
	if o.MaxPrompts > 0 && len(prompts) > o.MaxPrompts {
		prompts = prompts[:o.MaxPrompts]
	}
	positions := ContextOf(o.Policy, o.Baseline, o.Reward)
	p, r, err := FitLengths(positions, o.MaxPromptLen, o.MaxNewTokens, DefaultMaxPromptLen, DefaultMaxNewTokens)
	if err != nil {
		return nil, err
	}
	if (o.MaxPromptLen == 0 && p < DefaultMaxPromptLen) || (o.MaxNewTokens == 0 && r < DefaultMaxNewTokens) {
		slog.Info("--max-prompt-len/--max-new-tokens not given: lowered from 256/128 to fit the models' context",
			"max_prompt_len", p, "max_new_tokens", r, "positions", positions)
	}
	o.MaxPromptLen, o.MaxNewTokens = p, r
	maxSeq := o.MaxPromptLen + o.MaxNewTokens
	load := func(flag, dir, template string) (*model.Model, *tokenizer.Tokenizer, error) {
		m, tok, err := Load(dir, LoadOptions{MaxSeqLen: maxSeq, Template: template, DType: o.DType, RequireEOS: true})
		var ce *ContextError
		if errors.As(err, &ce) {
			return nil, nil, fmt.Errorf("--max-prompt-len %d + --max-new-tokens %d = %d tokens is above the context of %s (%d positions)",
				o.MaxPromptLen, o.MaxNewTokens, maxSeq, dir, ce.Positions)
		} else if err != nil {
			return nil, nil, fmt.Errorf("%s %w", flag, err)
		}
		return m, tok, nil
	}
	pol, tok, err := load("--policy", o.Policy, o.Template)
	if err != nil {
		return nil, err
	}
	base, baseTok, err := load("--baseline", o.Baseline, o.Template)
	if err != nil {
		return nil, err
	}
	rm, rmTok, err := load("--reward", o.Reward, "")
	if err != nil {
		return nil, err
	}
	if !pol.HasLMHead || !base.HasLMHead {
		return nil, fmt.Errorf("--policy and --baseline must be language models (with an LM head)")
	}
	if !rm.HasScoreHead() {
		return nil, fmt.Errorf("--reward %s: the checkpoint has no score head; train one with rlhf rm", o.Reward)
	}
	if err := SameTokenizer(tok, baseTok); err != nil {
		return nil, fmt.Errorf("--policy and --baseline: %w", err)
	}
	if err := SameTokenizer(tok, rmTok); err != nil {
		return nil, fmt.Errorf("--policy and --reward: %w", err)
	}
	norm, normalised := NewRewardNorm(rm.Meta)
	backend, err := model.NewBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	eos, pad := tok.EOS(), tok.PAD()
	if pad < 0 {
		pad = eos
	}

	// 2. Each model samples the prompts (in its own template); the RM scores
	// with the policy's template so both are judged the same way.
	R := o.MaxNewTokens
	polIDs, P, _ := EncodePrompts(prompts, NewEncoder(tok, pol.Meta, ""), o.MaxPromptLen)
	baseIDs, bP, _ := EncodePrompts(prompts, NewEncoder(tok, base.Meta, ""), o.MaxPromptLen)
	for _, m := range []*model.Model{pol, base} {
		if mp := m.Config.MaxPositions; m.Config.Arch == model.ArchGPT2 && mp > 0 && max(P, bP)+R > mp {
			return nil, fmt.Errorf("prompts of %d tokens plus --max-new-tokens %d exceed the model's %d positions", max(P, bP), R, mp)
		}
	}
	rmScorer, err := NewScorer(backend, rm)
	if err != nil {
		return nil, err
	}
	polLP, baseLP := NewLogProbExec(backend, pol), NewLogProbExec(backend, base)
	bar := progress.New(ctx, int64(2*len(prompts)), "eval samples")
	side := func(m *model.Model, lp *LogProbExec, ids [][]int32, ownP int, seed uint64, withKL bool) (*evalSide, error) {
		dec, err := model.NewDecoder(backend, m)
		if err != nil {
			return nil, err
		}
		s := &evalSide{}
		s.resp, s.ended, err = Sample(ctx, dec, ids, model.SampleOptions{MaxNewTokens: R, Temperature: o.Temperature,
			TopP: o.TopP, TopK: o.TopK, Seed: seed, EOS: []int{eos}, PadID: pad, BatchSize: o.BatchSize})
		if err != nil {
			return nil, err
		}
		bar.Add(int64(len(ids)))
		// Score with the policy's prompt ids so the RM sees one template.
		judged := Layout(polIDs, s.resp, s.ended, P, R, pad)
		own := Layout(ids, s.resp, s.ended, ownP, R, pad)
		var other *Sequences // the policy's responses after the baseline's prompts
		if withKL {
			other = Layout(baseIDs, s.resp, s.ended, bP, R, pad)
		}
		s.reward, s.logp, s.klToRef = make([]float64, len(ids)), make([]float64, len(ids)), make([]float64, len(ids))
		for lo := 0; lo < len(ids); lo += o.BatchSize {
			rows := Range(lo, min(lo+o.BatchSize, len(ids)))
			r, err := rmScorer.Rewards(judged.RewardRows(rows, eos))
			if err != nil {
				return nil, err
			}
			for i, v := range r {
				s.reward[rows[i]] = norm.Apply(float64(v))
			}
			sums, err := lp.Sums(own, rows)
			if err != nil {
				return nil, err
			}
			for i, n := range rows {
				s.logp[n] = sums[i]
			}
			if withKL {
				// Baseline log-probs of the policy's responses, in the
				// baseline's own template.
				bsums, err := baseLP.Sums(other, rows)
				if err != nil {
					return nil, err
				}
				for i, n := range rows {
					s.klToRef[n] = s.logp[n] - bsums[i]
				}
			}
		}
		return s, nil
	}
	ps, err := side(pol, polLP, polIDs, P, o.Seed, true)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	bs, err := side(base, baseLP, baseIDs, bP, o.Seed^0x5a5a5a5a, false)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	bar.Finish()

	// 3. Statistics, overall and per task.
	res := &EvalResult{Policy: o.Policy, Baseline: o.Baseline, Reward: o.Reward, Prompts: o.Prompts,
		PerTask: map[string]EvalStats{},
		Settings: map[string]any{"max_new_tokens": R, "temperature": o.Temperature, "top_p": o.TopP, "top_k": o.TopK,
			"seed": o.Seed, "reward_normalised": normalised}}
	all := Range(0, len(prompts))
	res.All = evalStats(all, ps, bs)
	byTask := map[string][]int{}
	for i, p := range prompts {
		task := p.Task
		if task == "" {
			task = "unknown"
		}
		byTask[task] = append(byTask[task], i)
	}
	for task, idx := range byTask {
		res.PerTask[task] = evalStats(idx, ps, bs)
	}

	// 4. Outputs: the two response datasets, then eval.json.
	for _, w := range []struct {
		name, dir string
		s         *evalSide
	}{{"policy", o.Policy, ps}, {"baseline", o.Baseline, bs}} {
		rows := make([]dataset.Response, len(prompts))
		for i, p := range prompts {
			reward := w.s.reward[i]
			rows[i] = dataset.WithID(dataset.Response{PromptID: p.ID, Prompt: p.Prompt,
				Response: tok.Decode(Ints(TrimEOS(w.s.resp[i], eos))), Model: filepath.Base(filepath.Clean(w.dir)),
				Logprob: w.s.logp[i], Reward: &reward})
		}
		if err := writeResponses(filepath.Join(o.Out, w.name), rows, w.dir); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Out, EvalFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	logEval(res)
	return res, nil
}

// evalStats aggregates prompts idx.
func evalStats(idx []int, p, b *evalSide) EvalStats {
	s := EvalStats{N: len(idx)}
	if len(idx) == 0 {
		return s
	}
	for _, i := range idx {
		s.RewardPolicy += p.reward[i]
		s.RewardBaseline += b.reward[i]
		s.KL += p.klToRef[i]
		s.LenPolicy += float64(len(p.resp[i]))
		s.LenBaseline += float64(len(b.resp[i]))
		switch d := p.reward[i] - b.reward[i]; {
		case math.Abs(d) <= 1e-6*math.Max(1, math.Abs(p.reward[i])):
			s.Ties++
		case d > 0:
			s.Wins++
		default:
			s.Losses++
		}
	}
	n := float64(len(idx))
	s.RewardPolicy /= n
	s.RewardBaseline /= n
	s.KL /= n
	s.LenPolicy /= n
	s.LenBaseline /= n
	s.WinRate = (float64(s.Wins) + 0.5*float64(s.Ties)) / n
	s.WinLow, s.WinHigh = evalWilson(s.WinRate, n, 1.959964)
	return s
}

// evalWilson is the Wilson score interval of a proportion p over n trials at
// z standard deviations (1.96 for 95%).
func evalWilson(p, n, z float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	z2 := z * z
	c := (p + z2/(2*n)) / (1 + z2/n)
	h := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n)) / (1 + z2/n)
	return math.Max(0, c-h), math.Min(1, c+h)
}

func writeResponses(dir string, rows []dataset.Response, modelDir string) error {
	w, err := dataset.Create[dataset.Response](dir, dataset.WriterOptions{Meta: map[string]string{"model": modelDir}})
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(rows...); err != nil {
		return err
	}
	return w.Close()
}

func logEval(r *EvalResult) {
	line := func(name string, s EvalStats) {
		slog.Info("eval", "task", name, "n", s.N, "reward_policy", evalRound3(s.RewardPolicy), "reward_baseline", evalRound3(s.RewardBaseline),
			"win_rate", evalRound3(s.WinRate), "ci95", fmt.Sprintf("[%.3f, %.3f]", s.WinLow, s.WinHigh),
			"kl", evalRound3(s.KL), "len_policy", evalRound3(s.LenPolicy), "len_baseline", evalRound3(s.LenBaseline))
	}
	tasks := make([]string, 0, len(r.PerTask))
	for t := range r.PerTask {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	for _, t := range tasks {
		line(t, r.PerTask[t])
	}
	line("all", r.All)
}

func evalRound3(x float64) float64 { return math.Round(x*1000) / 1000 }
