package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// keywordComparisons is a learnable synthetic preference: in each group
// of three answers, more occurrences of "good" rank higher; every fourth
// group is a plain pair instead.
func keywordComparisons(n int, seed uint64) []dataset.Comparison {
	rng := rand.New(rand.NewPCG(seed, 1))
	word := func() string {
		b := make([]byte, 2+rng.IntN(3))
		for i := range b {
			b[i] = "abcdefhijklmnpqrstuvwxyz"[rng.IntN(24)]
		}
		return string(b)
	}
	answer := func(goods int) string {
		parts := []string{word(), word(), word()}
		for range goods {
			parts[rng.IntN(len(parts))] += " good"
		}
		return strings.Join(parts, " ")
	}
	var rows []dataset.Comparison
	for i := range n {
		prompt := fmt.Sprintf("say %s", word())
		task := dataset.Tasks[i%2]
		if i%4 == 3 {
			rows = append(rows, dataset.Comparison{ID: fmt.Sprint(i), Prompt: prompt, Chosen: answer(1), Rejected: answer(0), Task: task})
			continue
		}
		a := []string{answer(2), answer(1), answer(0)}
		gid := fmt.Sprintf("g%d", i)
		for x := 0; x < 3; x++ {
			for y := x + 1; y < 3; y++ {
				rows = append(rows, dataset.Comparison{ID: fmt.Sprint(i, x, y), GroupID: gid, Prompt: prompt,
					Chosen: a[x], Rejected: a[y], ChosenRank: int32(x + 1), RejectedRank: int32(y + 1), Task: task})
			}
		}
	}
	return rows
}

