package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/safetensors"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

func TestScheduleWarmupCosine(t *testing.T) {
	s := Schedule{Peak: 1, Warmup: 4, Total: 14, MinRatio: 0.1}
	want := map[int]float64{0: 0.25, 3: 1, 4: 1, 9: 0.55, 14: 0.1, 20: 0.1}
	for step, w := range want {
		if got := s.At(step); math.Abs(got-w) > 1e-12 {
			t.Errorf("At(%d) = %v, want %v", step, got, w)
		}
	}
}

// TestSFTLossMasksPrompt: targets at prompt positions do not count; a
// response target does.
func TestSFTLossMasksPrompt(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	m, tok, err := loadModel("Model", base, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 64, Truncate: infer.TruncateLeft}
	e, _ := enc.Encode("what colour?", "red", nil)
	if e.PromptLen != len("Human: what colour?\n\nAssistant: ") || len(e.Tokens) != e.PromptLen+4 {
		t.Fatalf("encoding: prompt %d tokens of %d", e.PromptLen, len(e.Tokens))
	}
	b := MakeBatch([]infer.Encoded{e}, 2, 64, tok.PAD())
	if b.NumTokens != 4 { // "red" + EOS
		t.Fatalf("%d loss tokens, want 4", b.NumTokens)
	}
	backend, _ := NewBackend("go")
	lossFn := SFTLoss(m)
	exec := gmodel.MustNewExec(backend, m.Store, func(scope *gmodel.Scope, in []*Node) *Node {
		l, _ := lossFn(scope, in)
		return l
	})
	loss := func(b Batch) float32 { return exec.MustExec1(SFTInputs(b)...).Value().(float32) }
	l0 := loss(b)
	changed := b
	changed.Targets = append([]int32(nil), b.Targets...)
	for i := 0; i < e.PromptLen-1; i++ {
		changed.Targets[i] = int32((i * 37) % 256)
	}
	if l1 := loss(changed); l1 != l0 {
		t.Fatalf("changing prompt targets changed the loss: %v → %v", l0, l1)
	}
	changed.Targets[e.PromptLen] = (changed.Targets[e.PromptLen] + 1) % 256
	if l2 := loss(changed); l2 == l0 {
		t.Fatal("changing a response target did not change the loss")
	}
}

