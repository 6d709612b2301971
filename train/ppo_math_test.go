package train

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

func ppoNear(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-5 {
		t.Errorf("%s = %.7f, want %.7f", what, got, want)
	}
}

func TestKLRewards(t *testing.T) {
	// d = logp − ref = [0.5, −1]; β = 0.1 → [−0.05, 0.1], score 2 on the last.
	r, kl := KLRewards([]float64{-1, -2}, []float64{-1.5, -1}, 2, 0.1)
	ppoNear(t, "r0", r[0], -0.05)
	ppoNear(t, "r1", r[1], 2.1)
	ppoNear(t, "kl", kl, -0.5)
}

func TestGAE(t *testing.T) {
	rewards, values := []float64{0, 0, 1}, []float64{0.5, 0.4, 0.3}
	// γ=1, λ=0.5: δ = [−0.1, −0.1, 0.7]; A2 = 0.7, A1 = −0.1+0.5·0.7, A0 = −0.1+0.5·0.25.
	adv, ret := GAE(rewards, values, 1, 0.5)
	for i, want := range []float64{0.025, 0.25, 0.7} {
		ppoNear(t, "adv", adv[i], want)
		ppoNear(t, "return", ret[i], want+values[i])
	}
	// γ=0.9, λ=0.95: δ = [0.9·0.4−0.5, 0.9·0.3−0.4, 0.7]; γλ = 0.855.
	adv, _ = GAE(rewards, values, 0.9, 0.95)
	for i, want := range []float64{-0.14 + 0.855*0.4685, -0.13 + 0.855*0.7, 0.7} {
		ppoNear(t, "adv(0.9,0.95)", adv[i], want)
	}
}

func TestWhiten(t *testing.T) {
	xs := [][]float64{{1, 2}, {3}}
	Whiten(xs)
	s := math.Sqrt(2.0 / 3)
	ppoNear(t, "x0", xs[0][0], -1/s)
	ppoNear(t, "x1", xs[0][1], 0)
	ppoNear(t, "x2", xs[1][0], 1/s)
}

func TestKLController(t *testing.T) {
	c := &KLController{Beta: 0.1, Target: 6, Horizon: 100}
	c.Update(12, 10) // error clipped to +0.2: β·(1 + 0.2·10/100)
	ppoNear(t, "beta up", c.Beta, 0.102)
	c.Update(3, 10) // error −0.5 clipped to −0.2
	ppoNear(t, "beta down", c.Beta, 0.102*0.98)
	fixed := &KLController{Beta: 0.1}
	fixed.Update(100, 10)
	ppoNear(t, "fixed beta", fixed.Beta, 0.1)
}

// ppoRunGraph evaluates a graph function of [1,4] float32 inputs and a scalar.
func ppoRunGraph(t *testing.T, fn func(in []*Node) []*Node, inputs ...any) []float64 {
	t.Helper()
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	e := gmodel.MustNewExec(backend, gmodel.NewStore(), func(_ *gmodel.Scope, in []*Node) []*Node { return fn(in) })
	outs, err := e.Exec(inputs...)
	if err != nil {
		t.Fatal(err)
	}
	var r []float64
	for _, o := range outs {
		r = append(r, scalar(o))
	}
	return r
}

func TestPolicyLoss(t *testing.T) {
	l2 := float32(math.Log(2))
	logp := tensors.FromValue([][]float32{{0, -l2, -l2, 5}})
	old := tensors.FromValue([][]float32{{-l2, 0, 0, 0}})
	adv := tensors.FromValue([][]float32{{1, 1, -1, 9}})
	mask := tensors.FromValue([][]float32{{1, 1, 1, 0}})
	// ρ = [2, 0.5, 0.5]; terms max(−Aρ, −A·clip(ρ)) = [−1.2, −0.5, 0.8].
	r := ppoRunGraph(t, func(in []*Node) []*Node {
		a, b, c := PolicyLoss(in[0], in[1], in[2], in[3], in[4])
		return []*Node{a, b, c}
	}, logp, old, adv, mask, float32(0.2))
	ppoNear(t, "policy loss", r[0], (-1.2-0.5+0.8)/3)
	ppoNear(t, "clip fraction", r[1], 2.0/3)
	ppoNear(t, "approx KL", r[2], 0.5*math.Ln2*math.Ln2)
}

func TestValueLoss(t *testing.T) {
	v := [][]float32{{1, 0, 7}}
	old := [][]float32{{0.5, 0.5, 0}}
	ret := [][]float32{{2, 0, 0}}
	mask := [][]float32{{1, 1, 0}}
	fn := func(in []*Node) []*Node {
		a, b := ValueLoss(in[0], in[1], in[2], in[3], in[4])
		return []*Node{a, b}
	}
	// Clipped values [0.7, 0.3]: max(1, 1.69), max(0, 0.09).
	r := ppoRunGraph(t, fn, v, old, ret, mask, float32(0.2))
	ppoNear(t, "value loss", r[0], 0.5*(1.69+0.09)/2)
	ppoNear(t, "value clip fraction", r[1], 1)
	r = ppoRunGraph(t, fn, v, old, ret, mask, float32(0)) // no clipping
	ppoNear(t, "value loss unclipped", r[0], 0.5*(1+0)/2)
}

