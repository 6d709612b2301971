package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
)

// TestScoreAgreesWithTraining holds `rlhf score` (package model) to the way
// the reward model is trained and PPO scores (package train): the same
// prompt tokens and the reward read at the same place, so a reward printed
// by score is the reward RM training optimised.
func TestScoreAgreesWithTraining(t *testing.T) {
	dir := tinyModelDir(t, 1, 32, 128)
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddScoreHead(3); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	m, tok, err := loadModel("Model", dir, 128, "")
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{"什么是长城？", "长城是古代的防御工程。"}, {"hi", "hello there"}, {"q", ""}}

	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 128, Truncate: infer.TruncateLeft}
	var seqs []infer.Encoded
	for _, p := range pairs {
		e, ok := enc.Encode(p[0], p[1], nil)
		if !ok {
			t.Fatal("encode")
		}
		if want := enc.Prompt(p[0]); e.PromptLen != len(want) {
			t.Fatalf("prompt tokens: train %d, model %d", e.PromptLen, len(want))
		}
		seqs = append(seqs, e)
	}
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := infer.NewScorer(backend, m)
	if err != nil {
		t.Fatal(err)
	}
	trained, err := sc.RewardsOf(seqs, 4)
	if err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	in := filepath.Join(tmp, "in")
	var rows []dataset.Response
	for _, p := range pairs {
		rows = append(rows, dataset.Response{Prompt: p[0], Response: p[1]})
	}
	writeDataset(t, in, rows)
	out := filepath.Join(tmp, "scored")
	if err := infer.RunScore(context.Background(), infer.ScoreOptions{Model: dir, Data: []string{in}, Out: out, BatchSize: 2}); err != nil {
		t.Fatal(err)
	}
	scored, err := dataset.ReadAll[dataset.Response](out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pairs {
		if scored[i].Reward == nil || math.Abs(*scored[i].Reward-trained[i]) > 1e-4 {
			t.Errorf("row %d: rlhf score %v, training scorer %v", i, scored[i].Reward, trained[i])
		}
	}
}
