package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like math
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// SFTOptions configure `rlhf sft`.
type SFTOptions struct {
	CommonOptions
	// Model is the folder of the model to fine-tune (HF layout with tokenizer.json).
	Model string
	// Data is an sft dataset: a folder with train/ and val/ splits, one
	// dataset folder, or a .parquet/.jsonl file.
	Data string
	// Val overrides the validation data (default: Data's val/ split).
	Val string
	// Pack concatenates several examples per row (fewer padding tokens;
	// examples in one row can attend to each other). Default false.
	Pack bool
	// StopAfter, when > 0, stops after this many updates of this
	// invocation, with a checkpoint, as an interruption would (for
	// time-boxed jobs; --resume continues). Default 0.
	StopAfter int
}

// SFTDefaults are the options `rlhf sft` starts from (learning rate 1e-5).
func SFTDefaults() SFTOptions { return SFTOptions{CommonOptions: commonDefaults(1e-5)} }

// SFTResult summarises a run.
type SFTResult struct {
	// Steps is the number of updates done in total; Loss the mean training
	// loss of the last logged step; ValLoss the last validation loss (NaN
	// without validation data).
	Steps         int
	Loss, ValLoss float64
	// Model is the folder of the final model (Out): the best checkpoint by
	// validation loss, or the last one without validation data.
	Model string
	// Truncation reports what --truncate did to the training rows.
	Truncation infer.TruncStats
	// Stopped is true when the run stopped before its last step (StopAfter
	// or cancellation), leaving a checkpoint to resume.
	Stopped bool
}

// SFTLoss is the masked next-token loss: mean over response targets.
// inputs: tokens, mask, targets [B,T] int32 and weights [B,T] float32.
func SFTLoss(m *model.Model) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		sum, n := sftNLL(m, in[0], in[1], in[2], in[3])
		return Div(sum, Max(n, OnesLike(n))), []*Node{n}
	}
}

// sftNLL returns the summed negative log-likelihood of the weighted targets
// and the sum of the weights.
func sftNLL(m *model.Model, tokens, mask, targets, weights *Node) (sum, n *Node) {
	logits, _ := m.Forward(tokens, mask)
	lp := model.TokenLogProbs(logits, targets) // [B,T]
	w := ConvertDType(weights, dtypes.Float32)
	return Neg(ReduceAllSum(Mul(lp, w))), ReduceAllSum(w)
}

// loader walks batches of n items epoch after epoch, in EpochOrder.
type loader struct {
	n, batch     int
	seed         uint64
	epoch, index int // position: next batch is batch number index of epoch
	order        []int
}

func (l *loader) batchesPerEpoch() int { return (l.n + l.batch - 1) / l.batch }

// next returns the item indices of the next batch and advances.
func (l *loader) next() []int {
	if l.index >= l.batchesPerEpoch() {
		l.epoch, l.index, l.order = l.epoch+1, 0, nil
	}
	if l.order == nil {
		l.order = EpochOrder(l.n, l.seed, l.epoch)
	}
	lo := l.index * l.batch
	hi := min(lo+l.batch, l.n)
	l.index++
	return l.order[lo:hi]
}

// RunSFT fine-tunes a model on demonstrations: teacher forcing on
// template(prompt) + response + EOS with the loss on response tokens only.
func RunSFT(ctx context.Context, o SFTOptions) (*SFTResult, error) {
	return WithOutput(o.Out, func() (*SFTResult, error) { return runSFT(ctx, o) })
}

