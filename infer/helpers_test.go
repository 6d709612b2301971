package infer

import (
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// testPrompts are 16 prompts over the InstructGPT tasks.
const testPrompts = "../testdata/ppo/prompts.jsonl"

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-5 {
		t.Errorf("%s = %.7f, want %.7f", what, got, want)
	}
}

// tinyModels writes a random gpt2-style policy (byte-level tokenizer) and a
// reward model with a random score head on the same trunk.
func tinyModels(t testing.TB) (policy, rm string) {
	t.Helper()
	cfg, err := model.NewConfig(model.ArchGPT2, 257, 2, 32, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxPositions, cfg.EOS = 128, 256
	m, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	policy = filepath.Join(t.TempDir(), "base")
	rm = filepath.Join(t.TempDir(), "rm")
	for i, dir := range []string{policy, rm} {
		if i == 1 {
			if err := m.AddScoreHead(3); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Save(dir); err != nil {
			t.Fatal(err)
		}
		if err := tokenizer.WriteByteLevel(filepath.Join(dir, "tokenizer.json")); err != nil {
			t.Fatal(err)
		}
	}
	return policy, rm
}

// testBackend is the go backend the tests share (a model's weights live
// on one backend).
var testBackend = sync.OnceValue(func() compute.Backend {
	be, err := model.NewBackend("go")
	if err != nil {
		panic(err)
	}
	return be
})

// runLogits is the full forward pass's logits [B,T,V].
func runLogits(t testing.TB, m *model.Model, tokens, mask [][]int32) [][][]float32 {
	t.Helper()
	exec, err := gmodel.NewExec(testBackend(), m.Store, func(_ *gmodel.Scope, tok, msk *Node) *Node {
		logits, _ := m.Forward(tok, msk)
		return logits
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec1(tensors.FromValue(tokens), tensors.FromValue(mask))
	if err != nil {
		t.Fatal(err)
	}
	return out.Value().([][][]float32)
}
