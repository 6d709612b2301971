package train

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// OptimizerConfig configures the AdamW update shared by SFT, RM and PPO.
type OptimizerConfig struct {
	// WeightDecay is AdamW's decoupled weight decay (per step, scaled by the
	// learning rate: w -= lr·wd·w), applied to weight matrices and embeddings
	// (rank ≥ 2), not to biases and norm scales. Default 0.
	WeightDecay float64
	// ClipGrad is the maximum global L2 norm of the gradient (after
	// averaging over accumulated micro-batches); larger gradients are scaled
	// down to it. 0 disables clipping. Default 1.0 in the commands.
	ClipGrad float64
	// Beta1, Beta2 and Epsilon are Adam's moment decays and denominator
	// constant. Zero values mean 0.9, 0.999 and 1e-8.
	Beta1, Beta2, Epsilon float64
}

// LossFn builds the graph of one micro-batch's loss. inputs are the tensors
// given to Optimizer.Micro, in order. It returns the scalar loss to minimise
// and any number of scalar metrics to report (e.g. the number of tokens).
type LossFn func(scope *model.Scope, inputs []*graph.Node) (loss *graph.Node, metrics []*graph.Node)

// Optimizer runs training steps over the trainable variables of a
// model.Store: Micro computes a micro-batch's loss and adds its gradient to
// accumulators; Step (after one or more Micro calls) averages them, clips by
// global norm, checks that loss and gradient are finite and applies GoMLX's
// AdamW with the given learning rate, or discards them when they are not.
//
// Gradients are accumulated in variables under the "/acc_grads" scope (one
// extra copy of the trainable weights), so that a non-finite gradient is
// detected before any weight or optimizer moment changes. On the go
// backend the update runs on the host instead (adamw_host.go): Micro's graph
// returns the gradients, a second micro-batch's are summed into host
// buffers, and Step applies AdamW in place in one parallel pass, with the
// same store variables and the same result up to float rounding.
type Optimizer struct {
	backend compute.Backend
	store   *model.Store
	cfg     OptimizerConfig
	adam    optimizer.Interface

	micro, apply, discard *model.Exec

	// trainables are the variables the loss trains, in store order: known
	// only once the LossFn's graph is built, so the first Micro graph build
	// records them; apply and discard, built at the first Step (always
	// after a Micro), read them, and every later Micro graph (another input
	// shape) must train the same ones.
	trainables []*model.Variable
	pending    int  // micro-batches accumulated since the last Step
	finite     bool // all pending losses were finite
	lastNormSq float64

	// host is set when the AdamW update runs in Go on the host (see
	// adamw_host.go) rather than in a graph: Micro's graph returns the
	// gradients, which Step applies in place in one parallel pass.
	host bool
	hs   hostState
}

// AccGradsScope is the scope of the gradient accumulators (not checkpointed).
const AccGradsScope = "/acc_grads"

// AdamScope is the scope under which AdamW keeps its moments and step.
const AdamScope = "AdamOptimizer"

// NewOptimizer prepares the training executables of lossFn over store.
func NewOptimizer(backend compute.Backend, store *model.Store, lossFn LossFn, cfg OptimizerConfig) *Optimizer {
	return newOptimizer(backend, store, lossFn, cfg, hostUpdates(backend))
}

