package train

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// CommonOptions are the flags every training command shares.
type CommonOptions struct {
	// Out is the output folder: final model, checkpoints/, metrics.jsonl, PNG plots.
	Out string
	// Epochs is the number of passes over the training data. Default 1.
	Epochs int
	// MaxSteps, when > 0, is the number of optimizer updates and overrides
	// Epochs (the data is cycled). Default 0.
	MaxSteps int
	// Seed fixes initialisation of new heads and the data order. Default 1.
	Seed uint64
	// LR is the peak learning rate. Default 1e-5.
	LR float64
	// MinLRRatio is the final learning rate as a fraction of LR after cosine
	// decay. Default 0.1 from the command line; the zero value decays to 0.
	MinLRRatio float64
	// Warmup is the number of linear warm-up steps. Default 0.
	Warmup int
	// BatchSize is the number of sequences (SFT) or comparison groups (RM)
	// per micro-batch. Default 8.
	BatchSize int
	// GradAccum is the number of micro-batches per optimizer update. Default 1.
	GradAccum int
	// MaxSeqLen is the maximum sequence length in tokens. Default (0):
	// min(DefaultMaxSeqLen, the model's context), as TRL does.
	MaxSeqLen int
	// Truncate is what to do with longer rows: "left" (cut the prompt's
	// start, then the response's end) or "drop". Default "left".
	Truncate string
	// WeightDecay is AdamW's decoupled weight decay. Default 0.
	WeightDecay float64
	// ClipGrad is the maximum global gradient norm (0: no clipping). Default 1.0.
	ClipGrad float64
	// EvalEvery is the number of steps between validations (and
	// checkpoints); 0 means once per epoch. Default 0.
	EvalEvery int
	// ValFrac is the share of the training prompts held out for validation
	// when the data has none (no Val and no val/ split): all rows of a
	// prompt (a comparison group) go to one side, chosen by a hash of the
	// prompt and Seed, so reruns hold out the same ones. 0: none. Default 0.
	ValFrac float64
	// LogEvery is the number of steps between metrics.jsonl lines. Default 1.
	LogEvery int
	// Keep is the number of newest checkpoints kept besides the best one
	// (0 keeps all). Default 2.
	Keep int
	// Resume continues from the newest checkpoint in Out.
	Resume bool
	// SkipNonFinite is how many updates with a NaN/Inf loss or gradient
	// may be skipped before the run stops. Default 0: stop at the first.
	SkipNonFinite int
	// DType is the compute dtype of weights and activations in the graphs:
	// "float32" (default) or "bfloat16" (GPU; the weights and optimizer
	// state stay float32, norms, softmax and log-probs run in float32).
	DType string
	// Backend is the compute backend ("go", "xla:cuda", ...; "" uses
	// $RLHF_BACKEND or "go").
	Backend string
	// Template overrides the checkpoint's prompt template ("{prompt}" marks the instruction).
	Template string
	// Encoding is the character encoding of JSONL data (default UTF-8,
	// where a line that is not valid UTF-8 is an error naming file and
	// line; or GBK, GB18030, Big5, decoded).
	Encoding dataset.Encoding
	// LoRA trains low-rank adapters instead of every weight (Rank > 0);
	// see LoRAOptions.
	LoRA LoRAOptions
	// GradCheckpoint recomputes each block's activations in the backward
	// pass instead of keeping them (less memory, ~1/3 more compute).
	GradCheckpoint bool
	// Base is the base model folder when the model to train from is a LoRA
	// adapter folder ("": the one its adapter_config.json names).
	Base string
}

// Defaults fills zero values with the documented defaults, where zero means
// "not set" (MinLRRatio, ClipGrad and Keep keep their zero meaning: decay
// to 0, no clipping, keep all).
func (o *CommonOptions) Defaults() { o.fill(1e-5) }

