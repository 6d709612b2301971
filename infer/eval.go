package infer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/label/judge"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
	"github.com/rlhf-project/rlhf/reward"
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
	// RewardFns are rule rewards (see reward.Rule) reported next to the RM's
	// reward, scored against each prompt's reference answer; rules that
	// need one skip prompts without it.
	RewardFns []string
	// RewardTimeout bounds each call of a cmd: reward program (0:
	// reward.DefaultTimeout).
	RewardTimeout time.Duration
	// GoldFns are rule rewards (RewardFns specs) whose weighted sum is the
	// gold judge: an independent judge of policy against baseline next to
	// the reward model, the proxy. The win rate under it is reported, and
	// a proxy win rate more than GoldGap above it is warned about (reward
	// hacking). Empty: no gold judge.
	GoldFns []string
	// GoldWeights weigh GoldFns, one each (default 1 each).
	GoldWeights []float64
	// Judge, when not nil, makes an AI judge the gold judge instead of
	// GoldFns (not both): `rlhf judge`'s OpenAI-compatible client (its
	// BaseURL, Model, APIKeyEnv, Rubric, Lang, Concurrency, rate limit,
	// retries and reply cache; Responses, Out and LabelsDB are not used)
	// compares the policy's answer with the baseline's on every prompt,
	// once in each presentation order (judge.Compare). The policy wins a
	// prompt when both verdicts prefer it, loses when both prefer the
	// baseline and ties when they disagree or the answers are the same
	// text; the gold "rewards" are then the shares of the preference (1 a
	// win, ½ a tie, 0 a loss, the baseline's 1 minus the policy's). A
	// prompt the judge fails on is an error naming it. CacheDir defaults to
	// Out + ".judge-cache", next to Out (which eval replaces), so a rerun
	// asks nothing again.
	Judge *judge.Options
}

// GoldGap is how far the proxy (RM) win rate may exceed the gold one
// before eval warns: 15 points.
const GoldGap = 0.15

// GoldMinPrompts is the fewest prompts the gold judge must score for eval
// to compare it with the reward model: on fewer, a gap of 15 points is one
// prompt's noise, and eval says so (GoldStats.Note) instead of warning.
const GoldMinPrompts = 5

// GoldStats compare policy and baseline under the gold judge (GoldFns) on
// the prompts it scored: those with a reference answer for a rule that
// needs one, else all.
type GoldStats struct {
	// Fn is the judge: its rules, with their weights where not 1.
	Fn string `json:"fn"`
	N  int    `json:"n"`
	// RewardPolicy and RewardBaseline are the gold judge's means.
	RewardPolicy   float64 `json:"reward_policy"`
	RewardBaseline float64 `json:"reward_baseline"`
	// WinRate (ties count half) with its 95% Wilson interval, and counts.
	WinRate float64 `json:"win_rate"`
	WinLow  float64 `json:"win_rate_ci_low"`
	WinHigh float64 `json:"win_rate_ci_high"`
	Wins    int     `json:"wins"`
	Ties    int     `json:"ties"`
	Losses  int     `json:"losses"`
	// ProxyWinRate is the RM's win rate on the same N prompts.
	ProxyWinRate float64 `json:"proxy_win_rate"`
	// Warning is set when ProxyWinRate exceeds WinRate by more than GoldGap
	// on at least GoldMinPrompts prompts.
	Warning string `json:"warning,omitempty"`
	// Note says why proxy and gold were not compared (too few prompts).
	Note string `json:"note,omitempty"`
}

// RuleRewardStats are one rule reward's means over the prompts it scored.
type RuleRewardStats struct {
	// Fn is the rule as given (RewardFns).
	Fn string `json:"fn"`
	// N is the number of prompts scored: all, or for a rule that compares
	// with the reference answer, those that have one.
	N              int     `json:"n"`
	RewardPolicy   float64 `json:"rule_reward_policy"`
	RewardBaseline float64 `json:"rule_reward_baseline"`
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
	// RuleRewards are the rule rewards of both sides, one per RewardFns
	// entry, in order (absent without RewardFns; a task none of whose
	// prompts has a reference has N 0 for the rules that need one).
	RuleRewards []RuleRewardStats `json:"rule_rewards,omitempty"`
	// Gold is the comparison under the gold judge (absent without GoldFn).
	Gold *GoldStats `json:"gold,omitempty"`
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
	// rules[k][i] is rule reward k of prompt i (NaN: not scored, no reference).
	rules [][]float64
	gold  []float64 // the gold rule's scores, as rules (nil: no gold judge)
}