// TestOptimizerSkipsNonFinite: a NaN loss leaves weights and moments
// untouched; the next finite batch trains.
func TestOptimizerSkipsNonFinite(t *testing.T) {
	backend, _ := NewBackend("go")
	store := gmodel.NewStore()
	w, err := store.CreateVariable("/w", tensors.FromValue([]float32{1, 2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	loss := func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		d := Sub(w.NodeValue(in[0].Graph()), in[0])
		return ReduceAllSum(Square(d)), nil
	}
	opt := NewOptimizer(backend, store, loss, OptimizerConfig{ClipGrad: 1})
	step := func(x []float32) StepResult {
		if _, err := opt.Micro(tensors.FromValue(x)); err != nil {
			t.Fatal(err)
		}
		r, err := opt.Step(0.1)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := step([]float32{0, 0, 0}); !r.Applied || math.Abs(r.GradNorm-2*math.Sqrt(14)) > 1e-4 {
		t.Fatalf("first step: %+v", r)
	}
	snapshot := map[string][]float32{}
	for v := range store.IterVariables() {
		if v.DType() == dtypes.Float32 {
			snapshot[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	if r := step([]float32{float32(math.NaN()), 0, 0}); r.Applied {
		t.Fatalf("NaN step applied: %+v", r)
	}
	for v := range store.IterVariables() {
		if old, ok := snapshot[v.Path()]; ok && !strings.HasPrefix(v.Path(), AccGradsScope) {
			now := tensors.MustCopyFlatData[float32](v.MustValue())
			for i := range old {
				if old[i] != now[i] {
					t.Fatalf("%s changed by a skipped update: %v → %v", v.Path(), old, now)
				}
			}
		}
	}
	if r := step([]float32{0, 0, 0}); !r.Applied || !finite(r.GradNorm) {
		t.Fatalf("step after a skipped one: %+v", r)
	}
}

// poisonedModelDir is a tiny model whose position embeddings from 40 on
// are NaN: rows longer than 40 tokens give a NaN loss, shorter ones train.
func poisonedModelDir(t *testing.T) string {
	dir := tinyModelDir(t, 1, 32, 64)
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Variable("transformer.wpe.weight")
	vals := tensors.MustCopyFlatData[float32](v.MustValue())
	for i := 40 * 32; i < len(vals); i++ {
		vals[i] = float32(math.NaN())
	}
	if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, 64, 32)); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSFTDivergenceGuard(t *testing.T) {
	base := poisonedModelDir(t)
	root := t.TempDir()
	rows := append(sftRows(), dataset.SFT{Prompt: "tell me a long story", Response: strings.Repeat("long ", 6)})
	data := writeDataset(t, filepath.Join(root, "sft"), rows)
	opts := func(out string, skip int) SFTOptions {
		return SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: out, Epochs: 2, LR: 1e-3,
			BatchSize: 1, MaxSeqLen: 64, EvalEvery: 1, Backend: "go", SkipNonFinite: skip}}
	}
	out := filepath.Join(root, "stop")
	_, err := RunSFT(context.Background(), opts(out, 0))
	if err == nil || !strings.Contains(err.Error(), "diverged") || !strings.Contains(err.Error(), "SkipNonFinite") {
		t.Fatalf("want a divergence error, got %v", err)
	}
	// Checkpoints are written every step, so the one before the bad batch
	// exists, is named, and loads.
	steps, _ := ListCheckpoints(out)
	if len(steps) == 0 {
		t.Fatalf("no checkpoint before the bad batch: %v", err)
	}
	last := CheckpointDir(out, steps[len(steps)-1])
	if !strings.Contains(err.Error(), "last good checkpoint is "+last) ||
		!strings.Contains(err.Error(), fmt.Sprintf("diverged at step %d", steps[len(steps)-1]+1)) {
		t.Fatalf("error %q does not name %s as the last good checkpoint", err, last)
	}
	if _, err := model.Load(last); err != nil {
		t.Fatalf("last good checkpoint does not load: %v", err)
	}
	// Skipping is allowed up to N bad batches: the long row comes up once per epoch.
	out2 := filepath.Join(root, "skip")
	if _, err := RunSFT(context.Background(), opts(out2, 2)); err != nil {
		t.Fatalf("with --skip-nonfinite 2: %v", err)
	}
	rowsLog, _ := ReadMetrics(filepath.Join(out2, MetricsFile))
	if got := rowsLog[len(rowsLog)-1]["skipped_nonfinite"]; got != 2 {
		t.Fatalf("skipped %v updates, want 2", got)
	}
}

// TestSFTResumeIsExact: interrupted at step 3 and resumed gives the same
// weights at step 8 as an uninterrupted run (go backend).
func TestSFTResumeIsExact(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	rows := append(sftRows(), dataset.SFT{Prompt: "sea?", Response: "deep"}, dataset.SFT{Prompt: "sun?", Response: "hot"},
		dataset.SFT{Prompt: "ice?", Response: "cold"})
	data := writeDataset(t, filepath.Join(root, "sft"), rows)
	opts := func(out string) SFTOptions {
		return SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: out, MaxSteps: 8, LR: 3e-3, Warmup: 2,
			BatchSize: 2, GradAccum: 2, MaxSeqLen: 64, EvalEvery: 100, WeightDecay: 0.01, Backend: "go"}}
	}
	full := filepath.Join(root, "full")
	if _, err := RunSFT(context.Background(), opts(full)); err != nil {
		t.Fatal(err)
	}
	parts := filepath.Join(root, "parts")
	o := opts(parts)
	o.StopAfter = 3
	res, err := RunSFT(context.Background(), o)
	if err != nil || !res.Stopped || res.Steps != 3 {
		t.Fatalf("interrupted run: %+v, %v", res, err)
	}
	if _, err := RunSFT(context.Background(), opts(parts)); err == nil || !strings.Contains(err.Error(), "Resume") {
		t.Fatalf("reusing --out without --resume: %v", err)
	}
	o = opts(parts)
	o.Resume = true
	if _, err := RunSFT(context.Background(), o); err != nil {
		t.Fatal(err)
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
			t.Fatalf("weight %s differs between the uninterrupted and the resumed run", name)
		}
	}
	la, _ := ReadMetrics(filepath.Join(full, MetricsFile))
	lb, _ := ReadMetrics(filepath.Join(parts, MetricsFile))
	if len(la) != len(lb) {
		t.Fatalf("metrics: %d lines vs %d", len(la), len(lb))
	}
	for i := range la {
		if la[i]["loss"] != lb[i]["loss"] || la[i]["step"] != lb[i]["step"] {
			t.Fatalf("metrics line %d: %v vs %v", i, la[i], lb[i])
		}
	}
}