func TestActorLossMixesPtx(t *testing.T) {
	r := ppoRunGraph(t, func(in []*Node) []*Node {
		return []*Node{ActorLoss(in[0], in[1], in[2], in[3], in[4]), ActorLoss(in[0], in[1], nil, in[3], in[4])}
	}, float32(1), float32(2), float32(3), float32(0.1), float32(0.5))
	ppoNear(t, "pg − 0.1·H + 0.5·ptx", r[0], 1-0.2+1.5)
	ppoNear(t, "without ptx", r[1], 0.8)
}

func TestGRPOEstimator(t *testing.T) {
	// Groups by prompt: {0,1} with sequence rewards 1 and 3 (the per-token
	// rewards are summed), {2,3,4} with 0, 1, 5, and {5,6} tied at 2.
	in := advantageInput{
		rewards: [][]float64{{0, 0, 1}, {1, 2}, {0}, {1}, {2, 3}, {2}, {0, 2}},
		prompt:  []int{7, 7, 2, 2, 2, 9, 9},
	}
	adv, _ := grpoEstimator(in)
	s2, s7 := math.Sqrt(2), math.Sqrt(7) // sample std (n−1) of {1,3} and of {0,1,5}
	want := []float64{-1 / (s2 + grpoEps), 1 / (s2 + grpoEps), -2 / (s7 + grpoEps), -1 / (s7 + grpoEps), 3 / (s7 + grpoEps), 0, 0}
	for n := range in.rewards {
		if len(adv[n]) != len(in.rewards[n]) {
			t.Fatalf("sequence %d: %d advantages for %d tokens", n, len(adv[n]), len(in.rewards[n]))
		}
		for t2 := range adv[n] {
			ppoNear(t, "grpo advantage", adv[n][t2], want[n])
		}
	}
}

func TestRLOOEstimator(t *testing.T) {
	// One group of three: sequence rewards 1, 3, 8 (score − β·KL, summed
	// per token); baseline = mean of the other two.
	in := advantageInput{rewards: [][]float64{{-0.5, 1.5}, {3}, {4, 4, 0}}, prompt: []int{0, 0, 0}}
	adv, _ := rlooEstimator(in)
	for n, want := range []float64{1 - (3+8)/2.0, 3 - (1+8)/2.0, 8 - (1+3)/2.0} {
		for t2 := range adv[n] {
			ppoNear(t, "rloo advantage", adv[n][t2], want)
		}
	}
	// A prompt sampled once has no baseline: advantage 0.
	adv, _ = rlooEstimator(advantageInput{rewards: [][]float64{{5}}, prompt: []int{0}})
	ppoNear(t, "rloo single", adv[0][0], 0)
}

func TestREINFORCEPPEstimator(t *testing.T) {
	// Per-token rewards (−β·KL, the score on the last token); γ = 1:
	// returns are suffix sums [1.1, 1.2, 1] and [0.5], then whitened over
	// the batch (mean 0.95, population std √0.0725).
	in := advantageInput{rewards: [][]float64{{-0.1, 0.2, 1}, {0.5}}, prompt: []int{0, 1}, gamma: 1}
	adv, ret := reinforcePPEstimator(in)
	std := math.Sqrt(0.0725)
	for i, want := range []float64{1.1, 1.2, 1} {
		ppoNear(t, "return", ret[0][i], want)
		ppoNear(t, "advantage", adv[0][i], (want-0.95)/std)
	}
	ppoNear(t, "return", ret[1][0], 0.5)
	ppoNear(t, "advantage", adv[1][0], (0.5-0.95)/std)
	// γ = 0.5 discounts: [−0.1 + 0.5·(0.2 + 0.5·1), 0.2 + 0.5·1, 1].
	in.gamma = 0.5
	_, ret = reinforcePPEstimator(in)
	for i, want := range []float64{0.25, 0.7, 1} {
		ppoNear(t, "discounted return", ret[0][i], want)
	}
}

func TestKLLoss(t *testing.T) {
	// d = ref − logp = [ln 2, −ln 2, 0, (masked) 30]: k3 = e^d − d − 1 =
	// [1 − ln 2, ln 2 − 0.5, 0].
	l2 := float32(math.Log(2))
	logp := [][]float32{{0, -l2, -1, -40}}
	ref := [][]float32{{l2, -2 * l2, -1, -10}}
	mask := [][]float32{{1, 1, 1, 0}}
	r := ppoRunGraph(t, func(in []*Node) []*Node { return []*Node{KLLoss(in[0], in[1], in[2])} }, logp, ref, mask)
	ppoNear(t, "k3 KL", r[0], ((1-math.Ln2)+(math.Ln2-0.5)+0)/3)
}
