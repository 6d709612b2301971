package model

// Engine regression tests: a GoMLX Exec must read a variable's current
// value at every call, whether the variable was changed by that Exec's own
// graph or by another Exec.
//
// Bug guarded against: github.com/gomlx/compute v0.1.14 (pulled in by
// github.com/gomlx/gomlx v0.28.16) makes its pure-Go backend advertise
// Capabilities.PreferConstantsForVariables. GoMLX's Variable then embeds the
// variable's value as a graph constant in every graph not marked as
// training (Store.SetTraining), and the compiled graph is cached by the
// Exec, so each later call keeps reading the value the variable had when
// the graph was first built. With x = [1 2 3] and a graph x <- 0.8·x
// returning sum(x²) of the value read, three calls return 14, 14, 14
// (instead of 14, 8.96, 5.7344) and x stays [0.8 1.6 2.4]; an optimizer
// step in a graph not marked as training repeats the first step forever;
// and inference graphs (Decoder, PPO rollout, scoring and eval execs, none
// marked as training) would keep using the weights of their first call
// after the trainer updated them. This module pins gomlx v0.28.14 with
// compute v0.1.12, where these tests pass.
//
// Any GoMLX / compute upgrade must keep TestEngineVariableUpdatesPersist and
// TestEngineAdamUpdatesPersist passing, on NewBackend("go") (the config the
// project uses, "go:ops_sequential") and on the go backend's default config.

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

type engineBackend struct {
	name    string
	backend compute.Backend
}

// engineBackends returns the backends the engine tests run on: the one the
// rest of the package's tests use (NewBackend("go") = "go:ops_sequential")
// and the pure-Go backend with its default configuration.
func engineBackends(t *testing.T) []engineBackend {
	t.Helper()
	def, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatalf("go backend with its default config: %v", err)
	}
	t.Cleanup(def.Finalize)
	return []engineBackend{{"NewBackend(go)", testBackend()}, {"go(default)", def}}
}

func engineVarValue(t *testing.T, v *gmodel.Variable) []float32 {
	t.Helper()
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), val.Value().([]float32)...)
}

// engineSumSq returns a read-only Exec (not training) computing sum(x²) of
// x's current value, as inference graphs (Decoder, rollouts) read weights.
func engineSumSq(t *testing.T, backend compute.Backend, store *gmodel.Store, x *gmodel.Variable) func() float64 {
	exec := gmodel.MustNewExec(backend, store, func(_ *gmodel.Scope, g *Graph) *Node {
		return ReduceAllSum(Square(x.NodeValue(g)))
	})
	return func() float64 {
		t.Helper()
		out, err := exec.Exec()
		if err != nil {
			t.Fatal(err)
		}
		return float64(out[0].Value().(float32))
	}
}

func TestEngineVariableUpdatesPersist(t *testing.T) {
	for _, eb := range engineBackends(t) {
		backend := eb.backend
		t.Run(eb.name, func(t *testing.T) {
			store := gmodel.NewStore()
			x, err := store.CreateVariable("/engine/x", tensors.FromValue([]float32{1, 2, 3}))
			if err != nil {
				t.Fatal(err)
			}
			reader := engineSumSq(t, backend, store, x)
			if got := reader(); math.Abs(got-14) > 1e-4 { // compiled with x = [1 2 3]
				t.Fatalf("read-only exec: sum(x²) = %v, want 14", got)
			}
			exec := gmodel.MustNewExec(backend, store, func(_ *gmodel.Scope, g *Graph) *Node {
				old := x.NodeValue(g)
				x.SetNodeValue(MulScalar(old, 0.8))
				return ReduceAllSum(Square(old)) // of the value read, before the update
			})
			want := []float64{14, 8.96, 5.7344}
			for i, w := range want {
				out, err := exec.Exec()
				if err != nil {
					t.Fatal(err)
				}
				got := float64(out[0].Value().(float32))
				t.Logf("call %d: sum(x²) = %.6g, x after %v", i+1, got, engineVarValue(t, x))
				if math.Abs(got-w) > 1e-4 {
					t.Errorf("call %d: sum(x²) = %v, want %v (x as stored: %v) — the Exec does not see the "+
						"variable's updated value", i+1, got, w, engineVarValue(t, x))
				}
			}
			got := engineVarValue(t, x)
			for i, w := range []float64{0.512, 1.024, 1.536} {
				if math.Abs(float64(got[i])-w) > 1e-5 {
					t.Fatalf("x after 3 calls = %v, want [0.512 1.024 1.536]", got)
				}
			}
			// The read-only exec, compiled before the updates, sees them.
			if got, w := reader(), 0.512*0.512+1.024*1.024+1.536*1.536; math.Abs(got-w) > 1e-4 {
				t.Errorf("read-only exec after the updates: sum(x²) = %v, want %v — it still reads an old value", got, w)
			}
		})
	}
}

func TestEngineAdamUpdatesPersist(t *testing.T) {
	for _, eb := range engineBackends(t) {
		backend := eb.backend
		// training: whether the update graph is marked as training (as
		// train.Optimizer does) or not (a plain Exec calling UpdateGraph).
		for _, training := range []bool{false, true} {
			name := eb.name + "/plain"
			if training {
				name = eb.name + "/training"
			}
			t.Run(name, func(t *testing.T) {
				store := gmodel.NewStore()
				x, err := store.CreateVariable("/engine/x", tensors.FromValue([]float32{1, 2, 3}))
				if err != nil {
					t.Fatal(err)
				}
				reader := engineSumSq(t, backend, store, x)
				if got := reader(); math.Abs(got-14) > 1e-4 {
					t.Fatalf("read-only exec: sum(x²) = %v, want 14", got)
				}
				adam := optimizer.Adam().LearningRate(0.1).DType(dtypes.Float32).Done()
				exec := gmodel.MustNewExec(backend, store, func(scope *gmodel.Scope, g *Graph) *Node {
					if training {
						store.SetTraining(g, true)
					}
					loss := ReduceAllSum(Square(x.NodeValue(g)))
					adam.UpdateGraph(scope, g, loss)
					return loss // of the value read, before the update
				})
				prevLoss := math.Inf(1)
				prevX := engineVarValue(t, x)
				for i := range 3 {
					out, err := exec.Exec()
					if err != nil {
						t.Fatal(err)
					}
					loss := float64(out[0].Value().(float32))
					cur := engineVarValue(t, x)
					t.Logf("call %d: loss %.6g, x after %v", i+1, loss, cur)
					if !(loss < prevLoss) {
						t.Errorf("call %d: loss %v did not decrease from %v — the Exec does not see the "+
							"variable's updated value", i+1, loss, prevLoss)
					}
					changed := false
					for j := range cur {
						changed = changed || cur[j] != prevX[j]
					}
					if !changed {
						t.Errorf("call %d: x unchanged by the Adam step: %v", i+1, cur)
					}
					// A read-only exec sees the weights the step produced.
					var want float64
					for _, c := range cur {
						want += float64(c) * float64(c)
					}
					if got := reader(); math.Abs(got-want) > 1e-4 {
						t.Errorf("call %d: read-only exec reads sum(x²) = %v, want %v (x = %v) — it still reads an "+
							"old value", i+1, got, want, cur)
					}
					prevLoss, prevX = loss, cur
				}
				if step := optimizer.GetGlobalStep(store); step != 3 {
					t.Errorf("global step after 3 calls = %d, want 3", step)
				}
			})
		}
	}
}
