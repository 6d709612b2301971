package train

import (
	"fmt"
	"math"
	"path"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// AdamW on the host, for the go backend.
//
// In a graph, the go backend runs AdamW as one pass over all parameters per
// element-wise op (about 20: scale, moments, debiasing, square root,
// division, decay, plus writing and zeroing the gradient accumulators), on
// one core. At the "mid" bench shape that was 30% of a training step. Its
// buffers live in host memory, shared with Go (compute's shared buffers),
// so here the update is one fused pass over weights, gradients and moments,
// split across all cores, in place: Micro's graph returns the gradients
// (no accumulator variables), Step clips and applies them.
//
// The state is the same store variables GoMLX's Adam keeps (moments under
// /AdamOptimizer, its step counter, the global step and the learning rate
// variable), so checkpoints and IsOptimizerState do not change. The update
// is the same float32 arithmetic as optimizer.Adam plus our decoupled
// weight decay (see the apply graph in NewOptimizer); results agree up to
// float rounding (TestHostAdamWMatchesGraph).

// hostUpdates reports whether the AdamW update runs on the host: on the go
// backend, whose buffers are host memory shared with Go.
func hostUpdates(backend compute.Backend) bool {
	return backend.String() == "go" && backend.HasSharedBuffers()
}

// hostState is what the host update keeps between Micro and Step.
type hostState struct {
	numMetrics int
	// grads are the gradients of the only pending micro-batch (the Micro
	// graph's outputs); acc their sum once a second one arrives.
	grads []*tensors.Tensor
	acc   [][]float32
	// accBuf is acc's memory, kept from one step to the next.
	accBuf [][]float32
	// owned maps the variables updated in place to the shared tensors this
	// optimizer created for them: a variable whose value is another tensor
	// (set by a checkpoint load, say) is copied into a new one first, so
	// that no tensor anyone else holds is ever changed.
	owned map[*model.Variable]*tensors.Tensor
	// adopted counts the copies inPlace made (once per variable unless
	// someone else sets it).
	adopted int
}

func (o *Optimizer) hostMicro(outs []*tensors.Tensor) (MicroResult, error) {
	nm := o.hs.numMetrics
	res := MicroResult{Loss: scalar(outs[0])}
	for _, t := range outs[1 : 1+nm] {
		res.Metrics = append(res.Metrics, scalar(t))
	}
	for _, t := range outs[:1+nm] {
		t.FinalizeAll()
	}
	grads := outs[1+nm:]
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		o.finite = false
	}
	if o.pending == 0 {
		o.hs.grads = grads
		o.pending++
		return res, nil
	}
	if o.hs.acc == nil {
		if len(o.hs.accBuf) != len(o.hs.grads) {
			o.hs.accBuf = make([][]float32, len(o.hs.grads))
		}
		for i, t := range o.hs.grads {
			g, err := flat32(t)
			if err != nil {
				return res, err
			}
			if len(o.hs.accBuf[i]) != len(g) {
				o.hs.accBuf[i] = make([]float32, len(g))
			}
			copy(o.hs.accBuf[i], g)
			t.FinalizeAll()
		}
		o.hs.acc, o.hs.grads = o.hs.accBuf, nil
	}
	add := make([][]float32, len(grads))
	for i, t := range grads {
		g, err := flat32(t)
		if err != nil {
			return res, err
		}
		add[i] = g
	}
	parallelChunks(o.hs.acc, func(i, lo, hi int) {
		addInto(o.hs.acc[i][lo:hi], add[i][lo:hi])
	})
	for _, t := range grads {
		t.FinalizeAll()
	}
	o.pending++
	return res, nil
}

// release drops the pending gradients.
func (h *hostState) release() {
	for _, t := range h.grads {
		t.FinalizeAll()
	}
	h.grads, h.acc = nil, nil
}

func (o *Optimizer) hostStep(lr float64) (StepResult, error) {
	defer o.hs.release()
	n := float64(o.pending)
	grads := o.hs.acc
	if grads == nil {
		grads = make([][]float32, len(o.hs.grads))
		for i, t := range o.hs.grads {
			g, err := flat32(t)
			if err != nil {
				return StepResult{}, err
			}
			grads[i] = g
		}
	}
	var mu sync.Mutex
	var normSq float64
	parallelChunks(grads, func(i, lo, hi int) {
		s := sumSquares(grads[i][lo:hi])
		mu.Lock()
		normSq += s
		mu.Unlock()
	})
	norm := math.Sqrt(normSq) / n
	res := StepResult{GradNorm: norm}
	finite := o.finite && !math.IsNaN(norm) && !math.IsInf(norm, 0)
	o.pending, o.finite = 0, true
	if !finite {
		return res, nil
	}
	scale := 1 / n
	if o.cfg.ClipGrad > 0 && norm > o.cfg.ClipGrad {
		scale *= o.cfg.ClipGrad / (norm + 1e-6)
	}
	if err := o.hostAdamW(lr, float32(scale), grads); err != nil {
		return res, err
	}
	res.Applied = true
	return res, nil
}

