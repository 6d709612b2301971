package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/safetensors"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// TestDPOPairLosses checks each loss variant on two pairs against values
// computed by hand, in the graph and in the float64 validation code.
//
// Pair 0: policy sums πc = −4 (2 tokens), πr = −6 (3 tokens); reference
// sums rc = rr = −5. Pair 1: πc = −3, πr = −1 (1 token each), rc = rr = −2.
// β = 0.5.
//
//	dpo:   h = (−4+5) − (−6+5) = 2, βh = 1 → −log σ(1) = log(1+e⁻¹);
//	       pair 1: h = −1 − 1 = −2 → log(1+e¹); rewards 0.5, −0.5 and −0.5, 0.5.
//	dpo, ε = 0.1: 0.9·log(1+e⁻¹) + 0.1·log(1+e¹) (pair 1 mirrored).
//	ipo (averages): πc = −2, πr = −2, rc = −2.5, rr = −5/3 → h = 0.5 + 1/3 = 5/6,
//	       (h − 1/(2β))² = (5/6 − 1)² = 1/36; rewards 0.25, −1/6;
//	       pair 1: h = −2 → (−2 − 1)² = 9.
//	simpo, γ = 0.3: β·(−2 − (−2)) − 0.3 = −0.3 → log(1+e^0.3); rewards −1, −1;
//	       pair 1: 0.5·(−3 + 1) − 0.3 = −1.3 → log(1+e^1.3).
//	nll of the chosen answer: 4/2 = 2 and 3/1 = 3 (every variant).
func TestDPOPairLosses(t *testing.T) {
	sp := func(x float64) float64 { return math.Log(1 + math.Exp(x)) }
	pc, pr, nc, nr := []float32{-4, -3}, []float32{-6, -1}, []float32{2, 1}, []float32{3, 1}
	rc, rr := []float32{-5, -2}, []float32{-5, -2}
	cases := []struct {
		name           string
		c              dpoConfig
		loss, rwc, rwr [2]float64
		logpc          [2]float64
		nll            [2]float64
	}{
		{"dpo", dpoConfig{loss: DPOLossDPO, beta: 0.5, usesReference: true},
			[2]float64{sp(-1), sp(1)}, [2]float64{0.5, -0.5}, [2]float64{-0.5, 0.5}, [2]float64{-4, -3}, [2]float64{2, 3}},
		{"dpo label smoothing", dpoConfig{loss: DPOLossDPO, beta: 0.5, smoothing: 0.1, usesReference: true},
			[2]float64{0.9*sp(-1) + 0.1*sp(1), 0.9*sp(1) + 0.1*sp(-1)}, [2]float64{0.5, -0.5}, [2]float64{-0.5, 0.5}, [2]float64{-4, -3}, [2]float64{2, 3}},
		{"ipo", dpoConfig{loss: DPOLossIPO, beta: 0.5, averaged: true, usesReference: true},
			[2]float64{1.0 / 36, 9}, [2]float64{0.25, -0.5}, [2]float64{-1.0 / 6, 0.5}, [2]float64{-2, -3}, [2]float64{2, 3}},
		{"simpo", dpoConfig{loss: DPOLossSimPO, beta: 0.5, gamma: 0.3, averaged: true},
			[2]float64{sp(0.3), sp(1.3)}, [2]float64{-1, -1.5}, [2]float64{-1, -0.5}, [2]float64{-2, -3}, [2]float64{2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ppoRunGraphVec(t, func(in []*Node) []*Node {
				x := dpoPairTerms(c.c, in[0], in[1], in[2], in[3], in[4], in[5])
				return []*Node{x.Loss, x.RewardChosen, x.RewardRejected, x.LogpChosen, x.NLL}
			}, pc, pr, nc, nr, rc, rr)
			for i := range 2 {
				ppoNear(t, "loss", r[0][i], c.loss[i])
				ppoNear(t, "rewards/chosen", r[1][i], c.rwc[i])
				ppoNear(t, "rewards/rejected", r[2][i], c.rwr[i])
				ppoNear(t, "logps/chosen", r[3][i], c.logpc[i])
				ppoNear(t, "nll", r[4][i], c.nll[i])
				h := dpoPairTerms64(c.c, float64(pc[i]), float64(pr[i]), float64(nc[i]), float64(nr[i]), float64(rc[i]), float64(rr[i]))
				ppoNear(t, "loss (float64)", h.loss, c.loss[i])
				ppoNear(t, "rewards/chosen (float64)", h.rewardChosen, c.rwc[i])
				ppoNear(t, "rewards/rejected (float64)", h.rewardRejected, c.rwr[i])
				ppoNear(t, "nll (float64)", h.nll, c.nll[i])
			}
		})
	}
}

