package bench

import (
	"context"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/rlhf-project/rlhf/model"
)

// MatmulResult is one matrix product of a shape's training step, timed on
// its own: `rlhf bench matmul` and scripts/matmul-compare.sh put it beside
// the same product in PyTorch (bench/torch_cpu.py --mode matmul).
type MatmulResult struct {
	Impl  string `json:"impl"` // "rlhf"
	Shape string `json:"shape"`
	Mode  string `json:"mode"` // "matmul"
	// Op names the weight and the product: "W fwd" (x·W), "W dx" (the
	// input's gradient) or "W dw" (the weight's gradient).
	Op      string  `json:"op"`
	Dims    [3]int  `json:"mkn"`      // M, K, N: the product is [M,K]·[K,N]
	Count   int     `json:"per_step"` // times per training step (layers)
	Seconds float64 `json:"seconds"`  // median of one product
	GFLOPs  float64 `json:"gflops"`   // 2·M·K·N / Seconds / 1e9
}

// stepMatrix is a weight matrix of a training step: in → out, count per step.
type stepMatrix struct {
	name           string
	in, out, count int
}

// matrices lists the weight matrices of shape s's blocks and LM head.
func (s Shape) matrices() ([]stepMatrix, error) {
	m, err := s.NewModel(1)
	if err != nil {
		return nil, err
	}
	c := m.Config
	H, I, L := c.Hidden, c.Intermediate, c.Layers
	if s.Arch == model.ArchGPT2 {
		return []stepMatrix{{"attn.c_attn", H, 3 * H, L}, {"attn.c_proj", H, H, L}, {"mlp.c_fc", H, I, L}, {"mlp.c_proj", I, H, L}, {"lm_head", H, c.VocabSize, 1}}, nil
	}
	kv := c.KVHeads
	if kv == 0 {
		kv = c.Heads
	}
	hd := H / c.Heads
	return []stepMatrix{{"q_proj", H, H, L}, {"k_proj+v_proj", H, kv * hd, 2 * L}, {"o_proj", H, H, L},
		{"gate_proj+up_proj", H, I, 2 * L}, {"down_proj", I, H, L}, {"lm_head", H, c.VocabSize, 1}}, nil
}

// Matmul times the matrix products of shape s's training step (Batch×Seq
// tokens) on backend, each in the form rlhf's graphs use: gpt2's Conv1D
// weights are [in, out], the others' (and every LM head) [out, in].
// Each product runs once untimed, then reps times; the median is kept.
func Matmul(ctx context.Context, backend compute.Backend, s Shape, reps int) ([]MatmulResult, error) {
	ms, err := s.matrices()
	if err != nil {
		return nil, err
	}
	if reps <= 0 {
		reps = 5
	}
	n := s.Batch * s.Seq
	var out []MatmulResult
	for _, mx := range ms {
		inOut := s.Arch == model.ArchGPT2 && mx.name != "lm_head" // W [in, out]
		wDims := []int{mx.out, mx.in}
		if inOut {
			wDims = []int{mx.in, mx.out}
		}
		// wAxis is W's axis of size in.
		wIn := 1
		if inOut {
			wIn = 0
		}
		wOut := 1 - wIn
		type product struct {
			op      string
			a, b    []int // operand dims
			fn      func(a, b *Node) *Node
			m, k, n int
		}
		ps := []product{
			{"fwd", []int{n, mx.in}, wDims, func(x, w *Node) *Node { return DotGeneral(x, []int{1}, nil, w, []int{wIn}, nil) }, n, mx.in, mx.out},
			{"dx", []int{n, mx.out}, wDims, func(dy, w *Node) *Node { return DotGeneral(dy, []int{1}, nil, w, []int{wOut}, nil) }, n, mx.out, mx.in},
			{"dw", []int{n, mx.out}, []int{n, mx.in}, func(dy, x *Node) *Node {
				if inOut {
					return DotGeneral(x, []int{0}, nil, dy, []int{0}, nil)
				}
				return DotGeneral(dy, []int{0}, nil, x, []int{0}, nil)
			}, mx.out, n, mx.in},
		}
		for _, p := range ps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			exec, err := NewExec(backend, p.fn)
			if err != nil {
				return nil, err
			}
			a := tensors.FromShape(shapes.Make(dtypes.Float32, p.a...))
			b := tensors.FromShape(shapes.Make(dtypes.Float32, p.b...))
			var times []float64
			for r := range reps + 1 {
				t0 := time.Now()
				res, err := exec.Exec(a, b)
				if err != nil {
					return nil, err
				}
				el := time.Since(t0).Seconds()
				res[0].FinalizeAll()
				if r > 0 {
					times = append(times, el)
				}
			}
			exec.Finalize()
			a.FinalizeAll()
			b.FinalizeAll()
			slices.Sort(times)
			med := times[len(times)/2]
			out = append(out, MatmulResult{Impl: "rlhf", Shape: s.Name, Mode: "matmul", Op: mx.name + " " + p.op,
				Dims: [3]int{p.m, p.k, p.n}, Count: mx.count, Seconds: med,
				GFLOPs: 2 * float64(p.m) * float64(p.k) * float64(p.n) / med / 1e9})
		}
	}
	return out, nil
}