// fill is Defaults with the trainer's default learning rate.
func (o *CommonOptions) fill(lr float64) {
	if o.Epochs == 0 {
		o.Epochs = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.LR == 0 {
		o.LR = lr
	}
	if o.BatchSize == 0 {
		o.BatchSize = 8
	}
	if o.GradAccum == 0 {
		o.GradAccum = 1
	}
	if o.Truncate == "" {
		o.Truncate = infer.TruncateLeft
	}
	if o.LogEvery == 0 {
		o.LogEvery = 1
	}
	if o.DType == "" {
		o.DType = "float32"
	}
	o.LoRA.fill()
}

// commonDefaults are the options a command starts from: every default
// filled, and the defaults of the fields whose zero value means something
// (cosine decay to 10%, clipping at norm 1, keeping 2 checkpoints).
func commonDefaults(lr float64) CommonOptions {
	o := CommonOptions{MinLRRatio: 0.1, ClipGrad: 1, Keep: 2, LoRA: LoRADefaults()}
	o.fill(lr)
	return o
}

// Check validates the options (before anything is loaded).
func (o *CommonOptions) Check() error {
	switch {
	case o.Out == "":
		return option.Errorf("{Out}: no output folder given")
	case o.Epochs < 0:
		return option.Errorf("{Epochs} %d: want at least 1", o.Epochs)
	case o.MaxSteps < 0:
		return option.Errorf("{MaxSteps} %d: want 0 (use {Epochs}) or more", o.MaxSteps)
	case o.LR <= 0 || !finite(o.LR):
		return option.Errorf("{LR} %g: want a positive learning rate", o.LR)
	case o.MinLRRatio < 0 || o.MinLRRatio > 1:
		return option.Errorf("{MinLRRatio} %g: want a value in [0, 1]", o.MinLRRatio)
	case o.Warmup < 0:
		return option.Errorf("{Warmup} %d: want 0 or more steps", o.Warmup)
	case o.BatchSize < 1:
		return option.Errorf("{BatchSize} %d: want at least 1", o.BatchSize)
	case o.MaxSeqLen < 0:
		return option.Errorf("{MaxSeqLen} %d: want at least 2 (or 0: min(%d, the model's context))", o.MaxSeqLen, DefaultMaxSeqLen)
	case o.GradAccum < 1:
		return option.Errorf("{GradAccum} %d: want at least 1", o.GradAccum)
	case o.Truncate != infer.TruncateLeft && o.Truncate != infer.TruncateDrop:
		return option.Errorf("{Truncate} %q: want left or drop", o.Truncate)
	case o.WeightDecay < 0:
		return option.Errorf("{WeightDecay} %g: want 0 or more", o.WeightDecay)
	case o.ClipGrad < 0:
		return option.Errorf("{ClipGrad} %g: want 0 (off) or more", o.ClipGrad)
	case o.ValFrac < 0 || o.ValFrac >= 1:
		return option.Errorf("{ValFrac} %g: want a share in [0, 1)", o.ValFrac)
	case o.EvalEvery < 0 || o.LogEvery < 1 || o.Keep < 0 || o.SkipNonFinite < 0:
		return option.Errorf("{EvalEvery}, {LogEvery}, {Keep} and {SkipNonFinite} must not be negative")
	case model.CheckTemplate(o.Template) != nil:
		return option.Errorf("{Template} %q: want none, model (the tokenizer's chat template) or a text with {prompt}", o.Template)
	}
	return o.LoRA.check("LoRA")
}

// StartRun checks the output folder of a run of kind ("sft", "rm" or
// "ppo"): with Resume it returns the newest checkpoint to continue from (""
// if none yet, then the run starts fresh); without Resume it refuses an
// output folder that already holds checkpoints, so a finished or
// interrupted run is never overwritten by mistake. Out must be a missing or
// empty folder or an earlier run of the same kind (see RunDest), and differ
// from, not contain and not lie inside inputs (model and data folders).
// StartRun creates nothing: the run's first write creates Out, and
// WithOutput removes it again when the run fails before its first
// checkpoint.
func StartRun(kind string, o *CommonOptions, inputs ...string) (resumeFrom string, err error) {
	if err := RunDest(kind, o.Out, inputs...).Check(); err != nil {
		return "", option.Errorf("{Out}: %w", err)
	}
	latest, err := LatestCheckpoint(o.Out)
	if err != nil {
		return "", err
	}
	if latest != "" && !o.Resume {
		return "", option.Errorf("{Out} %s already holds checkpoints (newest %s): pass {Resume} to continue that run, or choose another {Out}", o.Out, latest)
	}
	return latest, nil
}

// RunDest is the destination of a training run of kind (see
// atomicfile.Dest): a missing or empty folder, or an earlier run of the
// same kind: a published model whose rlhf.json names the stage kind,
// checkpoints written by a run of that kind, or, for a run stopped before
// its first checkpoint, nothing but the metrics log, samples, plots and
// temporary files.
func RunDest(kind, out string, inputs ...string) atomicfile.Dest {
	return atomicfile.Dest{Path: out, What: kind + " output folder", Inputs: inputs,
		Ours: func(dir string) bool { return isRunOutput(dir, kind) }}
}

func isRunOutput(dir, kind string) bool {
	if raw, err := os.ReadFile(filepath.Join(dir, model.MetaFile)); err == nil {
		var meta struct {
			Stage string `json:"stage"`
		}
		return json.Unmarshal(raw, &meta) == nil && meta.Stage == kind
	}
	if latest, err := LatestCheckpoint(dir); err == nil && latest != "" {
		st, err := LoadTrainerState(latest)
		return err == nil && st.Kind == kind
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	metrics := false
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == MetricsFile || n == RefLogpsFile: // DPO checks its cache's own header
			metrics = true
		case n == SamplesFile || n == CheckpointsDir || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".png"):
		default:
			return false
		}
	}
	return metrics
}

