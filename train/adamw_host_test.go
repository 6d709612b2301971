package train

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// TestHostAdamWMatchesGraph: the go backend's host AdamW (one fused pass,
// in place) leaves the same weights, moments and counters as GoMLX's Adam in
// a graph with our decay and clipping, up to float rounding: over steps
// with and without clipping, with two accumulated micro-batches, and across
// a discarded NaN step. The weights are large enough (70k values) to be
// split between goroutines.
func TestHostAdamWMatchesGraph(t *testing.T) {
	backend, _ := NewBackend("go")
	if !hostUpdates(backend) {
		t.Fatal("the go backend does not run AdamW on the host")
	}
	const in, out, clip = 300, 233, 0.5
	initW := make([]float32, in*out)
	for i := range initW {
		initW[i] = float32(math.Sin(float64(i))) * 0.1
	}
	type run struct {
		store *gmodel.Store
		opt   *Optimizer
	}
	newRun := func(host bool) run {
		store := gmodel.NewStore()
		w, err := store.CreateVariable("/layer/w", tensors.FromFlatDataAndDimensions(append([]float32(nil), initW...), in, out))
		if err != nil {
			t.Fatal(err)
		}
		b, err := store.CreateVariable("/layer/b", tensors.FromValue(make([]float32, out)))
		if err != nil {
			t.Fatal(err)
		}
		loss := func(_ *gmodel.Scope, inputs []*Node) (*Node, []*Node) {
			g := inputs[0].Graph()
			y := Add(MatMul(inputs[0], w.NodeValue(g)), InsertAxes(b.NodeValue(g), 0))
			d := Sub(y, inputs[1])
			return ReduceAllMean(Square(d)), []*Node{ReduceAllSum(inputs[1])}
		}
		return run{store, newOptimizer(backend, store, loss, OptimizerConfig{WeightDecay: 0.1, ClipGrad: clip}, host)}
	}
	host, graph := newRun(true), newRun(false)
	if !host.opt.host || graph.opt.host {
		t.Fatal("newOptimizer ignored host")
	}
	batch := func(seed int, nan bool) (x, y *tensors.Tensor) {
		xs, ys := make([]float32, 4*in), make([]float32, 4*out)
		for i := range xs {
			xs[i] = float32(math.Cos(float64(i*seed + 1)))
		}
		for i := range ys {
			ys[i] = float32(math.Sin(float64(i+seed))) * float32(seed)
		}
		if nan {
			xs[5] = float32(math.NaN())
		}
		return tensors.FromFlatDataAndDimensions(xs, 4, in), tensors.FromFlatDataAndDimensions(ys, 4, out)
	}
	// micro-batches per step (seed, NaN) and the learning rate.
	steps := []struct {
		seeds []int
		nan   bool
		lr    float64
	}{
		{[]int{1}, false, 0.01},
		{[]int{2, 3}, false, 0.02},
		{[]int{4}, true, 0.02},
		{[]int{5}, false, 0.001},
		{[]int{6, 7}, false, 0.005},
	}
	clipped, unclipped := 0, 0
	for k, s := range steps {
		var results [2]StepResult
		for r, rr := range []run{host, graph} {
			for _, seed := range s.seeds {
				x, y := batch(seed, s.nan)
				res, err := rr.opt.Micro(x, y)
				if err != nil {
					t.Fatal(err)
				}
				want := float64(0)
				for _, v := range tensors.MustCopyFlatData[float32](y) {
					want += float64(v)
				}
				if len(res.Metrics) != 1 || math.Abs(res.Metrics[0]-want) > 1e-3*math.Max(1, math.Abs(want)) {
					t.Fatalf("step %d: metrics %v, want [%v]", k, res.Metrics, want)
				}
			}
			sr, err := rr.opt.Step(s.lr)
			if err != nil {
				t.Fatal(err)
			}
			results[r] = sr
		}
		h, g := results[0], results[1]
		if h.Applied != g.Applied || h.Applied == s.nan {
			t.Fatalf("step %d: applied host %v, graph %v (NaN %v)", k, h.Applied, g.Applied, s.nan)
		}
		if !s.nan && math.Abs(h.GradNorm-g.GradNorm) > 1e-5*g.GradNorm {
			t.Fatalf("step %d: grad norm host %v, graph %v", k, h.GradNorm, g.GradNorm)
		}
		if !s.nan && g.GradNorm > clip {
			clipped++
		} else if !s.nan {
			unclipped++
		}
	}
	if clipped == 0 || unclipped == 0 {
		t.Fatalf("%d steps clipped, %d not: the test should have both", clipped, unclipped)
	}
	// Weights and moments were copied into the optimizer's own tensors
	// once, then updated in place.
	if host.opt.hs.adopted != 6 {
		t.Fatalf("%d copies into in-place tensors, want 6 (w, b and their moments, once)", host.opt.hs.adopted)
	}
	compared := 0
	for v := range graph.store.IterVariables() {
		if !IsOptimizerState(v) && !v.Trainable {
			continue
		}
		hv := host.store.GetVariable(v.Path())
		if hv == nil {
			t.Fatalf("host store has no %s", v.Path())
		}
		gt, ht := v.MustValue(), hv.MustValue()
		if gt.DType() != ht.DType() || !gt.Shape().Equal(ht.Shape()) {
			t.Fatalf("%s: host %s, graph %s", v.Path(), ht.Shape(), gt.Shape())
		}
		switch gt.DType() {
		case dtypes.Float32:
			gv, hvv := tensors.MustCopyFlatData[float32](gt), tensors.MustCopyFlatData[float32](ht)
			var scale float64
			for _, x := range gv {
				scale = math.Max(scale, math.Abs(float64(x)))
			}
			for i := range gv {
				if d := math.Abs(float64(gv[i] - hvv[i])); d > 1e-5*scale+1e-12 {
					t.Fatalf("%s[%d]: host %v, graph %v (largest %v)", v.Path(), i, hvv[i], gv[i], scale)
				}
			}
		case dtypes.Int64:
			if a, b := tensors.ToScalar[int64](gt), tensors.ToScalar[int64](ht); a != b {
				t.Fatalf("%s: host %d, graph %d", v.Path(), b, a)
			}
		}
		compared++
	}
	// w, b, their two moments each, Adam's step, the global step, the learning rate.
	if compared != 9 {
		t.Fatalf("compared %d variables, want 9", compared)
	}
}
