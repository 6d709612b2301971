package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// RMOptions configure `rlhf rm`.
type RMOptions struct {
	CommonOptions
	// Model is the checkpoint to start from (usually the SFT one). Its LM
	// head is left unused; a score head is added when it has none.
	Model string
	// Data is a comparison dataset (folder with train/ and val/, one
	// dataset, or a file). Rows sharing a group_id are one prompt ranked
	// among K answers; rows without group_id are plain pairs.
	Data string
	// Val overrides the validation data (default: Data's val/ split).
	Val string
	// SFTData is an sft dataset whose val split (or the dataset itself)
	// gives the reference responses the reward is centred on after
	// training; without it the chosen responses of the training data are used.
	SFTData string
	// StopAfter: see SFTOptions.StopAfter.
	StopAfter int
}

// rmLR is the reward model's default learning rate.
const rmLR = 5e-6

// RMDefaults are the options `rlhf rm` starts from (learning rate 5e-6).
func RMDefaults() RMOptions { return RMOptions{CommonOptions: commonDefaults(rmLR)} }

// Defaults fills zero values with the documented defaults (see
// CommonOptions.Defaults; the learning rate defaults to 5e-6).
func (o *RMOptions) Defaults() { o.fill(rmLR) }

// RMResult summarises a run.
type RMResult struct {
	Steps int
	// Loss is the last logged training loss; ValLoss, ValAccuracy and
	// ValMargin the last validation (NaN without validation data);
	// ValAccuracyByTask the accuracy per task.
	Loss, ValLoss, ValAccuracy, ValMargin float64
	ValAccuracyByTask                     map[string]float64
	// RewardMean and RewardStd are the statistics of the raw reward on the
	// reference responses, recorded in rlhf.json.
	RewardMean, RewardStd float64
	Model                 string
	Truncation            infer.TruncStats
	Stopped               bool
}

// Group is one prompt's comparisons: the distinct sequences scored and the
// pairs (indexes into Seqs) with the chosen one first.
type Group struct {
	Task  string
	Seqs  []infer.Encoded
	Pairs [][2]int
}

// GroupComparisons groups rows by group_id (rows without one are groups
// of one pair), in order of first appearance, and encodes each distinct
// (prompt, response) once. Pairs whose sequences are dropped by the
// truncation policy are left out, and so are groups left without pairs.
func GroupComparisons(rows []dataset.Comparison, enc *infer.Encoder, stats *infer.TruncStats) []Group {
	type key struct{ prompt, response string }
	type building struct {
		g     Group
		index map[key]int
	}
	var order []*building
	byID := map[string]*building{}
	for _, r := range rows {
		var b *building
		if r.GroupID != "" {
			b = byID[r.GroupID]
		}
		if b == nil {
			b = &building{g: Group{Task: r.Task}, index: map[key]int{}}
			order = append(order, b)
			if r.GroupID != "" {
				byID[r.GroupID] = b
			}
		}
		idx := func(resp string) int {
			k := key{r.History + "\x1f" + r.Prompt, resp}
			if i, ok := b.index[k]; ok {
				return i
			}
			e, ok := encodeConv(enc, r.History, r.Prompt, resp, false, stats)
			if !ok {
				b.index[k] = -1
				return -1
			}
			b.g.Seqs = append(b.g.Seqs, e)
			b.index[k] = len(b.g.Seqs) - 1
			return len(b.g.Seqs) - 1
		}
		c, j := idx(r.Chosen), idx(r.Rejected)
		if c >= 0 && j >= 0 {
			b.g.Pairs = append(b.g.Pairs, [2]int{c, j})
		}
	}
	var out []Group
	for _, b := range order {
		if len(b.g.Pairs) > 0 {
			out = append(out, b.g)
		}
	}
	return out
}

// RMBatch is a batch of whole groups: N sequences and P pairs (padded to
// multiples of 8 so batches share compiled graphs; padding pairs weigh 0).
type RMBatch struct {
	Seqs Batch
	// Chosen, Rejected index rows of Seqs; Weight is 1/(pairs of the
	// group × groups in the batch), so every group (prompt) weighs the same
	// whatever its K, as InstructGPT prescribes.
	Chosen, Rejected []int32
	Weight           []float32
	Groups           int
}

// MakeRMBatch builds the batch of groups.
func MakeRMBatch(groups []Group, maxLen, pad int) RMBatch {
	var seqs []infer.Encoded
	var b RMBatch
	for _, g := range groups {
		off := len(seqs)
		seqs = append(seqs, g.Seqs...)
		for _, p := range g.Pairs {
			b.Chosen = append(b.Chosen, int32(off+p[0]))
			b.Rejected = append(b.Rejected, int32(off+p[1]))
			b.Weight = append(b.Weight, float32(1/(float64(len(g.Pairs))*float64(len(groups)))))
		}
	}
	n := (len(seqs) + 7) / 8 * 8
	b.Seqs = MakeBatch(seqs, n, maxLen, pad)
	for len(b.Chosen)%8 != 0 {
		b.Chosen = append(b.Chosen, 0)
		b.Rejected = append(b.Rejected, 0)
		b.Weight = append(b.Weight, 0)
	}
	b.Groups = len(groups)
	return b
}

