package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like math
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// The preference losses of `rlhf dpo` (DPOOptions.Loss), as TRL defines them.
const (
	// DPOLossDPO is DPO's sigmoid loss −log σ(β·h), h = (πc − rc) − (πr − rr)
	// on summed response log-probs; with label smoothing ε (conservative
	// DPO) −(1−ε)·log σ(βh) − ε·log σ(−βh).
	DPOLossDPO = "dpo"
	// DPOLossIPO is IPO's squared loss (h − 1/(2β))², on length-averaged
	// log-probs (as TRL computes it).
	DPOLossIPO = "ipo"
	// DPOLossSimPO is SimPO's reference-free loss
	// −log σ(β·(avg πc − avg πr) − γ) on length-averaged log-probs.
	DPOLossSimPO = "simpo"
)

// DPOLosses are the valid values of DPOOptions.Loss.
var DPOLosses = []string{DPOLossDPO, DPOLossIPO, DPOLossSimPO}

// DPOOptions configure `rlhf dpo`.
type DPOOptions struct {
	CommonOptions
	// Model is the policy to start from (usually the SFT checkpoint); it
	// needs a language-model head.
	Model string
	// Ref is the reference model (default: Model, the policy's starting
	// weights). Its log-probs are computed once, before training, and
	// cached in Out (RefLogpsFile). SimPO uses none.
	Ref string
	// Data is a comparison dataset (folder with train/ and val/, one
	// dataset, or a file). Rows sharing a group_id are one prompt ranked
	// among K answers, expanded to pairs as `rlhf rm` does; ties (equal
	// ranks or identical answers) are dropped.
	Data string
	// Val overrides the validation data (default: Data's val/ split).
	Val string
	// Loss is "dpo" (default), "ipo" or "simpo".
	Loss string
	// Beta is the inverse temperature β of every loss (DPO's KL weight,
	// IPO's τ, SimPO's reward scale). Default 0.1.
	Beta float64
	// LabelSmoothing ε ∈ [0, 0.5) is the assumed probability that a
	// label is flipped (conservative DPO; dpo and simpo). Default 0.
	LabelSmoothing float64
	// SimPOGamma is SimPO's target margin γ (simpo only). Default 0.5
	// from the command line; the zero value means no margin.
	SimPOGamma float64
	// SFTCoef, when > 0, adds SFTCoef × the chosen answer's mean
	// per-token negative log-likelihood to the loss (RPO). Default 0.
	SFTCoef float64
	// StopAfter: see SFTOptions.StopAfter.
	StopAfter int
}

// dpoLR is DPO's default learning rate (TRL's).
const dpoLR = 1e-6

// DPODefaults are the options `rlhf dpo` starts from (loss dpo, β 0.1,
// SimPO γ 0.5, learning rate 1e-6).
func DPODefaults() DPOOptions {
	return DPOOptions{CommonOptions: commonDefaults(dpoLR), Loss: DPOLossDPO, Beta: 0.1, SimPOGamma: 0.5}
}

// Defaults fills zero values with the documented defaults (see
// CommonOptions.Defaults; the learning rate defaults to 1e-6, Loss to dpo
// and Beta to 0.1; SimPOGamma keeps its zero meaning).
func (o *DPOOptions) Defaults() {
	o.fill(dpoLR)
	if o.Loss == "" {
		o.Loss = DPOLossDPO
	}
	if o.Beta == 0 {
		o.Beta = 0.1
	}
}

// Check validates the options (before anything is loaded).
func (o *DPOOptions) Check() error {
	if err := o.CommonOptions.Check(); err != nil {
		return err
	}
	switch {
	case o.Model == "":
		return option.Errorf("{Model}: no model folder given")
	case o.Loss != DPOLossDPO && o.Loss != DPOLossIPO && o.Loss != DPOLossSimPO:
		return option.Errorf("{Loss} %q: want dpo, ipo or simpo", o.Loss)
	case !(o.Beta > 0) || !finite(o.Beta):
		return option.Errorf("{Beta} %g: want a positive value", o.Beta)
	case !(o.LabelSmoothing >= 0 && o.LabelSmoothing < 0.5):
		return option.Errorf("{LabelSmoothing} %g: want a value in [0, 0.5)", o.LabelSmoothing)
	case o.LabelSmoothing > 0 && o.Loss == DPOLossIPO:
		return option.Errorf("{LabelSmoothing} %g: it applies to the dpo and simpo losses, not ipo", o.LabelSmoothing)
	case !finite(o.SimPOGamma):
		return option.Errorf("{SimPOGamma} %g: want a finite value", o.SimPOGamma)
	case !(o.SFTCoef >= 0) || !finite(o.SFTCoef):
		return option.Errorf("{SFTCoef} %g: want 0 (off) or more", o.SFTCoef)
	case o.StopAfter < 0:
		return option.Errorf("{StopAfter} %d: want 0 (off) or more", o.StopAfter)
	case o.Ref != "" && o.Loss == DPOLossSimPO:
		return option.Errorf("{Ref} %s: the simpo loss uses no reference model", o.Ref)
	}
	return nil
}