// newOptimizer is NewOptimizer with the choice of where AdamW runs: on the
// host (host true; the go backend only) or in a graph.
func newOptimizer(backend compute.Backend, store *model.Store, lossFn LossFn, cfg OptimizerConfig, host bool) *Optimizer {
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Epsilon == 0 {
		cfg.Epsilon = 1e-8
	}
	o := &Optimizer{backend: backend, store: store, cfg: cfg, finite: true, host: host}
	// Weight decay is applied by us (matrices only), not by GoMLX's Adam,
	// whose decay covers every variable.
	o.adam = optimizer.Adam().Scope(AdamScope).Betas(cfg.Beta1, cfg.Beta2).Epsilon(cfg.Epsilon).
		DType(dtypes.Float32).Done()

	o.micro = model.MustNewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		g := inputs[0].Graph()
		store.SetTraining(g, true)
		loss, metrics := lossFn(scope, inputs)
		grads := scope.BuildTrainableVariablesGradientsGraph(loss)
		var trainables []*model.Variable
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				trainables = append(trainables, v)
			}
		}
		if len(trainables) != len(grads) {
			panic(fmt.Sprintf("train: %d gradients for %d trainable variables", len(grads), len(trainables)))
		}
		if o.trainables == nil {
			o.trainables = trainables
		} else if !slices.Equal(o.trainables, trainables) {
			panic(fmt.Sprintf("train: a micro-batch graph trains %d variables, the first one trained %d: the LossFn must use the same weights for every input shape", len(trainables), len(o.trainables)))
		}
		if o.host {
			// Loss, metrics, then the float32 gradients, which Step
			// applies on the host.
			out := []*graph.Node{graph.ConvertDType(loss, dtypes.Float32)}
			for _, m := range metrics {
				out = append(out, graph.ConvertDType(m, dtypes.Float32))
			}
			o.hs.numMetrics = len(metrics)
			for _, grad := range grads {
				if grad.DType() != dtypes.Float32 {
					grad = graph.ConvertDType(grad, dtypes.Float32)
				}
				out = append(out, grad)
			}
			return out
		}
		normSq := graph.ScalarZero(g, dtypes.Float32)
		for i, v := range trainables {
			acc := accumulator(store, v)
			grad := grads[i]
			if grad.DType() != dtypes.Float32 {
				grad = graph.ConvertDType(grad, dtypes.Float32)
			}
			sum := graph.Add(acc.NodeValue(g), grad)
			acc.SetNodeValue(sum)
			normSq = graph.Add(normSq, graph.ReduceAllSum(graph.Square(sum)))
		}
		out := []*graph.Node{graph.ConvertDType(loss, dtypes.Float32), normSq}
		for _, m := range metrics {
			out = append(out, graph.ConvertDType(m, dtypes.Float32))
		}
		return out
	}).SetMaxCache(64)

	// apply: inputs are the learning rate and the factor the accumulated
	// gradient is multiplied by (1/micro-batches × clipping factor).
	o.apply = model.MustNewExec(backend, store, func(scope *model.Scope, lr, scale *graph.Node) *graph.Node {
		g := lr.Graph()
		store.SetTraining(g, true)
		inSet := make(map[*model.Variable]bool, len(o.trainables))
		for _, v := range o.trainables {
			inSet[v] = true
		}
		// Gradients in the order AdamW iterates variables: store order,
		// trainable and in use by this graph.
		var grads []*graph.Node
		for v := range scope.IterVariables() {
			if !inSet[v] {
				continue
			}
			v.NodeValue(g) // marks it in use
			acc := accumulator(store, v)
			grads = append(grads, graph.Mul(acc.NodeValue(g), scale))
			acc.SetNodeValue(graph.ZerosLike(acc.NodeValue(g)))
		}
		optimizer.LearningRateVar(scope, dtypes.Float32, 0).SetNodeValue(lr)
		// Decoupled weight decay on matrices only (as nanoGPT and HF do:
		// biases and norm scales are not decayed): w -= lr·wd·w_old.
		var decayed []*model.Variable
		var before []*graph.Node
		if o.cfg.WeightDecay > 0 {
			for _, v := range o.trainables {
				if v.Shape().Rank() >= 2 {
					decayed = append(decayed, v)
					before = append(before, v.NodeValue(g))
				}
			}
		}
		o.adam.(gtrain.OptimizeWithGradients).UpdateGraphWithGradients(scope, grads, dtypes.Float32)
		for i, v := range decayed {
			decay := graph.Mul(graph.MulScalar(lr, o.cfg.WeightDecay), graph.ConvertDType(before[i], dtypes.Float32))
			v.SetNodeValue(graph.Sub(v.NodeValue(g), graph.ConvertDType(decay, v.DType())))
		}
		return lr
	})

	o.discard = model.MustNewExec(backend, store, func(scope *model.Scope, g *graph.Graph) *graph.Node {
		for _, v := range o.trainables {
			acc := accumulator(store, v)
			acc.SetNodeValue(graph.ZerosLike(acc.NodeValue(g)))
		}
		return graph.ScalarZero(g, dtypes.Float32)
	})
	return o
}