// RunEval samples the policy and the baseline on the same prompts, scores
// both with the reward model and writes eval.json and the responses.
func RunEval(ctx context.Context, o EvalOptions) (*EvalResult, error) {
	if o.Policy == "" || o.Baseline == "" || o.Reward == "" || o.Prompts == "" || o.Out == "" {
		return nil, option.Errorf("{Policy}, {Baseline}, {Reward}, {Prompts} and {Out} are required")
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
		return nil, option.Errorf("{Temperature} must be ≥ 0, {TopP} in [0,1], {TopK} and {MaxPrompts} ≥ 0")
	}
	if o.Judge != nil {
		if len(o.GoldFns) > 0 {
			return nil, option.Errorf("{GoldFns} and an AI judge ({Judge}) together: one gold judge, a rule or an AI judge, not both")
		}
		if o.Judge.BaseURL == "" || o.Judge.Model == "" {
			return nil, option.Errorf("{Judge}: an AI gold judge needs both a base URL and a model")
		}
		jo := *o.Judge
		if jo.CacheDir == "" && !jo.NoCache {
			jo.CacheDir = strings.TrimRight(o.Out, "/"+string(filepath.Separator)) + ".judge-cache"
		}
		o.Judge = &jo
	}
	judgeCache := ""
	if o.Judge != nil && !o.Judge.NoCache {
		judgeCache = o.Judge.CacheDir
	}
	if err := EvalDest(o.Out, o.Policy, o.Baseline, o.Reward, o.Prompts, judgeCache).Check(); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	var rules []*reward.Rule
	for _, spec := range o.RewardFns {
		rule, err := reward.Parse(spec)
		if err != nil {
			return nil, option.Errorf("{RewardFns}: %w", err)
		}
		rule.Timeout = o.RewardTimeout
		rules = append(rules, rule)
	}
	var gold *reward.Sum
	if len(o.GoldFns) > 0 {
		var err error
		if gold, err = reward.ParseSum(o.GoldFns, o.GoldWeights, o.RewardTimeout); err != nil {
			return nil, option.Errorf("{GoldFns}: %w", err)
		}
	} else if len(o.GoldWeights) > 0 {
		return nil, option.Errorf("{GoldWeights} without {GoldFns}: weights of no rule")
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
		return nil, option.Errorf("{Prompts}: %w", err)
	}
	if o.MaxPrompts > 0 && len(prompts) > o.MaxPrompts {
		prompts = prompts[:o.MaxPrompts]
	}
	for _, rule := range rules {
		if rule.NeedsReference() && !slices.ContainsFunc(prompts, hasReference) {
			return nil, option.Errorf("{RewardFns} %s compares with each prompt's reference answer, but none of the %d prompts of %s has one (build-prompts fills it for closed_qa, extract and classification rows)",
				rule.Spec, len(prompts), o.Prompts)
		}
	}
	if gold != nil && gold.NeedsReference() && !slices.ContainsFunc(prompts, hasReference) {
		return nil, option.Errorf("{GoldFns} %s compares with each prompt's reference answer, but none of the %d prompts of %s has one (build-prompts fills it for closed_qa, extract and classification rows, and for every row of the eval pool)",
			gold, len(prompts), o.Prompts)
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
	load := func(field option.Field, dir, template string) (*model.Model, *tokenizer.Tokenizer, error) {
		m, tok, err := Load(dir, LoadOptions{MaxSeqLen: maxSeq, Template: template, DType: o.DType, RequireEOS: true})
		var ce *ContextError
		if errors.As(err, &ce) {
			return nil, nil, option.Errorf("{MaxPromptLen} %d + {MaxNewTokens} %d = %d tokens is above the context of %s (%d positions)",
				o.MaxPromptLen, o.MaxNewTokens, maxSeq, dir, ce.Positions)
		} else if err != nil {
			return nil, nil, option.Errorf("%s %w", field, err)
		}
		return m, tok, nil
	}
	pol, tok, err := load("Policy", o.Policy, o.Template)
	if err != nil {
		return nil, err
	}
	base, baseTok, err := load("Baseline", o.Baseline, o.Template)
	if err != nil {
		return nil, err
	}
	rm, rmTok, err := load("Reward", o.Reward, "")
	if err != nil {
		return nil, err
	}
	if !pol.HasLMHead || !base.HasLMHead {
		return nil, option.Errorf("{Policy} and {Baseline} must be language models (with an LM head)")
	}
	if !rm.HasScoreHead() {
		return nil, option.Errorf("{Reward} %s: the checkpoint has no score head; train one with rlhf rm", o.Reward)
	}
	if err := SameTokenizer(tok, baseTok); err != nil {
		return nil, option.Errorf("{Policy} and {Baseline}: %w", err)
	}
	if err := SameTokenizer(tok, rmTok); err != nil {
		return nil, option.Errorf("{Policy} and {Reward}: %w", err)
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
			return nil, option.Errorf("prompts of %d tokens plus {MaxNewTokens} %d exceed the model's %d positions", max(P, bP), R, mp)
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
		return nil, option.Errorf("{Policy}: %w", err)
	}
	bs, err := side(base, baseLP, baseIDs, bP, o.Seed^0x5a5a5a5a, false)
	if err != nil {
		return nil, option.Errorf("{Baseline}: %w", err)
	}
	bar.Finish()
	for _, s := range []*evalSide{ps, bs} {
		if s.rules, err = scoreRules(ctx, rules, prompts, s.resp, tok, eos); err != nil {
			return nil, option.Errorf("{RewardFns}: %w", err)
		}
		if gold != nil {
			g, err := scoreRules(ctx, []*reward.Sum{gold}, prompts, s.resp, tok, eos)
			if err != nil {
				return nil, option.Errorf("{GoldFn}: %w", err)
			}
			s.gold = g[0]
		}
	}
	if o.Judge != nil {
		if ps.gold, bs.gold, err = judgeSides(ctx, *o.Judge, prompts, ps.resp, bs.resp, tok, eos); err != nil {
			return nil, err
		}
	}

	// 3. Statistics, overall and per task.
	res := &EvalResult{Policy: o.Policy, Baseline: o.Baseline, Reward: o.Reward, Prompts: o.Prompts,
		PerTask: map[string]EvalStats{},
		Settings: map[string]any{"max_new_tokens": R, "temperature": o.Temperature, "top_p": o.TopP, "top_k": o.TopK,
			"seed": o.Seed, "reward_normalised": normalised}}
	if len(rules) > 0 {
		res.Settings["reward_fns"] = o.RewardFns
	}
	goldFn := ""
	if gold != nil {
		goldFn = gold.String()
		res.Settings["gold_fn"] = goldFn
	}
	if o.Judge != nil {
		goldFn = "judge:" + o.Judge.Model
		res.Settings["gold_fn"] = goldFn
		res.Settings["judge_url"] = o.Judge.BaseURL
		res.Settings["judge_orders"] = "both"
	}
	all := Range(0, len(prompts))
	res.All = evalStats(all, ps, bs, o.RewardFns)
	res.All.Gold = goldStats(all, ps, bs, goldFn)
	byTask := map[string][]int{}
	for i, p := range prompts {
		task := p.Task
		if task == "" {
			task = "unknown"
		}
		byTask[task] = append(byTask[task], i)
	}
	for task, idx := range byTask {
		st := evalStats(idx, ps, bs, o.RewardFns)
		st.Gold = goldStats(idx, ps, bs, goldFn)
		res.PerTask[task] = st
	}

	// 4. Outputs: the two response datasets and eval.json, written into a
	// temporary folder that replaces Out only once complete.
	created := atomicfile.Track(o.Out)
	tmp, err := atomicfile.TempDirFor(o.Out)
	if err != nil {
		return nil, err
	}
	if err := writeEval(tmp, o, res, prompts, tok, eos, ps, bs); err != nil {
		os.RemoveAll(tmp)
		created.RemoveEmptyParents()
		return nil, err
	}
	if err := atomicfile.ReplaceDir(tmp, o.Out); err != nil {
		os.RemoveAll(tmp)
		created.RemoveEmptyParents()
		return nil, err
	}
	logEval(res)
	return res, nil
}

// EvalDest is the destination of `rlhf eval` (see atomicfile.Dest): a
// missing or empty folder, or the folder of an earlier eval (with
// eval.json), which is replaced; never one of inputs.
func EvalDest(out string, inputs ...string) atomicfile.Dest {
	return atomicfile.Dest{Path: out, What: "eval output", Inputs: inputs, Ours: func(p string) bool {
		st, err := os.Stat(filepath.Join(p, EvalFile))
		return err == nil && st.Mode().IsRegular()
	}}
}

// writeEval writes the response datasets of both models and eval.json
// into dir.
func writeEval(dir string, o EvalOptions, res *EvalResult, prompts []dataset.Prompt, tok *tokenizer.Tokenizer, eos int, ps, bs *evalSide) error {
	for _, w := range []struct {
		name, dir string
		s         *evalSide
	}{{"policy", o.Policy, ps}, {"baseline", o.Baseline, bs}} {
		rows := make([]dataset.Response, len(prompts))
		for i, p := range prompts {
			reward := w.s.reward[i]
			rows[i] = dataset.WithID(dataset.Response{PromptID: p.ID, Prompt: p.Prompt, History: p.History,
				Response: tok.Decode(Ints(TrimEOS(w.s.resp[i], eos))), Model: filepath.Base(filepath.Clean(w.dir)),
				Logprob: w.s.logp[i], Reward: &reward})
		}
		if err := writeResponses(filepath.Join(dir, w.name), rows, w.dir); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, EvalFile), append(b, '\n'), 0o644)
}