// DPOResult summarises a run.
type DPOResult struct {
	Steps int
	// Loss is the last logged training loss; ValLoss, ValAccuracy (the
	// implicit reward's pairwise accuracy) and ValMargin (mean
	// rewards/margins) the last validation (NaN without validation data);
	// ValAccuracyByTask the accuracy per task.
	Loss, ValLoss, ValAccuracy, ValMargin float64
	ValAccuracyByTask                     map[string]float64
	// Ties is the number of training and validation rows dropped as ties.
	Ties int
	// RefCached is true when the reference log-probs were read from
	// Out/RefLogpsFile instead of computed.
	RefCached  bool
	Model      string
	Truncation infer.TruncStats
	Stopped    bool
}

// dpoConfig is what the loss graph and the validation need of the options.
type dpoConfig struct {
	loss                    string
	beta, smoothing, gamma  float64
	sftCoef                 float64
	averaged, usesReference bool
}

func newDPOConfig(o *DPOOptions) dpoConfig {
	return dpoConfig{loss: o.Loss, beta: o.Beta, smoothing: o.LabelSmoothing, gamma: o.SimPOGamma, sftCoef: o.SFTCoef,
		averaged: o.Loss != DPOLossDPO, usesReference: o.Loss != DPOLossSimPO}
}

// dpoTerms are the per-pair quantities of a preference loss ([P] nodes).
type dpoTerms struct {
	// Loss is the pair's preference loss (without the SFT term).
	Loss *Node
	// RewardChosen and RewardRejected are the implicit rewards:
	// β·(π − ref) (β·π for SimPO), on the log-probs the loss uses.
	RewardChosen, RewardRejected *Node
	// LogpChosen and LogpRejected are the policy's log-probs the loss
	// uses: summed over the response (dpo) or averaged (ipo, simpo).
	LogpChosen, LogpRejected *Node
	// NLL is the chosen answer's mean per-token negative log-likelihood.
	NLL *Node
}

// dpoPairTerms computes the loss terms of P pairs from the summed response
// log-probs of the policy (pc, pr) and the reference (rc, rr), and the
// response lengths in tokens (nc, nr); all [P] float32.
func dpoPairTerms(c dpoConfig, pc, pr, nc, nr, rc, rr *Node) dpoTerms {
	nc, nr = Max(nc, OnesLike(nc)), Max(nr, OnesLike(nr))
	t := dpoTerms{NLL: Neg(Div(pc, nc))}
	if c.averaged {
		pc, pr, rc, rr = Div(pc, nc), Div(pr, nr), Div(rc, nc), Div(rr, nr)
	}
	t.LogpChosen, t.LogpRejected = pc, pr
	if c.usesReference {
		t.RewardChosen, t.RewardRejected = MulScalar(Sub(pc, rc), c.beta), MulScalar(Sub(pr, rr), c.beta)
	} else {
		t.RewardChosen, t.RewardRejected = MulScalar(pc, c.beta), MulScalar(pr, c.beta)
	}
	z := Sub(t.RewardChosen, t.RewardRejected) // β·h
	switch c.loss {
	case DPOLossIPO:
		// (h − 1/(2β))² with h = z/β.
		t.Loss = Square(AddScalar(DivScalar(z, c.beta), -1/(2*c.beta)))
	default: // dpo, simpo: −(1−ε)·log σ(z) − ε·log σ(−z), z less γ for SimPO
		if c.loss == DPOLossSimPO {
			z = AddScalar(z, -c.gamma)
		}
		t.Loss = Softplus(Neg(z))
		if c.smoothing > 0 {
			t.Loss = Add(MulScalar(t.Loss, 1-c.smoothing), MulScalar(Softplus(z), c.smoothing))
		}
	}
	return t
}

