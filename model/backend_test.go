package model

import (
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// nestedMatmuls runs 8 independent While loops whose bodies multiply
// matrices: loop bodies execute inside an op, and with GoMLX's parallel op
// execution each loop holds a worker slot while its body's matmuls wait for
// one. With "go:ops_parallel" this deadlocked on a 2-core machine (measured
// on v0.28.8); NewBackend("go"), which runs ops two at a time, must finish it.
func nestedMatmuls(x *Node) *Node {
	g := x.Graph()
	n := x.Shape().Dim(0)
	var outs []*Node
	for i := range 8 {
		cond := NewClosure(g, func(g *Graph) []*Node {
			c := Parameter(g, "c", shapes.Make(dtypes.Int32))
			_ = Parameter(g, "m", shapes.Make(dtypes.Float32, n, n))
			return []*Node{LessThan(c, Const(g, int32(3)))}
		})
		body := NewClosure(g, func(g *Graph) []*Node {
			c := Parameter(g, "c", shapes.Make(dtypes.Int32))
			m := Parameter(g, "m", shapes.Make(dtypes.Float32, n, n))
			a := MatMul(m, m)
			b := MatMul(Transpose(m, 0, 1), m)
			return []*Node{Add(c, Const(g, int32(1))), Tanh(MatMul(a, b))}
		})
		res := While(cond, body, Const(g, int32(0)), MulScalar(x, float64(i+1)/8))
		outs = append(outs, ReduceAllSum(res[1]))
	}
	// And plain chained matmuls with their gradient, as attention has.
	y := MatMul(Tanh(MatMul(x, Transpose(x, 0, 1))), x)
	outs = append(outs, ReduceAllSum(Gradient(ReduceAllSum(MatMul(y, y)), x)[0]))
	return ReduceAllSum(Stack(outs, 0))
}

func runNested(t *testing.T, b compute.Backend) {
	t.Helper()
	x := make([][]float32, 128)
	for i := range x {
		x[i] = make([]float32, 128)
		for j := range x[i] {
			x[i][j] = float32((i*7+j*3)%11) / 100
		}
	}
	done := make(chan error, 1)
	go func() {
		exec, err := NewExec(b, nestedMatmuls)
		if err != nil {
			done <- err
			return
		}
		for range 5 {
			if _, err := exec.Exec1(tensors.FromValue(x)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("nested matmuls did not finish in 60s: the go backend deadlocked")
	}
}

func TestGoBackendNestedMatmuls(t *testing.T) {
	b, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	runNested(t, b)
}

func TestNewBackendErrors(t *testing.T) {
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	for spec, want := range map[string]string{
		"xla:nonexistentplugin":  "PJRT_PLUGIN_LIBRARY_PATH",
		"xla:/no/such/plugin.so": "plugin file",
		"xla:relative/plugin.so": "absolute",
		"tpu":                    "unknown backend",
	} {
		_, err := NewBackend(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewBackend(%q) = %v, want an error containing %q", spec, err, want)
		}
	}
}

func TestNewBackendEnv(t *testing.T) {
	t.Setenv(BackendEnv, "tpu")
	if _, err := NewBackend(""); err == nil {
		t.Fatal("RLHF_BACKEND=tpu was not used")
	}
	if b, err := NewBackend("go"); err != nil {
		t.Fatal(err)
	} else {
		b.Finalize()
	}
}
