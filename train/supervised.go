package train

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
)

// supervised is what a supervised-style trainer (SFT, RM, and DPO next)
// gives the shared loop, runSupervised: its loss on a micro-batch, its
// validation, and how to save its model. The loop owns the rest:
// accumulation, the non-finite guard, logging, validation, checkpoints,
// resume and stop.
type supervised struct {
	// kind names the run ("sft", "rm") in the progress bar.
	kind string
	// opt trains the model's store with the trainer's LossFn.
	opt *Optimizer
	// micro runs forward and backward on the micro-batch of training items
	// idx (opt.Micro) and returns its loss, its extra metrics (averaged over
	// the accumulated micro-batches and logged, e.g. "acc") and its tokens.
	micro func(idx []int) (loss float64, metrics Metrics, tokens int, err error)
	// validate, when not nil, returns the validation metrics; "val_loss"
	// among them selects the best checkpoint (lowest).
	validate func() (Metrics, error)
	// status is the progress bar's status after a step.
	status func(loss, lr float64, metrics Metrics) string
	// saveModel writes the model(s) into a checkpoint folder.
	saveModel func(dir string) error
}

// loopResult is where the shared loop ended.
type loopResult struct {
	Steps   int     // optimizer updates done in total
	Loss    float64 // of the last update
	Val     Metrics // of the last validation (nil: none)
	Stopped bool    // stopped early (StopAfter)
	// Last is the newest checkpoint written.
	Last string
}

// runSupervised runs the training loop of a supervised-style trainer:
// GradAccum micro-batches, one update, log, validate, save, until the
// plan's total steps or StopAfter updates of this invocation. resumeFrom is
// the checkpoint the plan was restored from ("" for a fresh run).
func runSupervised(ctx context.Context, o *CommonOptions, stopAfter int, run *runPlan, t supervised, resumeFrom string) (*loopResult, error) {
	data, state := run.data, run.state
	guard := &Guard{Allowed: o.SkipNonFinite, Skipped: state.Skipped}
	log, err := OpenMetricsLog(o.Out, state.Step)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	ckpt := &checkpointer{last: resumeFrom}
	ckpt.save = func() (string, error) {
		state.Epoch, state.Batch, state.Skipped = data.epoch, data.index, guard.Skipped
		return SaveCheckpoint(o.Out, state.Step, t.saveModel, state, o.Keep, run.opt...)
	}

	res := &loopResult{}
	bar := progress.New(ctx, int64(run.total), t.kind+" steps")
	defer bar.Finish()
	bar.StartAt(int64(state.Step))
	var speed Throughput
	speed.Rate()
	startStep := state.Step
	for state.Step < run.total {
		if err := ctx.Err(); err != nil {
			return nil, ckpt.interrupted(err, "step", state.Step)
		}
		lr := run.sched.At(state.Step)
		var lossSum float64
		sums := Metrics{}
		tokens := 0
		for range o.GradAccum {
			loss, m, n, err := t.micro(data.next())
			if err != nil {
				return nil, err
			}
			lossSum += loss
			for k, v := range m {
				sums[k] += v
			}
			tokens += n
		}
		k := float64(o.GradAccum)
		loss := lossSum / k
		for key := range sums {
			sums[key] /= k
		}
		step, err := t.opt.Step(lr)
		if err != nil {
			return nil, err
		}
		if err := guard.Check(state.Step, step, loss, ckpt.last); err != nil {
			return nil, err
		}
		state.Step++
		state.Tokens += int64(tokens)
		speed.Add(tokens)
		bar.Add(1)
		bar.SetStatus(t.status(loss, lr, sums))
		res.Loss = loss
		if state.Step%o.LogEvery == 0 || state.Step == run.total {
			m := Metrics{"step": float64(state.Step), "loss": loss, "lr": lr, "grad_norm": step.GradNorm,
				"tokens_per_s": speed.Rate(), "epoch": float64(data.epoch), "tokens": float64(state.Tokens),
				"skipped_nonfinite": float64(guard.Skipped)}
			for key, v := range sums {
				m[key] = v
			}
			if err := log.Write(m); err != nil {
				return nil, err
			}
		}
		if step.Applied {
			if err := explodedLoss(o, state, trainingLoss, loss, ckpt.last); err != nil {
				return nil, err
			}
		}
		last := state.Step == run.total
		stop := stopAfter > 0 && state.Step-startStep >= stopAfter && !last
		if state.Step%run.evalEvery == 0 || last || stop {
			isBest := false
			if t.validate != nil && (state.Step%run.evalEvery == 0 || last) {
				mt, err := t.validate()
				if err != nil {
					return nil, err
				}
				res.Val = mt
				logValidation(state.Step, mt)
				mt["step"] = float64(state.Step)
				if err := log.Write(mt); err != nil {
					return nil, err
				}
				if v, ok := mt["val_loss"]; ok {
					if err := explodedLoss(o, state, "validation loss", v, ckpt.last); err != nil {
						return nil, err
					}
				}
				if v := mt["val_loss"]; state.BestStep == 0 || v < state.BestMetric {
					state.BestStep, state.BestMetric, isBest = state.Step, v, true
				}
			}
			if err := checkpointAt(ckpt.Save, o.Out, state, isBest); err != nil {
				return nil, err
			}
		}
		if stop {
			res.Steps, res.Stopped, res.Last = state.Step, true, ckpt.last
			return res, nil
		}
	}
	res.Steps, res.Last = state.Step, ckpt.last
	return res, nil
}

// trainingLoss names the training loss in explodedLoss; the first one of
// a run is the reference of its losses.
const trainingLoss = "training loss"

// explodedLoss returns the error of a diverged run when loss (what:
// trainingLoss or "validation loss", after update state.Step) is
// non-finite or above the limit of the run's losses (see ExplodeFactor);
// last is the newest checkpoint.
func explodedLoss(o *CommonOptions, state *TrainerState, what string, loss float64, last string) error {
	e := explosion{what: what, x: loss, refWhat: "the first training loss"}
	e.limit, e.ref = explosionLimit(state, "loss", loss, what == trainingLoss)
	if !e.exploded() {
		return nil
	}
	return e.error("step", state.Step, last, option.Errorf("lower {LR} (now %g), raise {Warmup} or keep {ClipGrad} on", o.LR))
}

// logValidation logs the overall validation metrics (not the per-task ones).
func logValidation(step int, mt Metrics) {
	args := []any{"step", step}
	keys := make([]string, 0, len(mt))
	for k := range mt {
		if !strings.Contains(k, "/") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, k, mt[k])
	}
	slog.Info("validation", args...)
}