// dpoPair64 is dpoPairTerms for one pair in float64 (validation).
type dpoPair64 struct {
	loss, rewardChosen, rewardRejected, logpChosen, logpRejected, nll float64
}

func dpoPairTerms64(c dpoConfig, pc, pr, nc, nr, rc, rr float64) dpoPair64 {
	nc, nr = math.Max(nc, 1), math.Max(nr, 1)
	t := dpoPair64{nll: -pc / nc}
	if c.averaged {
		pc, pr, rc, rr = pc/nc, pr/nr, rc/nc, rr/nr
	}
	t.logpChosen, t.logpRejected = pc, pr
	if c.usesReference {
		t.rewardChosen, t.rewardRejected = c.beta*(pc-rc), c.beta*(pr-rr)
	} else {
		t.rewardChosen, t.rewardRejected = c.beta*pc, c.beta*pr
	}
	z := t.rewardChosen - t.rewardRejected
	switch c.loss {
	case DPOLossIPO:
		d := z/c.beta - 1/(2*c.beta)
		t.loss = d * d
	default:
		if c.loss == DPOLossSimPO {
			z -= c.gamma
		}
		t.loss = (1-c.smoothing)*softplus(-z) + c.smoothing*softplus(z)
	}
	return t
}

// seqLogProbs returns the summed log-prob of each row's weighted targets
// (the response tokens and EOS) and their number: [N], [N] float32.
func seqLogProbs(m *model.Model, tokens, mask, targets, weights *Node) (sum, n *Node) {
	logits, _ := m.Forward(tokens, mask)
	lp := model.TokenLogProbs(logits, targets) // [N,T]
	w := ConvertDType(weights, dtypes.Float32)
	return ReduceSum(Mul(lp, w), 1), ReduceSum(w, 1)
}

// dpoBatch is a batch of whole comparison groups (as RMBatch) with the
// reference log-probs of each pair's chosen and rejected answers.
type dpoBatch struct {
	RMBatch
	RefChosen, RefRejected []float32
}

// makeDPOBatch builds the batch of groups; refs[i] are the reference
// log-probs of groups[i].Seqs (nil without a reference).
func makeDPOBatch(groups []Group, refs [][]float64, maxLen, pad int) dpoBatch {
	b := dpoBatch{RMBatch: MakeRMBatch(groups, maxLen, pad)}
	for i, g := range groups {
		for _, p := range g.Pairs {
			var c, r float32
			if refs != nil {
				c, r = float32(refs[i][p[0]]), float32(refs[i][p[1]])
			}
			b.RefChosen = append(b.RefChosen, c)
			b.RefRejected = append(b.RefRejected, r)
		}
	}
	for len(b.RefChosen) < len(b.Chosen) {
		b.RefChosen = append(b.RefChosen, 0)
		b.RefRejected = append(b.RefRejected, 0)
	}
	return b
}

func (b dpoBatch) inputs() []any {
	s, P := b.Seqs, len(b.Chosen)
	return []any{tensorOf(s.Tokens, s.B, s.T), tensorOf(s.Mask, s.B, s.T), tensorOf(s.Targets, s.B, s.T), tensorOf(s.Weights, s.B, s.T),
		tensorOf(b.Chosen, P), tensorOf(b.Rejected, P), tensorOf(b.Weight, P), tensorOf(b.RefChosen, P), tensorOf(b.RefRejected, P)}
}

// dpoMetricNames are the training metrics of dpoLoss, in its order (TRL's names).
var dpoMetricNames = []string{"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
	"logps/chosen", "logps/rejected", "nll_loss"}