// WithOutput runs a training run that writes into out and, when it fails
// without having written a checkpoint, removes what it created there: out
// itself (and the parent folders the run created) when it did not exist,
// else the entries that were not there before. A failed run thus leaves no
// trace; a run with checkpoints is kept, as it can be resumed.
func WithOutput[R any](out string, run func() (R, error)) (R, error) {
	created := atomicfile.Track(out)
	before := map[string]bool{}
	if entries, err := os.ReadDir(out); err == nil {
		for _, e := range entries {
			before[e.Name()] = true
		}
	}
	res, err := run()
	if err == nil {
		return res, nil
	}
	if steps, lerr := ListCheckpoints(out); lerr != nil || len(steps) > 0 {
		return res, err
	}
	if !created.Existed() {
		created.Undo()
		return res, err
	}
	if entries, lerr := os.ReadDir(out); lerr == nil {
		for _, e := range entries {
			if !before[e.Name()] {
				os.RemoveAll(filepath.Join(out, e.Name()))
			}
		}
	}
	return res, err
}

// Guard implements the divergence guard: it counts discarded updates and
// says when to stop.
type Guard struct {
	// Allowed is the number of non-finite updates that may be skipped.
	Allowed int
	// Skipped is the number skipped so far (restored from TrainerState).
	Skipped int
}

// Check is called after each update: nil when it was applied or may be
// skipped, an error explaining the stop otherwise.
func (g *Guard) Check(step int, res StepResult, loss float64, lastCheckpoint string) error {
	if res.Applied {
		return nil
	}
	g.Skipped++
	if g.Skipped <= g.Allowed {
		slog.Warn("skipped an update with a non-finite loss or gradient", "step", step+1, "loss", loss,
			"grad_norm", res.GradNorm, "skipped", g.Skipped, "allowed", g.Allowed)
		return nil
	}
	where := option.Errorf("no checkpoint was written yet")
	if lastCheckpoint != "" {
		where = option.Errorf("the last good checkpoint is %s (resume with {Resume})", lastCheckpoint)
	}
	return option.Errorf("training diverged at step %d: loss %v, gradient norm %v (non-finite); the update was not applied and %s; lower {LR}, raise {Warmup}, keep {ClipGrad} on, or allow skipping bad batches with {SkipNonFinite} N",
		step+1, loss, res.GradNorm, where)
}

// NewBackend selects the compute backend (see model.NewBackend).
func NewBackend(spec string) (compute.Backend, error) {
	b, err := model.NewBackend(spec)
	if err != nil {
		return nil, option.Errorf("{Backend}: %w", err)
	}
	return b, nil
}

// Throughput measures tokens per second between logging steps.
type Throughput struct {
	last   time.Time
	tokens int64
}

// Add counts tokens processed.
func (t *Throughput) Add(n int) { t.tokens += int64(n) }

// Rate returns tokens/s since the previous call and resets.
func (t *Throughput) Rate() float64 {
	now := time.Now()
	if t.last.IsZero() {
		t.last = now
		return math.NaN()
	}
	r := float64(t.tokens) / now.Sub(t.last).Seconds()
	t.last, t.tokens = now, 0
	return r
}