// judgeSides asks the AI judge of jo to compare the policy's response of
// every prompt with the baseline's (judge.Compare: both orders), and returns
// the gold scores of each side: 1 for the side both verdicts prefer, 0 for
// the other, ½ each on a tie.
func judgeSides(ctx context.Context, jo judge.Options, prompts []dataset.Prompt, pol, base [][]int32, tok *tokenizer.Tokenizer, eos int) (p, b []float64, err error) {
	pairs := make([]judge.Pair, len(prompts))
	for i, pr := range prompts {
		id := pr.ID
		if id == "" {
			id = fmt.Sprintf("#%d", i+1)
		}
		pairs[i] = judge.Pair{ID: id, Prompt: pr.Prompt, Lang: pr.Lang,
			A: tok.Decode(Ints(TrimEOS(pol[i], eos))), B: tok.Decode(Ints(TrimEOS(base[i], eos)))}
	}
	verdicts, _, err := judge.Compare(ctx, jo, pairs)
	if err != nil {
		return nil, nil, option.Errorf("{Judge} %s: %w", jo.BaseURL, err)
	}
	p, b = make([]float64, len(prompts)), make([]float64, len(prompts))
	for i, v := range verdicts {
		p[i] = 0.5 + 0.5*float64(v)
		b[i] = 1 - p[i]
	}
	return p, b, nil
}