// dpoLoss is the group-averaged preference loss Σ w·loss (+ sftCoef·Σ w·NLL
// of the chosen answer), w = 1/(pairs of the group × groups in the batch)
// as rmLoss weighs pairs; its metrics are the w-weighted dpoMetricNames.
// inputs: tokens, mask, targets, weights [N,T]; chosen, rejected [P] int32;
// pair weights, reference log-probs of chosen and rejected [P] float32.
func dpoLoss(m *model.Model, c dpoConfig) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		sum, n := seqLogProbs(m, in[0], in[1], in[2], in[3])
		pick := func(x, idx *Node) *Node { return Gather(x, ExpandAxes(idx, -1)) }
		t := dpoPairTerms(c, pick(sum, in[4]), pick(sum, in[5]), pick(n, in[4]), pick(n, in[5]), in[7], in[8])
		w := in[6]
		wsum := func(x *Node) *Node { return ReduceAllSum(Mul(w, x)) }
		loss, nll := wsum(t.Loss), wsum(t.NLL)
		if c.sftCoef > 0 {
			loss = Add(loss, MulScalar(nll, c.sftCoef))
		}
		margin := Sub(t.RewardChosen, t.RewardRejected)
		acc := ConvertDType(GreaterThan(margin, ZerosLike(margin)), dtypes.Float32)
		return loss, []*Node{wsum(t.RewardChosen), wsum(t.RewardRejected), wsum(acc), wsum(margin),
			wsum(t.LogpChosen), wsum(t.LogpRejected), nll}
	}
}

// checkCausalLM refuses a policy or reference that is not a causal LM: a
// checkpoint without language-model head, or a reward model (its score
// head would be trained and saved along, and its LM head, when tied, was
// trained for scoring).
func checkCausalLM(m *model.Model) error {
	switch {
	case !m.HasLMHead:
		return fmt.Errorf("the checkpoint has no language-model head (it is a reward model); DPO needs a causal LM, usually the SFT checkpoint")
	case m.HasScoreHead():
		return fmt.Errorf("the checkpoint has a score head (it is a reward model); DPO needs a causal LM, usually the SFT checkpoint")
	}
	return nil
}

// dropTies removes the rows that state no preference: equal ranks, or the
// same answer chosen and rejected.
func dropTies(rows []dataset.Comparison) (kept []dataset.Comparison, ties int) {
	for _, r := range rows {
		if r.Chosen == r.Rejected || (r.ChosenRank != 0 && r.ChosenRank == r.RejectedRank) {
			ties++
			continue
		}
		kept = append(kept, r)
	}
	return kept, ties
}

// respLens are the response (loss) token counts of a group's sequences.
func respLens(g Group) []float64 {
	out := make([]float64, len(g.Seqs))
	for i, s := range g.Seqs {
		for t := 1; t < len(s.Tokens); t++ {
			if s.LossAt(t) {
				out[i]++
			}
		}
	}
	return out
}

// dpoStats accumulate validation metrics over pairs (every pair counts once).
type dpoStats struct {
	n, correct                                               int
	loss, nll, chosen, rejected, margin, logpChosen, logpRej float64
}

func (s *dpoStats) add(t dpoPair64) {
	s.n++
	m := t.rewardChosen - t.rewardRejected
	if m > 0 {
		s.correct++
	}
	s.loss += t.loss
	s.nll += t.nll
	s.chosen += t.rewardChosen
	s.rejected += t.rewardRejected
	s.margin += m
	s.logpChosen += t.logpChosen
	s.logpRej += t.logpRejected
}

// RunDPO trains a policy directly on preferences (DPO, IPO or SimPO):
// no reward model, no sampling.
func RunDPO(ctx context.Context, o DPOOptions) (*DPOResult, error) {
	return WithOutput(o.Out, func() (*DPOResult, error) { return runDPO(ctx, o) })
}