func TestRMLearnsKeywordPreference(t *testing.T) {
	base := tinyModelDir(t, 2, 32, 64)
	root := t.TempDir()
	data := filepath.Join(root, "cmp")
	writeDataset(t, filepath.Join(data, "train"), keywordComparisons(48, 1))
	writeDataset(t, filepath.Join(data, "val"), keywordComparisons(24, 2))
	out := filepath.Join(root, "rm")
	res, err := RunRM(context.Background(), RMOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: out, Epochs: 3, LR: 3e-3, Warmup: 10, BatchSize: 4, MaxSeqLen: 64, Backend: "go",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ValAccuracy <= 0.9 {
		t.Fatalf("validation pairwise accuracy %.3f, want > 0.9 (by task %v)", res.ValAccuracy, res.ValAccuracyByTask)
	}
	if len(res.ValAccuracyByTask) != 2 {
		t.Errorf("accuracy by task: %v, want 2 tasks", res.ValAccuracyByTask)
	}
	// The published model is a reward model whose mean over the chosen
	// responses is recorded.
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasScoreHead() || m.Meta.Stage != "rm" || m.Meta.RewardStd <= 0 || m.Meta.RewardMean != res.RewardMean {
		t.Fatalf("published model: score head %v, meta %+v", m.HasScoreHead(), m.Meta)
	}
}

// TestRMGroupAveragedLoss checks the loss of a batch holding a 3-answer
// group and a plain pair against the hand-computed value:
// ½·mean over the group's 3 pairs of −log σ(r_c − r_r) + ½·(−log σ) of the pair.
func TestRMGroupAveragedLoss(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	m, tok, err := loadModel("Model", base, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddScoreHead(3); err != nil {
		t.Fatal(err)
	}
	rows := []dataset.Comparison{
		{GroupID: "g", Prompt: "p", Chosen: "first", Rejected: "second", ChosenRank: 1, RejectedRank: 2},
		{GroupID: "g", Prompt: "p", Chosen: "first", Rejected: "third", ChosenRank: 1, RejectedRank: 3},
		{GroupID: "g", Prompt: "p", Chosen: "second", Rejected: "third", ChosenRank: 2, RejectedRank: 3},
		{Prompt: "q", Chosen: "yes", Rejected: "no"},
	}
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 64, Truncate: infer.TruncateLeft}
	groups := GroupComparisons(rows, enc, nil)
	if len(groups) != 2 || len(groups[0].Seqs) != 3 || len(groups[0].Pairs) != 3 || len(groups[1].Pairs) != 1 {
		t.Fatalf("grouping: %+v", groups)
	}
	backend, _ := NewBackend("go")
	scorer, err := infer.NewScorer(backend, m)
	if err != nil {
		t.Fatal(err)
	}
	var r [][]float64
	for _, g := range groups {
		s, err := scorer.RewardsOf(g.Seqs, 8)
		if err != nil {
			t.Fatal(err)
		}
		r = append(r, s)
	}
	sp := func(x float64) float64 { return math.Log(1 + math.Exp(x)) }
	g := r[0]
	want := 0.5*(sp(g[1]-g[0])+sp(g[2]-g[0])+sp(g[2]-g[1]))/3 + 0.5*sp(r[1][1]-r[1][0])

	lossFn := rmLoss(m)
	exec := gmodel.MustNewExec(backend, m.Store, func(scope *gmodel.Scope, in []*Node) *Node {
		l, _ := lossFn(scope, in)
		return l
	})
	b := MakeRMBatch(groups, 64, tok.PAD())
	got := float64(exec.MustExec1(b.inputs()...).Value().(float32))
	if math.Abs(got-want) > 1e-5 {
		t.Fatalf("group-averaged loss %.7f, hand-computed %.7f", got, want)
	}
	// Not the plain mean over the 4 pairs.
	plain := (sp(g[1]-g[0]) + sp(g[2]-g[0]) + sp(g[2]-g[1]) + sp(r[1][1]-r[1][0])) / 4
	if math.Abs(plain-want) < 1e-6 {
		t.Fatalf("test is not discriminating: plain mean %v equals group mean", plain)
	}
}

// TestRMResumeIsExact: the reward model resumes exactly too (groups, Adam
// state, data position), and the published model is centred the same.
func TestRMResumeIsExact(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(10, 3))
	opts := func(out string) RMOptions {
		return RMOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: out, MaxSteps: 5, LR: 1e-3,
			BatchSize: 2, MaxSeqLen: 64, Backend: "go", EvalEvery: 100}}
	}
	full, err := RunRM(context.Background(), opts(filepath.Join(root, "full")))
	if err != nil {
		t.Fatal(err)
	}
	o := opts(filepath.Join(root, "parts"))
	o.StopAfter = 2
	if r, err := RunRM(context.Background(), o); err != nil || !r.Stopped {
		t.Fatalf("interrupted run: %+v %v", r, err)
	}
	o.StopAfter, o.Resume = 0, true
	parts, err := RunRM(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if full.Loss != parts.Loss || full.RewardMean != parts.RewardMean || full.RewardStd != parts.RewardStd {
		t.Fatalf("uninterrupted %+v vs resumed %+v", full, parts)
	}
}

// TestRMFromUntiedModelDropsLMHead: an RM made from a checkpoint with an
// untied lm_head saves only the score head (the *ForSequenceClassification
// layout), and the saved RM loads back as a reward model.
func TestRMFromUntiedModelDropsLMHead(t *testing.T) {
	cfg, err := model.NewConfig(model.ArchLlama, 257, 1, 32, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TieEmbeddings, cfg.MaxPositions, cfg.EOS = false, 64, 256
	m, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "base")
	if err := m.Save(base); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.WriteByteLevel(filepath.Join(base, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Names(), "lm_head.weight") {
		t.Fatalf("the base model should have an untied lm_head: %v", m.Names())
	}
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(8, 1))
	out := filepath.Join(root, "rm")
	if _, err := RunRM(context.Background(), RMOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: out, MaxSteps: 2, LR: 1e-3, BatchSize: 2, MaxSeqLen: 64, Backend: "go"}}); err != nil {
		t.Fatal(err)
	}
	rm, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if rm.HasLMHead || !rm.HasScoreHead() || slices.Contains(rm.Names(), "lm_head.weight") {
		t.Fatalf("saved RM: lm head %v, score head %v, weights %v", rm.HasLMHead, rm.HasScoreHead(), rm.Names())
	}
}