// ppoRunGraphVec evaluates a graph of [P] float32 inputs with [P] outputs.
func ppoRunGraphVec(t *testing.T, fn func(in []*Node) []*Node, inputs ...[]float32) [][]float64 {
	t.Helper()
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	e := gmodel.MustNewExec(backend, gmodel.NewStore(), func(_ *gmodel.Scope, in []*Node) []*Node { return fn(in) })
	var args []any
	for _, x := range inputs {
		args = append(args, x)
	}
	outs, err := e.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	var r [][]float64
	for _, o := range outs {
		var v []float64
		for _, x := range tensors.MustCopyFlatData[float32](o) {
			v = append(v, float64(x))
		}
		r = append(r, v)
	}
	return r
}

// TestDPOLossOfABatch: the training loss of a batch holding a 3-answer
// group and a plain pair is ½·mean over the group's pairs + ½·the pair's
// loss (as the reward model weighs them) plus sft_coef × the same average
// of the chosen answers' mean NLL, from the sequences' log-probs.
func TestDPOLossOfABatch(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	m, tok, err := loadModel("Model", base, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	rows := []dataset.Comparison{
		{GroupID: "g", Prompt: "p", Chosen: "first", Rejected: "second", ChosenRank: 1, RejectedRank: 2},
		{GroupID: "g", Prompt: "p", Chosen: "first", Rejected: "third one", ChosenRank: 1, RejectedRank: 3},
		{GroupID: "g", Prompt: "p", Chosen: "second", Rejected: "third one", ChosenRank: 2, RejectedRank: 3},
		{Prompt: "q", Chosen: "yes", Rejected: "no"},
	}
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 64, Truncate: infer.TruncateLeft}
	groups := GroupComparisons(rows, enc, nil)
	backend, _ := NewBackend("go")
	lp, err := groupLogps(context.Background(), newSeqLogpExec(backend, m), groups, 8, 64, tok.PAD(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A made-up reference: the policy's log-probs shifted per sequence.
	refs := [][]float64{{lp[0][0] + 0.3, lp[0][1] - 0.2, lp[0][2] + 0.1}, {lp[1][0] - 0.4, lp[1][1] + 0.5}}
	c := dpoConfig{loss: DPOLossDPO, beta: 0.5, usesReference: true, sftCoef: 0.7}
	pair := func(g, i, j int) dpoPair64 {
		lens := respLens(groups[g])
		return dpoPairTerms64(c, lp[g][i], lp[g][j], lens[i], lens[j], refs[g][i], refs[g][j])
	}
	ps := []dpoPair64{pair(0, 0, 1), pair(0, 0, 2), pair(0, 1, 2), pair(1, 0, 1)}
	w := []float64{1.0 / 6, 1.0 / 6, 1.0 / 6, 0.5}
	var want, wantNLL, wantAcc float64
	for i, p := range ps {
		want += w[i] * (p.loss + 0.7*p.nll)
		wantNLL += w[i] * p.nll
		if p.rewardChosen > p.rewardRejected {
			wantAcc += w[i]
		}
	}
	lossFn := dpoLoss(m, c)
	exec := gmodel.MustNewExec(backend, m.Store, func(scope *gmodel.Scope, in []*Node) []*Node {
		l, mt := lossFn(scope, in)
		return append([]*Node{l}, mt...)
	})
	outs := exec.MustExec(makeDPOBatch(groups, refs, 64, tok.PAD()).inputs()...)
	got := func(i int) float64 { return scalar(outs[i]) }
	if math.Abs(got(0)-want) > 1e-5 {
		t.Fatalf("batch loss %.7f, hand-computed %.7f", got(0), want)
	}
	if math.Abs(got(3)-wantAcc) > 1e-6 || math.Abs(got(7)-wantNLL) > 1e-5 {
		t.Fatalf("rewards/accuracies %v (want %v), nll %v (want %v)", got(3), wantAcc, got(7), wantNLL)
	}
}

// preferenceComparisons: the keyword preference of the reward-model test
// (more "good" ranks higher, K = 3 groups and plain pairs, two tasks).
func preferenceData(t *testing.T, root string, n int) string {
	data := filepath.Join(root, "cmp")
	writeDataset(t, filepath.Join(data, "train"), keywordComparisons(n, 1))
	writeDataset(t, filepath.Join(data, "val"), keywordComparisons(n/2, 2))
	return data
}

// TestDPOLearnsPreference: on a tiny model and a synthetic preference, the
// held-out preference accuracy of the implicit reward rises above 85% and
// the chosen-minus-rejected margin grows, for each loss.
func TestDPOLearnsPreference(t *testing.T) {
	base := tinyModelDir(t, 2, 32, 64)
	root := t.TempDir()
	data := preferenceData(t, root, 48)
	for _, loss := range DPOLosses {
		t.Run(loss, func(t *testing.T) {
			out := filepath.Join(root, loss)
			o := DPOOptions{Model: base, Data: data, Loss: loss, Beta: 0.1, CommonOptions: CommonOptions{
				Out: out, Epochs: 3, LR: 3e-3, Warmup: 5, BatchSize: 4, MaxSeqLen: 64, EvalEvery: 6, Backend: "go"}}
			if loss == DPOLossSimPO {
				o.Beta, o.SimPOGamma = 2, 0.5
			}
			res, err := RunDPO(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.ValAccuracy <= 0.85 {
				t.Fatalf("held-out preference accuracy %.3f, want > 0.85 (by task %v)", res.ValAccuracy, res.ValAccuracyByTask)
			}
			rows, err := ReadMetrics(filepath.Join(out, MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			// The first update's metrics are measured before it, with the
			// policy equal to the reference: no margin, no preference.
			if a, m := rows[0]["rewards/accuracies"], rows[0]["rewards/margins"]; loss != DPOLossSimPO && (a > 0.6 || math.Abs(m) > 1e-3) {
				t.Fatalf("first step: accuracy %v, margin %v; want about none before training", a, m)
			}
			var margins []float64
			for _, r := range rows {
				if v, ok := r["val_rewards/margins"]; ok {
					margins = append(margins, v)
				}
			}
			if len(margins) < 2 || !(margins[len(margins)-1] > margins[0]) || !(res.ValMargin > 0) {
				t.Fatalf("validation margins %v: not growing", margins)
			}
			if len(res.ValAccuracyByTask) != 2 {
				t.Errorf("accuracy by task: %v, want 2 tasks", res.ValAccuracyByTask)
			}
			for _, key := range []string{"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"} {
				if _, ok := rows[0][key]; !ok {
					t.Errorf("metrics.jsonl has no %s: %v", key, rows[0])
				}
			}
			m, err := model.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if !m.HasLMHead || m.Meta.Stage != "dpo" || m.Meta.Extra["dpo_loss"] != loss {
				t.Fatalf("published model: meta %+v", m.Meta)
			}
			_, err = os.Stat(filepath.Join(out, RefLogpsFile))
			if hasRef := err == nil; hasRef != (loss != DPOLossSimPO) {
				t.Errorf("%s present: %v", RefLogpsFile, hasRef)
			}
			if _, err := os.Stat(filepath.Join(out, "margins.png")); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestDPOResumeIsExact: interrupted and resumed, DPO ends with the same
// weights and metrics as an uninterrupted run (go backend); the resumed run
// reads the cached reference log-probs, and without the cache it computes
// them again from the starting checkpoint, not from the checkpoint resumed.
func TestDPOResumeIsExact(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(10, 3))
	val := writeDataset(t, filepath.Join(root, "val"), keywordComparisons(4, 4))
	opts := func(out string) DPOOptions {
		return DPOOptions{Model: base, Data: data, Val: val, SFTCoef: 0.1, LabelSmoothing: 0.05, CommonOptions: CommonOptions{Out: out,
			MaxSteps: 6, LR: 3e-3, Warmup: 1, BatchSize: 2, GradAccum: 2, MaxSeqLen: 64, Backend: "go", EvalEvery: 2}}
	}
	full := filepath.Join(root, "full")
	fres, err := RunDPO(context.Background(), opts(full))
	if err != nil {
		t.Fatal(err)
	}
	if fres.RefCached {
		t.Fatal("a fresh run found cached reference log-probs")
	}
	for _, dropCache := range []bool{false, true} {
		parts := filepath.Join(root, "parts", map[bool]string{false: "cached", true: "recomputed"}[dropCache])
		o := opts(parts)
		o.StopAfter = 3
		if r, err := RunDPO(context.Background(), o); err != nil || !r.Stopped || r.Steps != 3 {
			t.Fatalf("interrupted run: %+v %v", r, err)
		}
		if _, err := RunDPO(context.Background(), opts(parts)); err == nil || !strings.Contains(err.Error(), "Resume") {
			t.Fatalf("reusing --out without --resume: %v", err)
		}
		if dropCache {
			if err := os.Remove(filepath.Join(parts, RefLogpsFile)); err != nil {
				t.Fatal(err)
			}
		}
		o = opts(parts)
		o.Resume = true
		pres, err := RunDPO(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if pres.RefCached == dropCache {
			t.Fatalf("resumed run (cache removed %v): reference log-probs cached %v", dropCache, pres.RefCached)
		}
		a, err := safetensors.ReadDir(full)
		if err != nil {
			t.Fatal(err)
		}
		b, err := safetensors.ReadDir(parts)
		if err != nil {
			t.Fatal(err)
		}
		for name, ta := range a {
			if !bytes.Equal(ta.Data, b[name].Data) {
				t.Fatalf("weight %s differs between the uninterrupted and the resumed run (cache removed %v)", name, dropCache)
			}
		}
		la, _ := ReadMetrics(filepath.Join(full, MetricsFile))
		lb, _ := ReadMetrics(filepath.Join(parts, MetricsFile))
		if len(la) != len(lb) {
			t.Fatalf("metrics: %d lines vs %d", len(la), len(lb))
		}
		for i := range la {
			for _, k := range []string{"step", "loss", "rewards/margins", "val_loss", "val_rewards/accuracies"} {
				if va, vb := la[i][k], lb[i][k]; va != vb && !(math.IsNaN(va) && math.IsNaN(vb)) {
					t.Fatalf("metrics line %d, %s: %v vs %v", i, k, va, vb)
				}
			}
		}
		if fres.Loss != pres.Loss || fres.ValLoss != pres.ValLoss {
			t.Fatalf("uninterrupted %+v vs resumed %+v", fres, pres)
		}
	}
}

// TestDPORefusals: bad input is refused before training, with an error
// naming what is wrong.
func TestDPORefusals(t *testing.T) {
	root := t.TempDir()
	base := tinyModelDir(t, 1, 32, 64)
	sft := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	cmp := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(2, 1))
	ties := writeDataset(t, filepath.Join(root, "ties"), []dataset.Comparison{
		{Prompt: "p", Chosen: "a", Rejected: "b", ChosenRank: 2, RejectedRank: 2},
		{Prompt: "q", Chosen: "same", Rejected: "same"},
	})
	// A reward model with a tied LM head (gpt2), and one without LM head
	// (an untied llama whose head was dropped).
	rmDir := filepath.Join(root, "rm")
	noHead := filepath.Join(root, "nohead")
	for _, dir := range []string{rmDir, noHead} {
		arch, tied := model.ArchGPT2, true
		if dir == noHead {
			arch, tied = model.ArchLlama, false
		}
		cfg, _ := model.NewConfig(arch, 257, 1, 32, 4, 0)
		cfg.TieEmbeddings, cfg.MaxPositions, cfg.EOS = tied, 64, 256
		m, err := model.New(cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.AddScoreHead(1); err != nil {
			t.Fatal(err)
		}
		if err := m.DropLMHead(); err != nil {
			t.Fatal(err)
		}
		if err := m.Save(dir); err != nil {
			t.Fatal(err)
		}
		if err := tokenizer.WriteByteLevel(filepath.Join(dir, "tokenizer.json")); err != nil {
			t.Fatal(err)
		}
	}
	run := func(mod func(*DPOOptions)) func(string) error {
		return func(out string) error {
			o := DPOOptions{Model: base, Data: cmp, CommonOptions: CommonOptions{Out: out, Backend: "go", MaxSeqLen: 64, MaxSteps: 1}}
			mod(&o)
			_, err := RunDPO(context.Background(), o)
			return err
		}
	}
	cases := []struct {
		name string
		run  func(out string) error
		want string
	}{
		{"sft data", run(func(o *DPOOptions) { o.Data = sft }), `holds "sft" records, expected "comparison"`},
		{"sft jsonl", run(func(o *DPOOptions) { o.Data = "../testdata/train/sft.jsonl" }), "sft.jsonl:1: empty chosen or rejected response"},
		{"all ties", run(func(o *DPOOptions) { o.Data = ties }), "all 2 comparisons are ties"},
		{"reward model", run(func(o *DPOOptions) { o.Model = rmDir }), "Model " + rmDir + ": the checkpoint has a score head"},
		{"no lm head", run(func(o *DPOOptions) { o.Model = noHead }), "Model " + noHead + ": the checkpoint has no language-model head"},
		{"reward model as reference", run(func(o *DPOOptions) { o.Ref = rmDir }), "Ref " + rmDir + ": the checkpoint has a score head"},
		{"no model", run(func(o *DPOOptions) { o.Model = "" }), "Model: no model folder given"},
		{"bad loss", run(func(o *DPOOptions) { o.Loss = "kto" }), `Loss "kto"`},
		{"negative beta", run(func(o *DPOOptions) { o.Beta = -1 }), "Beta -1"},
		{"label smoothing 0.5", run(func(o *DPOOptions) { o.LabelSmoothing = 0.5 }), "LabelSmoothing 0.5"},
		{"label smoothing with ipo", run(func(o *DPOOptions) { o.Loss, o.LabelSmoothing = DPOLossIPO, 0.1 }), "not ipo"},
		{"reference with simpo", run(func(o *DPOOptions) { o.Loss, o.Ref = DPOLossSimPO, base }), "uses no reference model"},
		{"negative sft coef", run(func(o *DPOOptions) { o.SFTCoef = -1 }), "SFTCoef -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(root, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			err := c.run(out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
			if steps, _ := ListCheckpoints(out); len(steps) > 0 {
				t.Fatal("a refused run wrote checkpoints")
			}
			if _, err := os.Stat(filepath.Join(out, MetricsFile)); err == nil {
				t.Fatal("a refused run started training")
			}
		})
	}
}

// TestDPODropsTies: rows with equal ranks or the same answer on both sides
// make no pair; the rest train.
func TestDPODropsTies(t *testing.T) {
	rows := []dataset.Comparison{
		{Prompt: "p", Chosen: "a", Rejected: "b", ChosenRank: 1, RejectedRank: 2},
		{Prompt: "p", Chosen: "a", Rejected: "c", ChosenRank: 2, RejectedRank: 2},
		{Prompt: "q", Chosen: "x", Rejected: "x"},
		{Prompt: "r", Chosen: "x", Rejected: "y"},
	}
	kept, ties := dropTies(rows)
	if ties != 2 || len(kept) != 2 || kept[0].Rejected != "b" || kept[1].Prompt != "r" {
		t.Fatalf("kept %+v, %d ties", kept, ties)
	}
}

// TestDPOReferenceCacheIsOurs: an --out file named like the cache that rlhf
// dpo did not write is neither used nor replaced; a cache of other data is
// replaced; a run cancelled while computing the reference says so and
// leaves no checkpoint.
func TestDPOReferenceCacheIsOurs(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(4, 1))
	opts := func(out string) DPOOptions {
		return DPOOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: out, MaxSteps: 1, LR: 1e-3,
			BatchSize: 2, MaxSeqLen: 64, Backend: "go"}}
	}
	foreign := filepath.Join(root, "foreign")
	os.MkdirAll(foreign, 0o755)
	cache := filepath.Join(foreign, RefLogpsFile)
	os.WriteFile(cache, []byte(`{"mine": true}`), 0o644)
	if _, err := RunDPO(context.Background(), opts(foreign)); err == nil || !strings.Contains(err.Error(), "is not a reference log-prob cache") {
		t.Fatalf("foreign %s: %v", RefLogpsFile, err)
	}
	if b, _ := os.ReadFile(cache); string(b) != `{"mine": true}` {
		t.Fatalf("foreign file replaced: %s", b)
	}

	stale := filepath.Join(root, "stale")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, RefLogpsFile), []byte(`{"format":"`+refLogpsFormat+`","key":"other","train":[[1]]}`), 0o644)
	res, err := RunDPO(context.Background(), opts(stale))
	if err != nil || res.RefCached {
		t.Fatalf("stale cache: %+v, %v", res, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(root, "cancelled")
	if _, err := RunDPO(ctx, opts(out)); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "reference log-probs") {
		t.Fatalf("cancelled run: %v", err)
	}
	if steps, _ := ListCheckpoints(out); len(steps) > 0 {
		t.Fatal("a run cancelled before training wrote checkpoints")
	}
}