func runDPO(ctx context.Context, o DPOOptions) (*DPOResult, error) {
	o.Defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}
	cfg := newDPOConfig(&o)

	// 1. Data and model, every refusal before any compute.
	trainRows, valRows, err := readTrainVal[dataset.Comparison](o.Data, o.Val, o.CommonOptions)
	if err != nil {
		return nil, err
	}
	res := &DPOResult{ValLoss: math.NaN(), ValAccuracy: math.NaN(), ValMargin: math.NaN()}
	n := len(trainRows)
	trainRows, ties := dropTies(trainRows)
	res.Ties += ties
	if len(trainRows) == 0 {
		return nil, option.Errorf("{Data} %s: all %d comparisons are ties (equal ranks or the same answer chosen and rejected); DPO needs a preferred answer", o.Data, n)
	}
	valRows, ties = dropTies(valRows)
	res.Ties += ties
	if res.Ties > 0 {
		slog.Warn("dropped comparisons that state no preference (equal ranks or identical answers)", "rows", res.Ties)
	}
	resumeFrom, err := StartRun("dpo", &o.CommonOptions, o.Model, o.Ref, o.Data, o.Val)
	if err != nil {
		return nil, err
	}
	m, tok, saver, err := loadTrainee(&o.CommonOptions, o.Model, o.Base, resumeFrom, func(m *model.Model, dir string) error {
		if err := checkCausalLM(m); err != nil {
			return option.Errorf("{Model} %s: %w", dir, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 2. Tokenise and group.
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: o.MaxSeqLen, Truncate: o.Truncate}
	var stats infer.TruncStats
	groups := GroupComparisons(trainRows, enc, &stats)
	res.Truncation = stats
	if stats.PromptTruncated+stats.ResponseTruncated+stats.Dropped > 0 {
		slog.Warn("responses longer than --max-seq-len", "max_seq_len", o.MaxSeqLen, "truncate", o.Truncate, "stats", stats.String())
	}
	if len(groups) == 0 {
		return nil, option.Errorf("{Data} %s: no comparison is left after {Truncate} %s at {MaxSeqLen} %d", o.Data, o.Truncate, o.MaxSeqLen)
	}
	valGroups := GroupComparisons(valRows, enc, nil)

	// 3. Schedule, state and the reference log-probs (computed once, cached in Out).
	run, err := planRun("dpo", &o.CommonOptions, len(groups), m.Store, resumeFrom)
	if err != nil {
		return nil, err
	}
	seqRows := (2*o.BatchSize + 7) / 8 * 8
	lpExec := newSeqLogpExec(run.backend, m)
	var refTrain, refVal [][]float64
	if cfg.usesReference {
		refTrain, refVal, res.RefCached, err = referenceLogps(ctx, &o, lpExec, tok, resumeFrom, run.backend, groups, valGroups, seqRows)
		if err != nil {
			return nil, err
		}
	}
	if resumeFrom == "" {
		m.Meta.Stage = "dpo"
		m.Meta.BaseModel = o.Model
		ref := o.Ref
		if ref == "" && cfg.usesReference {
			ref = o.Model
		}
		m.Meta.Extra = map[string]any{"dpo_loss": o.Loss, "beta": o.Beta, "label_smoothing": o.LabelSmoothing,
			"sft_coef": o.SFTCoef, "reference_model": ref}
		if o.Loss == DPOLossSimPO {
			m.Meta.Extra["simpo_gamma"] = o.SimPOGamma
		}
	}

	// 4. Executables: the optimizer's train step; validation reuses lpExec.
	optim := NewOptimizer(run.backend, m.Store, dpoLoss(m, cfg), OptimizerConfig{WeightDecay: o.WeightDecay, ClipGrad: o.ClipGrad})
	trainer := supervised{kind: "dpo", opt: optim, saveModel: saver.save,
		micro: func(idx []int) (float64, Metrics, int, error) {
			gs := make([]Group, len(idx))
			var refs [][]float64
			for i, j := range idx {
				gs[i] = groups[j]
				if refTrain != nil {
					refs = append(refs, refTrain[j])
				}
			}
			b := makeDPOBatch(gs, refs, o.MaxSeqLen, tok.PAD())
			r, err := optim.Micro(b.inputs()...)
			if err != nil {
				return 0, nil, 0, err
			}
			mt := Metrics{}
			for i, name := range dpoMetricNames {
				if name != "nll_loss" || cfg.sftCoef > 0 {
					mt[name] = r.Metrics[i]
				}
			}
			tokens := 0
			for _, v := range b.Seqs.Mask {
				tokens += int(v)
			}
			return r.Loss, mt, tokens, nil
		},
		status: func(loss, _ float64, m Metrics) string {
			return fmt.Sprintf("loss %.4f acc %.2f margin %.3f", loss, m["rewards/accuracies"], m["rewards/margins"])
		},
	}
	if len(valGroups) > 0 {
		trainer.validate = func() (Metrics, error) {
			return dpoValidate(ctx, cfg, lpExec, valGroups, refVal, seqRows, o.MaxSeqLen, tok.PAD(), res)
		}
	}

	// 5. The loop.
	lr, err := runSupervised(ctx, &o.CommonOptions, o.StopAfter, run, trainer, resumeFrom)
	if err != nil {
		return nil, err
	}
	res.Loss, res.Steps = lr.Loss, lr.Steps
	res.ValLoss, res.ValAccuracy, res.ValMargin = lr.pairwise()
	if lr.Stopped {
		res.Stopped, res.Model = true, lr.Last
		return res, nil
	}

	// 6. Publish the best checkpoint by validation loss, or the last one.
	final := bestOrLast(o.Out, lr.Last)
	if err := publishModel(final, o.Out); err != nil {
		return nil, err
	}
	res.Model = o.Out
	plots := []Plot{
		{File: "loss.png", Title: o.Loss + " loss", Keys: []string{"loss", "val_loss"}},
		{File: "rewards.png", Title: "implicit rewards", Keys: []string{"rewards/chosen", "rewards/rejected", "val_rewards/chosen", "val_rewards/rejected"}},
		{File: "margins.png", Title: "reward margin (chosen - rejected)", Keys: []string{"rewards/margins", "val_rewards/margins"}},
		{File: "accuracy.png", Title: "preference accuracy (implicit reward)", Keys: []string{"rewards/accuracies", "val_rewards/accuracies"}},
		{File: "logps.png", Title: "policy log-probs", Keys: []string{"logps/chosen", "logps/rejected", "val_logps/chosen", "val_logps/rejected"}},
		{File: "lr.png", Title: "learning rate", Keys: []string{"lr"}},
	}
	plots = append(plots, taskAccuracyPlots(res.ValAccuracyByTask)...)
	finishPlots(o.Out, plots)
	var val any = res.ValAccuracy
	if len(valGroups) == 0 {
		val = "none (no validation data: pass --val or a --data folder with val/)"
	}
	slog.Info("dpo done", "loss_type", o.Loss, "steps", res.Steps, "loss", res.Loss, "val_acc", val, "model", o.Out, "from", final)
	return res, nil
}

// dpoValidate computes the policy's log-probs of every validation sequence
// and the validation metrics over pairs (each pair counts once): val_loss
// (preference loss + sft_coef × NLL), TRL's rewards/* and logps/* with a
// val_ prefix, val_acc and val_margin (the same as val_rewards/accuracies
// and val_rewards/margins, for the log line) and per task val_acc/TASK and
// val_margin/TASK. It records the per-task accuracy in res.
func dpoValidate(ctx context.Context, c dpoConfig, exec *gmodel.Exec, groups []Group, refs [][]float64, rows, maxLen, pad int, res *DPOResult) (Metrics, error) {
	logps, err := groupLogps(ctx, exec, groups, rows, maxLen, pad, nil)
	if err != nil {
		return nil, err
	}
	all := &dpoStats{}
	byTask := map[string]*dpoStats{}
	for gi, g := range groups {
		lens := respLens(g)
		task := g.Task
		if task == "" {
			task = "none"
		}
		if byTask[task] == nil {
			byTask[task] = &dpoStats{}
		}
		for _, p := range g.Pairs {
			var rc, rr float64
			if refs != nil {
				rc, rr = refs[gi][p[0]], refs[gi][p[1]]
			}
			t := dpoPairTerms64(c, logps[gi][p[0]], logps[gi][p[1]], lens[p[0]], lens[p[1]], rc, rr)
			all.add(t)
			byTask[task].add(t)
		}
	}
	n := float64(all.n)
	mt := Metrics{
		"val_loss":               (all.loss + c.sftCoef*all.nll) / n,
		"val_rewards/chosen":     all.chosen / n,
		"val_rewards/rejected":   all.rejected / n,
		"val_rewards/accuracies": float64(all.correct) / n,
		"val_rewards/margins":    all.margin / n,
		"val_logps/chosen":       all.logpChosen / n,
		"val_logps/rejected":     all.logpRej / n,
		"val_acc":                float64(all.correct) / n,
		"val_margin":             all.margin / n,
	}
	if c.sftCoef > 0 {
		mt["val_nll_loss"] = all.nll / n
	}
	res.ValAccuracyByTask = map[string]float64{}
	for task, s := range byTask {
		acc := float64(s.correct) / float64(s.n)
		mt["val_acc/"+task] = acc
		mt["val_margin/"+task] = s.margin / float64(s.n)
		res.ValAccuracyByTask[task] = acc
	}
	return mt, nil
}
