package model

import (
	"slices"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// BenchmarkFlattenLinear times forward + backward of a qwen2-100m-style
// model cut to 4 layers (768 hidden, 12 heads / 2 KV heads, MLP 2048,
// vocabulary 32000, 4×256 tokens) with linear's matrix form and with the
// rank-3 one, alternating run by run (and which goes first) in one process so
// that a shared machine's load hits both alike. It reports the median
// milliseconds of each. Run it alone:
//
//	go test ./model -run '^$' -bench FlattenLinear -benchtime 1x
func BenchmarkFlattenLinear(b *testing.B) {
	const batch, seq, rounds = 4, 256, 6
	cfg, err := NewConfig(ArchQwen2, 32000, 4, 768, 12, 2)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Intermediate = 2048
	cfg.MaxPositions = max(cfg.MaxPositions, seq)
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	toks := make([][]int32, batch)
	mask := make([][]int32, batch)
	for i := range toks {
		toks[i], mask[i] = make([]int32, seq), make([]int32, seq)
		for j := range toks[i] {
			toks[i][j], mask[i][j] = int32((i*7919+j*104729)%32000), 1
		}
	}
	tt, mt := tensors.FromValue(toks), tensors.FromValue(mask)
	newExec := func() *gmodel.Exec {
		return gmodel.MustNewExec(testBackend(), m.Store, func(scope *gmodel.Scope, tokens, mask *Node) *Node {
			m.Store.SetTraining(tokens.Graph(), true)
			logits, _ := m.Forward(tokens, mask)
			loss := CausalLMLoss(logits, tokens, mask)
			sum := loss
			for _, g := range scope.BuildTrainableVariablesGradientsGraph(loss) {
				sum = Add(sum, ReduceAllSum(g))
			}
			return sum
		})
	}
	type variant struct {
		name string
		exec *gmodel.Exec
		ms   []float64
	}
	var vs []*variant
	for _, flat := range []bool{true, false} {
		flattenLinear = flat
		v := &variant{name: map[bool]string{true: "matrix", false: "rank3"}[flat], exec: newExec()}
		v.exec.MustExec(tt, mt) // compiles with this form
		vs = append(vs, v)
	}
	flattenLinear = true
	run := func(v *variant) {
		t0 := time.Now()
		for _, t := range v.exec.MustExec(tt, mt) {
			t.FinalizeAll()
		}
		v.ms = append(v.ms, time.Since(t0).Seconds()*1000)
	}
	for b.Loop() {
		for r := range rounds {
			run(vs[r%2])
			run(vs[1-r%2])
		}
	}
	for _, v := range vs {
		x := slices.Clone(v.ms)
		slices.Sort(x)
		b.ReportMetric(x[len(x)/2], v.name+"-ms")
	}
}
