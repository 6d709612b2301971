package model

import (
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// nestedMatmuls builds a graph of many independent matmul chains whose
// results feed further matmuls: the shape of attention (Q·Kᵀ then ·V) and of
// its gradient, which deadlocked GoMLX's pure-Go backend in its default
// parallel configuration.
func nestedMatmuls(x *Node) *Node {
	var outs []*Node
	for i := range 8 {
		a := MulScalar(x, float64(i+1)/8)
		b := MatMul(a, Transpose(x, 0, 1))
		c := MatMul(b, a)
		d := MatMul(MatMul(c, Transpose(a, 0, 1)), c)
		outs = append(outs, d)
	}
	sum := outs[0]
	for _, o := range outs[1:] {
		sum = MatMul(Tanh(sum), Tanh(o))
	}
	return ReduceAllSum(sum)
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
		exec, err := NewExec(b, func(x *Node) *Node {
			loss := nestedMatmuls(x)
			return Gradient(loss, x)[0]
		})
		if err != nil {
			done <- err
			return
		}
		for range 3 {
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