// hostAdamW applies AdamW to the trainables with gradients grads×scale.
func (o *Optimizer) hostAdamW(lr float64, scale float32, grads [][]float32) error {
	root := o.store.RootScope()
	// The counters and the learning rate, as optimizer.Adam keeps them.
	if err := optimizer.LearningRateVar(root, dtypes.Float32, lr).SetValue(tensors.FromScalar(float32(lr))); err != nil {
		return err
	}
	gs := optimizer.GetGlobalStepVar(o.store)
	gsT, err := gs.Value()
	if err != nil {
		return err
	}
	if err := gs.SetValue(tensors.FromScalar(tensors.ToScalar[int64](gsT) + 1)); err != nil {
		return err
	}
	stepVar := root.At("%s", AdamScope).WithInitializer(initializer.Zero).
		VariableWithShape("step", shapes.Make(dtypes.Float32)).SetTrainable(false)
	var step float32
	if stepVar.HasValue() {
		t, err := stepVar.Value()
		if err != nil {
			return err
		}
		step = tensors.ToScalar[float32](t)
	}
	step++
	if err := stepVar.SetValue(tensors.FromScalar(step)); err != nil {
		return err
	}

	b1, b2, eps := float32(o.cfg.Beta1), float32(o.cfg.Beta2), float32(o.cfg.Epsilon)
	d1 := 1 / (1 - float32(math.Pow(float64(b1), float64(step))))
	d2 := 1 / (1 - float32(math.Pow(float64(b2), float64(step))))
	lrf := float32(lr)
	decay := lrf * float32(o.cfg.WeightDecay)

	type param struct {
		w, m1, m2, g []float32
		decay        float32
	}
	params := make([]param, len(o.trainables))
	for i, v := range o.trainables {
		if v.DType() != dtypes.Float32 {
			return fmt.Errorf("train: AdamW on the host needs float32 weights, %s is %s", v.Path(), v.DType())
		}
		p := param{g: grads[i]}
		if p.w, err = o.inPlace(v); err != nil {
			return err
		}
		m1, m2 := adamMoments(o.store, v)
		if p.m1, err = o.inPlace(m1); err != nil {
			return err
		}
		if p.m2, err = o.inPlace(m2); err != nil {
			return err
		}
		if len(p.g) != len(p.w) || len(p.m1) != len(p.w) || len(p.m2) != len(p.w) {
			return fmt.Errorf("train: %s has %d values, its gradient %d and moments %d and %d", v.Path(), len(p.w), len(p.g), len(p.m1), len(p.m2))
		}
		if o.cfg.WeightDecay > 0 && v.Shape().Rank() >= 2 {
			p.decay = decay
		}
		params[i] = p
	}
	h := adamwHyper{scale: scale, b1: b1, c1: 1 - b1, b2: b2, c2: 1 - b2, lr: lrf, d1: d1, d2: d2, eps: eps}
	parallelChunks(grads, func(i, lo, hi int) {
		p, h := params[i], h
		h.decay = p.decay
		adamwChunk(h, p.w[lo:hi], p.m1[lo:hi], p.m2[lo:hi], p.g[lo:hi])
	})
	return nil
}

// adamMoments returns (creating them) the moment variables optimizer.Adam
// keeps for v.
func adamMoments(store *model.Store, v *model.Variable) (m1, m2 *model.Variable) {
	shape := v.Shape().Clone()
	shape.DType = dtypes.Float32
	s := store.Scope(path.Join("/", AdamScope, v.Scope())).WithInitializer(initializer.Zero)
	m1 = s.VariableWithShape(v.Name()+"_1st_moment", shape).SetTrainable(false)
	m2 = s.VariableWithShape(v.Name()+"_2nd_moment", shape).SetTrainable(false)
	return m1, m2
}

// inPlace returns v's float32 values in a shared tensor this optimizer owns,
// to be changed in place: the first time (or after someone else set v) it
// copies v's value (zeros when it has none) into a new one.
func (o *Optimizer) inPlace(v *model.Variable) ([]float32, error) {
	var cur *tensors.Tensor
	if v.HasValue() {
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		cur = t
	}
	if own, ok := o.hs.owned[v]; ok && own == cur {
		return flat32(own)
	}
	t, err := tensors.FromShapeForBackend(o.backend, 0, v.Shape())
	if err != nil {
		return nil, err
	}
	if !t.IsShared() {
		return nil, fmt.Errorf("train: backend %s gave no shared buffer for %s", o.backend, v.Path())
	}
	var dst []float32
	if err := t.MutableFlatData(func(f any) { dst, _ = f.([]float32) }); err != nil {
		return nil, err
	}
	if cur != nil {
		src, err := flat32(cur)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.Path(), err)
		}
		copy(dst, src)
	}
	if err := v.SetValue(t); err != nil {
		return nil, err
	}
	if o.hs.owned == nil {
		o.hs.owned = map[*model.Variable]*tensors.Tensor{}
	}
	o.hs.owned[v] = t
	o.hs.adopted++
	return dst, nil
}

// flat32 is a view of a float32 tensor's values (no copy on the go backend).
func flat32(t *tensors.Tensor) ([]float32, error) {
	var out []float32
	var ok bool
	if err := t.ConstFlatData(func(f any) { out, ok = f.([]float32) }); err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("train: tensor %s is not float32", t.Shape())
	}
	return out, nil
}

// hostChunk is how many values one task of parallelChunks covers.
const hostChunk = 1 << 15

// parallelChunks calls fn(i, lo, hi) over every chunk [lo, hi) of every
// slice in data, on GOMAXPROCS goroutines.
func parallelChunks(data [][]float32, fn func(i, lo, hi int)) {
	type task struct{ i, lo, hi int }
	var tasks []task
	for i, d := range data {
		for lo := 0; lo < len(d); lo += hostChunk {
			tasks = append(tasks, task{i, lo, min(lo+hostChunk, len(d))})
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(tasks))
	if workers <= 1 {
		for _, t := range tasks {
			fn(t.i, t.lo, t.hi)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(tasks) {
					return
				}
				t := tasks[k]
				fn(t.i, t.lo, t.hi)
			}
		})
	}
	wg.Wait()
}
