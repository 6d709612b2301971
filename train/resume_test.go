package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
)

// addTokenizerConfig gives a tiny model folder a tokenizer_config.json
// (tinyModelDir writes only tokenizer.json), so tests see that every
// tokenizer file travels, not just the one the loader insists on.
func addTokenizerConfig(t *testing.T, dir string) {
	t.Helper()
	cfg := []byte(`{"eos_token": "<|endoftext|>", "model_max_length": 128}` + "\n")
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkComplete fails the test unless model folder dir holds base's
// tokenizer files byte for byte and loads as a model with its tokenizer.
func checkComplete(t *testing.T, base, dir string) {
	t.Helper()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		want, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s is incomplete: %v", dir, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s differs from the original model's", dir, f)
		}
	}
	if _, _, err := infer.Load(dir, infer.LoadOptions{MaxSeqLen: 64, RequireEOS: true}); err != nil {
		t.Errorf("%s does not load: %v", dir, err)
	}
}

// checkAllCheckpoints runs checkComplete on every checkpoint of out (and
// on sub, e.g. the critic, inside each), and on out itself.
func checkAllCheckpoints(t *testing.T, base, out string, sub ...string) {
	t.Helper()
	steps, err := ListCheckpoints(out)
	if err != nil || len(steps) == 0 {
		t.Fatalf("checkpoints of %s: %v %v", out, steps, err)
	}
	for _, s := range steps {
		checkComplete(t, base, filepath.Join(CheckpointDir(out, s), filepath.Join(sub...)))
	}
	checkComplete(t, base, filepath.Join(out, filepath.Join(sub...)))
}

// TestSFTResumeAfterPruneKeepsTokenizer: a run stopped, then resumed with
// --keep 1, prunes the checkpoint it resumed from; the later checkpoints
// and the published model still carry the original model's tokenizer
// files, and load.
func TestSFTResumeAfterPruneKeepsTokenizer(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	addTokenizerConfig(t, base)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	out := filepath.Join(root, "out")
	o := SFTOptions{Model: base, Data: data, StopAfter: 2, CommonOptions: CommonOptions{Out: out, MaxSteps: 6, LR: 1e-3,
		BatchSize: 1, MaxSeqLen: 64, EvalEvery: 1, Keep: 1, Backend: "go"}}
	if res, err := RunSFT(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("interrupted run: %+v %v", res, err)
	}
	o.StopAfter, o.Resume = 0, true
	if _, err := RunSFT(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(CheckpointDir(out, 2)); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint resumed from should be pruned by --keep 1: %v", err)
	}
	checkAllCheckpoints(t, base, out)
}

// TestRMResumeAfterPruneKeepsTokenizer is the same for a reward model,
// whose published model is re-saved from its best checkpoint.
func TestRMResumeAfterPruneKeepsTokenizer(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	addTokenizerConfig(t, base)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(6, 3))
	out := filepath.Join(root, "out")
	o := RMOptions{Model: base, Data: data, StopAfter: 2, CommonOptions: CommonOptions{Out: out, MaxSteps: 6, LR: 1e-3,
		BatchSize: 2, MaxSeqLen: 64, EvalEvery: 1, Keep: 1, Backend: "go"}}
	if res, err := RunRM(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("interrupted run: %+v %v", res, err)
	}
	o.StopAfter, o.Resume = 0, true
	if _, err := RunRM(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(CheckpointDir(out, 2)); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint resumed from should be pruned by --keep 1: %v", err)
	}
	checkAllCheckpoints(t, base, out)
	if m, err := model.Load(out); err != nil || !m.HasScoreHead() {
		t.Fatalf("published reward model: %v", err)
	}
}

// TestPPOResumeAfterPruneKeepsTokenizer: actor and critic of every
// checkpoint, and the published ones, keep their tokenizer files after a
// resume whose starting checkpoint was pruned.
func TestPPOResumeAfterPruneKeepsTokenizer(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	addTokenizerConfig(t, policy)
	addTokenizerConfig(t, rm)
	o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), "out"))
	o.Iterations, o.RolloutBatch, o.MiniBatch, o.SaveEvery, o.Keep, o.StopAfter = 4, 4, 4, 1, 1, 1
	if res, err := RunPPO(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("interrupted run: %+v %v", res, err)
	}
	o.StopAfter, o.Resume = 0, true
	if _, err := RunPPO(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(CheckpointDir(o.Out, 1)); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint resumed from should be pruned by --keep 1: %v", err)
	}
	checkAllCheckpoints(t, policy, o.Out)
	checkAllCheckpoints(t, rm, o.Out, CriticDir)
}

// TestDPOResumeAfterPruneKeepsTokenizer is the same for DPO, which trains on
// the shared loop too.
func TestDPOResumeAfterPruneKeepsTokenizer(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	addTokenizerConfig(t, base)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(6, 3))
	out := filepath.Join(root, "out")
	o := DPOOptions{Model: base, Data: data, StopAfter: 2, CommonOptions: CommonOptions{Out: out, MaxSteps: 6, LR: 1e-3,
		BatchSize: 2, MaxSeqLen: 64, EvalEvery: 1, Keep: 1, Backend: "go"}}
	if res, err := RunDPO(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("interrupted run: %+v %v", res, err)
	}
	o.StopAfter, o.Resume = 0, true
	if _, err := RunDPO(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(CheckpointDir(out, 2)); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint resumed from should be pruned by --keep 1: %v", err)
	}
	checkAllCheckpoints(t, base, out)
}