func hasReference(p dataset.Prompt) bool { return strings.TrimSpace(p.Reference) != "" }

// ruleJudge is a rule reward or a weighted sum of them.
type ruleJudge interface {
	NeedsReference() bool
	Score(ctx context.Context, in []reward.Input) ([]float64, error)
}

// scoreRules scores one side's responses with each rule (prompts without a
// reference are left out, as NaN, for the rules that need one).
func scoreRules[R ruleJudge](ctx context.Context, rules []R, prompts []dataset.Prompt, resp [][]int32, tok *tokenizer.Tokenizer, eos int) ([][]float64, error) {
	out := make([][]float64, len(rules))
	for k, rule := range rules {
		var in []reward.Input
		var rows []int
		for i, p := range prompts {
			if rule.NeedsReference() && !hasReference(p) {
				continue
			}
			in = append(in, reward.InputOf(p, tok.Decode(Ints(TrimEOS(resp[i], eos)))))
			rows = append(rows, i)
		}
		scores, err := rule.Score(ctx, in)
		if err != nil {
			return nil, err
		}
		out[k] = make([]float64, len(prompts))
		for i := range out[k] {
			out[k][i] = math.NaN()
		}
		for j, i := range rows {
			out[k][i] = scores[j]
		}
	}
	return out, nil
}