// finishPlots draws the plots of a run and logs where they are.
func finishPlots(out string, plots []Plot) {
	files, err := PlotMetrics(out, plots)
	if err != nil {
		slog.Warn("could not draw plots", "err", err)
		return
	}
	for _, f := range files {
		slog.Info("plot", "file", filepath.Base(f))
	}
}

// runPlan is what SFT and RM runs share before their first step: the data
// position, the step schedule, the backend and the trainer state (fresh, or
// loaded from the checkpoint being resumed).
type runPlan struct {
	data      *loader
	total     int // optimizer updates of the whole run
	evalEvery int
	sched     Schedule
	backend   compute.Backend
	opt       []NamedStore
	state     *TrainerState
}

// planRun sizes a run of kind ("sft" or "rm") over n training items and,
// when resumeFrom is a checkpoint, restores its state and data position.
func planRun(kind string, o *CommonOptions, n int, store *gmodel.Store, resumeFrom string) (*runPlan, error) {
	p := &runPlan{data: &loader{n: n, batch: o.BatchSize, seed: o.Seed}}
	stepsPerEpoch := (p.data.batchesPerEpoch() + o.GradAccum - 1) / o.GradAccum
	p.total = o.Epochs * stepsPerEpoch
	if o.MaxSteps > 0 {
		p.total = o.MaxSteps
	}
	p.evalEvery = o.EvalEvery
	if p.evalEvery == 0 {
		p.evalEvery = stepsPerEpoch
	}
	p.sched = Schedule{Peak: o.LR, Warmup: o.Warmup, Total: p.total, MinRatio: o.MinLRRatio}
	var err error
	if p.backend, err = NewBackend(o.Backend); err != nil {
		return nil, err
	}
	p.opt = []NamedStore{{Name: "optimizer", Store: store}}
	p.state = &TrainerState{Kind: kind, TotalSteps: p.total, Seed: o.Seed}
	if resumeFrom == "" {
		return p, nil
	}
	if p.state, err = LoadTrainerState(resumeFrom, p.opt...); err != nil {
		return nil, err
	}
	if p.state.Kind != kind {
		return nil, option.Errorf("{Resume}: %s holds a %q run, not %s", resumeFrom, p.state.Kind, kind)
	}
	slog.Info("resuming", "from", resumeFrom, "step", p.state.Step, "epoch", p.state.Epoch)
	if p.state.TotalSteps != p.total || p.state.Seed != o.Seed {
		slog.Warn("resumed with other --max-steps/--epochs/--batch-size/--seed than the interrupted run: the schedule or data order changes",
			"steps_then", p.state.TotalSteps, "steps_now", p.total, "seed_then", p.state.Seed, "seed_now", o.Seed)
		p.state.TotalSteps, p.state.Seed = p.total, o.Seed
	}
	p.data.epoch, p.data.index = p.state.Epoch, p.state.Batch
	return p, nil
}

// checkpointer saves a run's checkpoints and remembers the directory of the
// last one (for messages and for publishing the model).
type checkpointer struct {
	save func() (string, error) // records the state and writes a checkpoint
	last string
}

// Save writes a checkpoint.
func (c *checkpointer) Save() error {
	dir, err := c.save()
	if err == nil {
		c.last = dir
	}
	return err
}

// interrupted saves a checkpoint after the run's context ended with err
// and returns the error that says where to resume; unit names the step
// ("step", "iteration").
func (c *checkpointer) interrupted(err error, unit string, step int) error {
	if cerr := c.Save(); cerr != nil {
		return fmt.Errorf("%w (and saving a checkpoint failed: %v)", err, cerr)
	}
	return option.Errorf("interrupted at %s %d, checkpoint %s written (continue with {Resume}): %w", unit, step, c.last, err)
}

// checkpointAt writes a checkpoint with save and, when it holds the best
// validation metric so far, marks it as the best one.
func checkpointAt(save func() error, out string, state *TrainerState, isBest bool) error {
	if err := save(); err != nil {
		return err
	}
	if isBest {
		return MarkBest(out, state.Step, state.BestMetric)
	}
	return nil
}

// bestOrLast is the checkpoint to publish at the end of a run: the best one
// by validation metric, or the last one when nothing was validated.
func bestOrLast(out, last string) string {
	if best := BestCheckpoint(out); best != "" {
		return best
	}
	return last
}