func TestRefusals(t *testing.T) {
	root := t.TempDir()
	base := tinyModelDir(t, 1, 32, 64)
	sft := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	cmp := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(2, 1))
	empty := writeDataset[dataset.SFT](t, filepath.Join(root, "empty"), nil)

	noTok := filepath.Join(root, "notok")
	copyDir(t, base, noTok)
	os.Remove(filepath.Join(noTok, "tokenizer.json"))
	copyDir(t, base, noTok+"-out")

	smallVocab := filepath.Join(root, "smallvocab")
	cfg, _ := model.NewConfig(model.ArchGPT2, 100, 1, 32, 4, 0)
	cfg.MaxPositions = 64
	mv, _ := model.New(cfg, 1)
	if err := mv.Save(smallVocab); err != nil {
		t.Fatal(err)
	}
	tokenizer.WriteByteLevel(filepath.Join(smallVocab, "tokenizer.json"))

	cases := []struct {
		name string
		run  func(out string) error
		want string
	}{
		{"sft on comparisons", func(out string) error { return sftErr(base, cmp, out, 64) }, `holds "comparison" records, expected "sft"`},
		{"rm on sft data", func(out string) error {
			_, err := RunRM(context.Background(), RMOptions{Model: base, Data: sft, CommonOptions: CommonOptions{Out: out, Backend: "go", MaxSeqLen: 64}})
			return err
		}, `holds "sft" records, expected "comparison"`},
		{"empty dataset", func(out string) error { return sftErr(base, empty, out, 64) }, "the dataset is empty"},
		{"sft on comparison jsonl", func(out string) error {
			return sftErr(base, "../testdata/train/comparisons.jsonl", out, 64)
		}, "comparisons.jsonl:1: empty response (is this sft data?)"},
		{"rm on sft jsonl", func(out string) error {
			_, err := RunRM(context.Background(), RMOptions{Model: base, Data: "../testdata/train/sft.jsonl", CommonOptions: CommonOptions{Out: out, Backend: "go", MaxSeqLen: 64}})
			return err
		}, "sft.jsonl:1: empty chosen or rejected response (is this comparison data?)"},
		{"no tokenizer", func(out string) error { return sftErr(noTok, sft, out, 64) }, "has no tokenizer.json"},
		{"max-seq-len above context", func(out string) error { return sftErr(base, sft, out, 128) }, "MaxSeqLen 128 is above the context"},
		{"vocab mismatch", func(out string) error { return sftErr(smallVocab, sft, out, 64) }, "the tokenizer has 257 tokens but the embedding has 100 rows"},
		{"out is the model", func(string) error { return sftErr(noTok+"-out", sft, noTok+"-out", 64) }, "is also an input"},
		{"bad flag", func(out string) error {
			_, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: sft, CommonOptions: CommonOptions{Out: out, Truncate: "right"}})
			return err
		}, `Truncate "right"`},
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

func sftErr(modelDir, data, out string, maxLen int) error {
	_, err := RunSFT(context.Background(), SFTOptions{Model: modelDir, Data: data,
		CommonOptions: CommonOptions{Out: out, Backend: "go", MaxSeqLen: maxLen}})
	return err
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(dst, 0o755)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
}

// TestWeightDecayMatricesOnly: with a zero gradient, AdamW's step is 0 and
// only the decoupled decay acts: matrices shrink by lr·wd, biases do not.
func TestWeightDecayMatricesOnly(t *testing.T) {
	backend, _ := NewBackend("go")
	store := gmodel.NewStore()
	w, _ := store.CreateVariable("/w", tensors.FromValue([][]float32{{1, 2}, {3, 4}}))
	bias, _ := store.CreateVariable("/b", tensors.FromValue([]float32{5, 6}))
	loss := func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		g := in[0].Graph()
		return Mul(in[0], Add(ReduceAllSum(w.NodeValue(g)), ReduceAllSum(bias.NodeValue(g)))), nil
	}
	opt := NewOptimizer(backend, store, loss, OptimizerConfig{WeightDecay: 0.5})
	if _, err := opt.Micro(float32(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := opt.Step(0.1); err != nil {
		t.Fatal(err)
	}
	gotW := tensors.MustCopyFlatData[float32](w.MustValue())
	for i, v := range []float32{1, 2, 3, 4} {
		if want := v * (1 - 0.1*0.5); math.Abs(float64(gotW[i]-want)) > 1e-6 {
			t.Fatalf("w = %v, want each × 0.95", gotW)
		}
	}
	if gotB := tensors.MustCopyFlatData[float32](bias.MustValue()); gotB[0] != 5 || gotB[1] != 6 {
		t.Fatalf("bias decayed: %v", gotB)
	}
}

// TestSFTCancelledSavesACheckpoint: a run whose context ends (Ctrl-C) saves
// a checkpoint and says where to resume; --resume then finishes the run.
func TestSFTCancelledSavesACheckpoint(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	out := filepath.Join(root, "out")
	o := SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: out, MaxSteps: 3, LR: 1e-3,
		BatchSize: 2, GradAccum: 1, MaxSeqLen: 64, EvalEvery: 100, Backend: "go"}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := RunSFT(ctx, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted at step 0") ||
		!strings.Contains(err.Error(), "continue with Resume") {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, serr := os.Stat(CheckpointDir(out, 0)); serr != nil {
		t.Fatalf("no checkpoint after the interruption (%v): %v", err, serr)
	}
	o.Resume = true
	res, err := RunSFT(context.Background(), o)
	if err != nil || res.Steps != 3 {
		t.Fatalf("resumed run: %+v, %v", res, err)
	}
}