// evalStats aggregates prompts idx; fns name the rule rewards.
func evalStats(idx []int, p, b *evalSide, fns []string) EvalStats {
	s := EvalStats{N: len(idx)}
	if len(idx) == 0 {
		return s
	}
	for k, fn := range fns {
		rs := RuleRewardStats{Fn: fn}
		for _, i := range idx {
			if x := p.rules[k][i]; !math.IsNaN(x) {
				rs.N++
				rs.RewardPolicy += x
				rs.RewardBaseline += b.rules[k][i]
			}
		}
		if rs.N > 0 {
			rs.RewardPolicy /= float64(rs.N)
			rs.RewardBaseline /= float64(rs.N)
		}
		s.RuleRewards = append(s.RuleRewards, rs)
	}
	for _, i := range idx {
		s.RewardPolicy += p.reward[i]
		s.RewardBaseline += b.reward[i]
		s.KL += p.klToRef[i]
		s.LenPolicy += float64(len(p.resp[i]))
		s.LenBaseline += float64(len(b.resp[i]))
		tally(p.reward[i], b.reward[i], &s.Wins, &s.Ties, &s.Losses)
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

// tally counts one comparison of policy score x with baseline score y.
func tally(x, y float64, wins, ties, losses *int) {
	switch d := x - y; {
	case math.Abs(d) <= 1e-6*math.Max(1, math.Abs(x)):
		*ties++
	case d > 0:
		*wins++
	default:
		*losses++
	}
}

// goldStats compares the sides under the gold rule over the prompts of idx
// it scored (nil without a gold rule).
func goldStats(idx []int, p, b *evalSide, fn string) *GoldStats {
	if p.gold == nil {
		return nil
	}
	g := &GoldStats{Fn: fn}
	var pw, pt, pl int
	for _, i := range idx {
		if math.IsNaN(p.gold[i]) {
			continue
		}
		g.N++
		g.RewardPolicy += p.gold[i]
		g.RewardBaseline += b.gold[i]
		tally(p.gold[i], b.gold[i], &g.Wins, &g.Ties, &g.Losses)
		tally(p.reward[i], b.reward[i], &pw, &pt, &pl)
	}
	if g.N == 0 {
		g.WinHigh = 1
		return g
	}
	n := float64(g.N)
	g.RewardPolicy /= n
	g.RewardBaseline /= n
	g.WinRate = (float64(g.Wins) + 0.5*float64(g.Ties)) / n
	g.WinLow, g.WinHigh = evalWilson(g.WinRate, n, 1.959964)
	g.ProxyWinRate = (float64(pw) + 0.5*float64(pt)) / n
	if g.N < GoldMinPrompts {
		g.Note = fmt.Sprintf("the gold judge scored only %d prompt(s) (fewer than %d): too few to compare with the reward model", g.N, GoldMinPrompts)
	} else if g.ProxyWinRate-g.WinRate > GoldGap {
		g.Warning = fmt.Sprintf("the reward model's win rate %.3f exceeds the gold judge's %.3f by more than %.0f points on the %d prompt(s) the gold judge scored: the policy may exploit the reward model (reward hacking)",
			g.ProxyWinRate, g.WinRate, 100*GoldGap, g.N)
	}
	return g
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
		if g := s.Gold; g != nil && g.N > 0 {
			slog.Info("eval gold", "task", name, "fn", g.Fn, "n", g.N, "win_rate", evalRound3(g.WinRate),
				"ci95", fmt.Sprintf("[%.3f, %.3f]", g.WinLow, g.WinHigh), "proxy_win_rate", evalRound3(g.ProxyWinRate))
		}
		for _, r := range s.RuleRewards {
			if r.N > 0 {
				slog.Info("eval rule reward", "task", name, "fn", r.Fn, "n", r.N,
					"policy", evalRound3(r.RewardPolicy), "baseline", evalRound3(r.RewardBaseline))
			}
		}
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
	if g := r.All.Gold; g != nil && g.Warning != "" {
		slog.Warn("eval: proxy and gold disagree", "fn", g.Fn, "proxy_win_rate", evalRound3(g.ProxyWinRate),
			"gold_win_rate", evalRound3(g.WinRate), "n", g.N, "warning", g.Warning)
	}
}

func evalRound3(x float64) float64 { return math.Round(x*1000) / 1000 }