func runSFT(ctx context.Context, o SFTOptions) (*SFTResult, error) {
	o.Defaults()
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.Model == "" {
		return nil, option.Errorf("{Model}: no model folder given")
	}
	// 1. Data and model, every refusal before any compute.
	trainRows, valRows, err := readTrainVal[dataset.SFT](o.Data, o.Val, o.CommonOptions)
	if err != nil {
		return nil, err
	}
	resumeFrom, err := StartRun("sft", &o.CommonOptions, o.Model, o.Data, o.Val)
	if err != nil {
		return nil, err
	}
	m, tok, saver, err := loadTrainee(&o.CommonOptions, o.Model, o.Base, resumeFrom, func(m *model.Model, dir string) error {
		if !m.HasLMHead {
			return option.Errorf("{Model} %s: the checkpoint has no language-model head (it is a reward model); SFT needs a causal LM", dir)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 2. Tokenise.
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: o.MaxSeqLen, Truncate: o.Truncate}
	var stats infer.TruncStats
	seqs := encodeSFT(enc, trainRows, &stats)
	if stats.PromptTruncated+stats.ResponseTruncated+stats.Dropped > 0 {
		slog.Warn("rows longer than --max-seq-len", "max_seq_len", o.MaxSeqLen, "truncate", o.Truncate, "stats", stats.String())
	}
	if len(seqs) == 0 {
		return nil, option.Errorf("{Data} %s: every row is longer than {MaxSeqLen} %d and {Truncate} drop dropped them all", o.Data, o.MaxSeqLen)
	}
	if o.Pack {
		seqs = Pack(seqs, o.MaxSeqLen)
	}
	valSeqs := encodeSFT(enc, valRows, nil)

	// 3. Schedule and state.
	run, err := planRun("sft", &o.CommonOptions, len(seqs), m.Store, resumeFrom)
	if err != nil {
		return nil, err
	}
	if resumeFrom == "" {
		m.Meta.Stage = "sft"
		m.Meta.BaseModel = o.Model
	}

	// 4. Executables: the optimizer's train step and the validation pass.
	optim := NewOptimizer(run.backend, m.Store, SFTLoss(m), OptimizerConfig{WeightDecay: o.WeightDecay, ClipGrad: o.ClipGrad})
	evalExec := gmodel.MustNewExec(run.backend, m.Store, func(_ *gmodel.Scope, tokens, mask, targets, weights *Node) (*Node, *Node) {
		return sftNLL(m, tokens, mask, targets, weights)
	})
	trainer := supervised{kind: "sft", opt: optim, saveModel: saver.save,
		micro: func(idx []int) (float64, Metrics, int, error) {
			batch := make([]infer.Encoded, len(idx))
			for i, j := range idx {
				batch[i] = seqs[j]
			}
			b := MakeBatch(batch, o.BatchSize, o.MaxSeqLen, tok.PAD())
			r, err := optim.Micro(SFTInputs(b)...)
			return r.Loss, nil, b.NumTokens, err
		},
		status: func(loss, lr float64, _ Metrics) string { return fmt.Sprintf("loss %.4f lr %.2e", loss, lr) },
	}
	if len(valSeqs) > 0 {
		trainer.validate = func() (Metrics, error) {
			var sum, n float64
			for lo := 0; lo < len(valSeqs); lo += o.BatchSize {
				b := MakeBatch(valSeqs[lo:min(lo+o.BatchSize, len(valSeqs))], o.BatchSize, o.MaxSeqLen, tok.PAD())
				s, c, err := evalExec.Call2(SFTInputs(b)...)
				if err != nil {
					return nil, err
				}
				sum += scalar(s)
				n += scalar(c)
			}
			v := sum / math.Max(n, 1)
			return Metrics{"val_loss": v, "val_ppl": math.Exp(v)}, nil
		}
	}

	// 5. The loop: GradAccum micro-batches, one update, log, evaluate, save.
	lr, err := runSupervised(ctx, &o.CommonOptions, o.StopAfter, run, trainer, resumeFrom)
	if err != nil {
		return nil, err
	}
	res := &SFTResult{ValLoss: math.NaN(), Truncation: stats, Loss: lr.Loss, Steps: lr.Steps}
	if lr.Val != nil {
		res.ValLoss = lr.Val["val_loss"]
	}
	if lr.Stopped {
		res.Stopped, res.Model = true, lr.Last
		return res, nil
	}

	// 6. Publish the final model at the top of Out: the best checkpoint by
	// validation loss, or the last one.
	final := bestOrLast(o.Out, lr.Last)
	if err := publishModel(final, o.Out); err != nil {
		return nil, err
	}
	res.Model = o.Out
	finishPlots(o.Out, []Plot{
		{File: "loss.png", Title: "SFT loss (response tokens)", Keys: []string{"loss", "val_loss"}},
		{File: "lr.png", Title: "learning rate", Keys: []string{"lr"}},
		{File: "grad_norm.png", Title: "gradient norm (before clipping)", Keys: []string{"grad_norm"}},
	})
	var val any = res.ValLoss
	if len(valSeqs) == 0 {
		val = "none (no validation data: pass --val or a --data folder with val/)"
	}
	slog.Info("sft done", "steps", res.Steps, "loss", res.Loss, "val_loss", val, "model", o.Out, "from", final)
	return res, nil
}

// SFTInputs are the tensors of b in the order SFTLoss takes them.
func SFTInputs(b Batch) []any {
	return []any{
		tensorOf(b.Tokens, b.B, b.T), tensorOf(b.Mask, b.B, b.T),
		tensorOf(b.Targets, b.B, b.T), tensorOf(b.Weights, b.B, b.T),
	}
}

// publishModel copies the model files of checkpoint ckpt (not its
// trainer_state) into out, each file atomically, so out is a model folder
// the next stage can load.
func publishModel(ckpt, out string) error {
	entries, err := os.ReadDir(ckpt)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(ckpt, e.Name()))
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(out, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// encodeSFT encodes demonstrations for teacher forcing: each row's
// conversation, the loss on every assistant turn (its history's and the
// final answer), as TRL's assistant_only_loss. Rows the truncation policy
// drops are left out.
func encodeSFT(enc *infer.Encoder, rows []dataset.SFT, stats *infer.TruncStats) []infer.Encoded {
	seqs := make([]infer.Encoded, 0, len(rows))
	for _, r := range rows {
		if e, ok := encodeConv(enc, r.History, r.Prompt, r.Response, true, stats); ok {
			seqs = append(seqs, e)
		}
	}
	return seqs
}