func (b RMBatch) inputs() []any {
	P := len(b.Chosen)
	return []any{tensorOf(b.Seqs.Tokens, b.Seqs.B, b.Seqs.T), tensorOf(b.Seqs.Mask, b.Seqs.B, b.Seqs.T),
		tensorOf(b.Chosen, P), tensorOf(b.Rejected, P), tensorOf(b.Weight, P)}
}

// rmLoss is the group-averaged pairwise loss Σ w·(−log σ(r_c − r_r)); its
// metrics are the weighted accuracy and margin.
func rmLoss(m *model.Model) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		r := infer.Rewards(m, in[0], in[1])
		rc := Gather(r, ExpandAxes(in[2], -1))
		rr := Gather(r, ExpandAxes(in[3], -1))
		w := in[4]
		d := Sub(rc, rr)
		loss := ReduceAllSum(Mul(w, Softplus(Neg(d))))
		acc := ReduceAllSum(Mul(w, ConvertDType(GreaterThan(d, ZerosLike(d)), dtypes.Float32)))
		return loss, []*Node{acc, ReduceAllSum(Mul(w, d))}
	}
}

// pairStats are validation metrics over pairs (every pair counts once).
type pairStats struct {
	n, correct      int
	margin, lossSum float64
}

func (p *pairStats) add(d float64) {
	p.n++
	if d > 0 {
		p.correct++
	}
	p.margin += d
	p.lossSum += softplus(-d)
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// RunRM trains a reward model on comparisons.
func RunRM(ctx context.Context, o RMOptions) (*RMResult, error) {
	return WithOutput(o.Out, func() (*RMResult, error) { return runRM(ctx, o) })
}

func runRM(ctx context.Context, o RMOptions) (*RMResult, error) {
	o.Defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.Model == "" {
		return nil, option.Errorf("{Model}: no model folder given")
	}
	trainRows, valRows, err := readTrainVal[dataset.Comparison](o.Data, o.Val, o.CommonOptions)
	if err != nil {
		return nil, err
	}
	var refRows []dataset.SFT
	if o.SFTData != "" {
		tp, vp, err := resolveData(o.SFTData, "")
		if err != nil {
			return nil, option.Errorf("{SFTData}: %w", err)
		}
		if len(vp) == 0 {
			vp = tp
		}
		if refRows, err = readAll[dataset.SFT]("SFTData", vp, o.Encoding); err != nil {
			return nil, err
		}
	}
	resumeFrom, err := StartRun("rm", &o.CommonOptions, o.Model, o.Data, o.Val, o.SFTData)
	if err != nil {
		return nil, err
	}
	m, tok, saver, err := loadTrainee(&o.CommonOptions, o.Model, o.Base, resumeFrom, func(m *model.Model, _ string) error {
		if !m.HasScoreHead() {
			if err := m.AddScoreHead(o.Seed); err != nil {
				return err
			}
		}
		// A reward model has no use for an untied LM head: it is neither
		// trained nor saved (the *ForSequenceClassification layout).
		return m.DropLMHead()
	})
	if err != nil {
		return nil, err
	}
	if resumeFrom == "" {
		m.Meta.Stage = "rm"
		m.Meta.BaseModel = o.Model
	}

	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: o.MaxSeqLen, Truncate: o.Truncate}
	var stats infer.TruncStats
	groups := GroupComparisons(trainRows, enc, &stats)
	if stats.PromptTruncated+stats.ResponseTruncated+stats.Dropped > 0 {
		slog.Warn("responses longer than --max-seq-len", "max_seq_len", o.MaxSeqLen, "truncate", o.Truncate, "stats", stats.String())
	}
	if len(groups) == 0 {
		return nil, option.Errorf("{Data} %s: no comparison is left after {Truncate} %s at {MaxSeqLen} %d", o.Data, o.Truncate, o.MaxSeqLen)
	}
	valGroups := GroupComparisons(valRows, enc, nil)

	run, err := planRun("rm", &o.CommonOptions, len(groups), m.Store, resumeFrom)
	if err != nil {
		return nil, err
	}
	optim := NewOptimizer(run.backend, m.Store, rmLoss(m), OptimizerConfig{WeightDecay: o.WeightDecay, ClipGrad: o.ClipGrad})
	scorer, err := infer.NewScorer(run.backend, m)
	if err != nil {
		return nil, err
	}

	res := &RMResult{ValLoss: math.NaN(), ValAccuracy: math.NaN(), ValMargin: math.NaN(), Truncation: stats}
	validate := func() (Metrics, error) {
		all := &pairStats{}
		byTask := map[string]*pairStats{}
		for _, g := range valGroups {
			r, err := scorer.RewardsOf(g.Seqs, 8)
			if err != nil {
				return nil, err
			}
			if byTask[g.Task] == nil {
				byTask[g.Task] = &pairStats{}
			}
			for _, p := range g.Pairs {
				d := r[p[0]] - r[p[1]]
				all.add(d)
				byTask[g.Task].add(d)
			}
		}
		n := float64(all.n)
		mt := Metrics{"val_loss": all.lossSum / n, "val_acc": float64(all.correct) / n, "val_margin": all.margin / n}
		res.ValAccuracyByTask = map[string]float64{}
		for task, s := range byTask {
			name := task
			if name == "" {
				name = "none"
			}
			mt["val_acc/"+name] = float64(s.correct) / float64(s.n)
			mt["val_margin/"+name] = s.margin / float64(s.n)
			res.ValAccuracyByTask[name] = float64(s.correct) / float64(s.n)
		}
		return mt, nil
	}

	trainer := supervised{kind: "rm", opt: optim, saveModel: saver.save,
		micro: func(idx []int) (float64, Metrics, int, error) {
			gs := make([]Group, len(idx))
			for i, j := range idx {
				gs[i] = groups[j]
			}
			b := MakeRMBatch(gs, o.MaxSeqLen, tok.PAD())
			r, err := optim.Micro(b.inputs()...)
			if err != nil {
				return 0, nil, 0, err
			}
			tokens := 0
			for _, v := range b.Seqs.Mask {
				tokens += int(v)
			}
			return r.Loss, Metrics{"acc": r.Metrics[0], "margin": r.Metrics[1]}, tokens, nil
		},
		status: func(loss, _ float64, m Metrics) string { return fmt.Sprintf("loss %.4f acc %.2f", loss, m["acc"]) },
	}
	if len(valGroups) > 0 {
		trainer.validate = validate
	}
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

	// Publish the best (or last) checkpoint, centred: the mean and std of
	// its reward on reference responses go to rlhf.json.
	final := bestOrLast(o.Out, lr.Last)
	fm, err := model.Load(final)
	if err != nil {
		return nil, err
	}
	var refs []infer.Encoded
	if len(refRows) > 0 {
		for _, r := range refRows {
			if e, ok := encodeConv(enc, r.History, r.Prompt, r.Response, false, nil); ok {
				refs = append(refs, e)
			}
		}
	} else {
		seen := map[[2]string]bool{}
		for _, r := range trainRows {
			if k := [2]string{r.History + "\x1f" + r.Prompt, r.Chosen}; !seen[k] {
				seen[k] = true
				if e, ok := encodeConv(enc, r.History, r.Prompt, r.Chosen, false, nil); ok {
					refs = append(refs, e)
				}
			}
		}
	}
	fs, err := infer.NewScorer(run.backend, fm)
	if err != nil {
		return nil, err
	}
	rewards, err := fs.RewardsOf(refs, 8)
	if err != nil {
		return nil, err
	}
	if err := collapsedRewards(refs, rewards, final, lr.Last, o.LR); err != nil {
		return nil, err
	}
	res.RewardMean, res.RewardStd = meanStd(rewards)
	fm.Meta.RewardMean, fm.Meta.RewardStd = res.RewardMean, res.RewardStd
	if fm.Meta.Extra == nil {
		fm.Meta.Extra = map[string]any{}
	}
	src := "chosen responses of --data"
	if len(refRows) > 0 {
		src = "reference responses of --sft-data"
	}
	fm.Meta.Extra["reward_normalization"] = fmt.Sprintf("mean/std of the raw reward over %d %s; use (r - reward_mean) / reward_std", len(refs), src)
	if err := fm.Save(o.Out); err != nil {
		return nil, err
	}
	res.Model = o.Out
	plots := []Plot{
		{File: "loss.png", Title: "reward-model loss", Keys: []string{"loss", "val_loss"}},
		{File: "accuracy.png", Title: "pairwise accuracy", Keys: []string{"acc", "val_acc"}},
		{File: "margin.png", Title: "reward margin (chosen - rejected)", Keys: []string{"margin", "val_margin"}},
	}
	plots = append(plots, taskAccuracyPlots(res.ValAccuracyByTask)...)
	finishPlots(o.Out, plots)
	if len(valGroups) == 0 {
		slog.Info("rm done", "steps", res.Steps, "val_acc", "none (no validation data: pass --val or a --data folder with val/)", "reward_mean", res.RewardMean, "reward_std", res.RewardStd, "model", o.Out, "from", final)
	} else {
		slog.Info("rm done", "steps", res.Steps, "val_acc", res.ValAccuracy, "reward_mean", res.RewardMean, "reward_std", res.RewardStd, "model", o.Out, "from", final)
	}
	return res, nil
}

func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

// pairwise is the last validation's loss, accuracy and margin of a
// trainer on comparisons (RM, DPO); NaN without validation.
func (r *loopResult) pairwise() (loss, acc, margin float64) {
	if r.Val == nil {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return r.Val["val_loss"], r.Val["val_acc"], r.Val["val_margin"]
}

// taskAccuracyPlots is the plot of validation accuracy per task, when
// there is more than none.
func taskAccuracyPlots(byTask map[string]float64) []Plot {
	var keys []string
	for t := range byTask {
		keys = append(keys, "val_acc/"+t)
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return []Plot{{File: "accuracy_by_task.png", Title: "validation accuracy per task", Keys: keys}}
}