// accumulator returns (creating it at zero) the gradient accumulator of v.
func accumulator(store *model.Store, v *model.Variable) *model.Variable {
	shape := v.Shape().Clone()
	shape.DType = dtypes.Float32
	return store.Scope(path.Join(AccGradsScope, v.Scope())).WithInitializer(initializer.Zero).
		VariableWithShape(v.Name(), shape).SetTrainable(false)
}

// MicroResult is what one micro-batch reports.
type MicroResult struct {
	// Loss is the micro-batch's loss.
	Loss float64
	// Metrics are the extra scalars returned by the LossFn, in order.
	Metrics []float64
}

// Micro runs forward and backward on one micro-batch and accumulates its
// gradient. inputs are passed to the LossFn (tensors or Go slices).
func (o *Optimizer) Micro(inputs ...any) (MicroResult, error) {
	outs, err := o.micro.Exec(inputs...)
	if err != nil {
		return MicroResult{}, err
	}
	if o.host {
		return o.hostMicro(outs)
	}
	res := MicroResult{Loss: scalar(outs[0])}
	o.lastNormSq = scalar(outs[1])
	for _, t := range outs[2:] {
		res.Metrics = append(res.Metrics, scalar(t))
	}
	for _, t := range outs {
		t.FinalizeAll()
	}
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		o.finite = false
	}
	o.pending++
	return res, nil
}

// StepResult reports one optimizer update.
type StepResult struct {
	// GradNorm is the global L2 norm of the averaged gradient, before
	// clipping.
	GradNorm float64
	// Applied is false when the loss or the gradient was NaN or Inf: the
	// update was discarded and no weight or moment changed.
	Applied bool
}

// Step applies the gradient accumulated by the Micro calls since the last
// Step, averaged over them, with learning rate lr.
func (o *Optimizer) Step(lr float64) (StepResult, error) {
	if o.pending == 0 {
		return StepResult{}, fmt.Errorf("train: Step without any Micro call")
	}
	if o.host {
		return o.hostStep(lr)
	}
	n := float64(o.pending)
	norm := math.Sqrt(o.lastNormSq) / n
	res := StepResult{GradNorm: norm}
	finite := o.finite && !math.IsNaN(norm) && !math.IsInf(norm, 0)
	o.pending, o.finite = 0, true
	if !finite {
		_, err := o.discard.Exec()
		return res, err
	}
	scale := 1 / n
	if o.cfg.ClipGrad > 0 && norm > o.cfg.ClipGrad {
		scale *= o.cfg.ClipGrad / (norm + 1e-6)
	}
	outs, err := o.apply.Exec(float32(lr), float32(scale))
	if err != nil {
		return res, err
	}
	for _, t := range outs {
		t.FinalizeAll()
	}
	res.Applied = true
	return res, nil
}

// IsOptimizerState reports whether a store variable is optimizer state to
// checkpoint in trainer_state/ (AdamW moments and counters, the learning
// rate variable, the global step) rather than model weights or scratch.
func IsOptimizerState(v *model.Variable) bool {
	p := v.Path()
	return strings.HasPrefix(p, "/"+AdamScope+"/") || strings.HasPrefix(p, "/"+optimizer.Scope+"/") ||
		p == "/"+optimizer.GlobalStepVariableName
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	case int32:
		return float64(v)
	case int64:
		return float64(v)
	}
	panic(fmt.Sprintf("train: unexpected output %s", t.Shape()))
}
