package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// notPublished fails the test when out holds a published model.
func notPublished(t *testing.T, out string) {
	t.Helper()
	for _, f := range []string{"model.safetensors", "config.json", filepath.Join(CriticDir, "model.safetensors")} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("a diverged run published %s (%v)", f, err)
		}
	}
}

// wantDiverged fails the test unless err is the explosion error and
// mentions every one of parts.
func wantDiverged(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("a run with exploding losses succeeded")
	}
	t.Log(err)
	for _, p := range append([]string{"training diverged", "the model is not published"}, parts...) {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

// TestSFTExplodingLossFails: with a huge learning rate the losses stay
// finite but reach 1e13; the run fails instead of publishing, names the
// loss and the newest checkpoint, which stays and loads, and writes no
// checkpoint of the exploded weights.
func TestSFTExplodingLossFails(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := filepath.Join(root, "sft")
	writeDataset(t, filepath.Join(data, "train"), sftRows())
	writeDataset(t, filepath.Join(data, "val"), sftRows())

	// A sane first step, then --resume with --lr 1e6: the validation after
	// step 2 explodes.
	out := filepath.Join(root, "val")
	o := SFTOptions{Model: base, Data: data, StopAfter: 1, CommonOptions: CommonOptions{Out: out, MaxSteps: 4, LR: 1e-3,
		BatchSize: 1, MaxSeqLen: 64, EvalEvery: 1, Backend: "go"}}
	if res, err := RunSFT(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("first step: %+v %v", res, err)
	}
	o.StopAfter, o.Resume, o.LR = 0, true, 1e6
	_, err := RunSFT(context.Background(), o)
	wantDiverged(t, err, "at step 2", "validation loss", "is above 1000", "newest is "+CheckpointDir(out, 1), "LR (now 1e+06)")
	notPublished(t, out)
	if steps, _ := ListCheckpoints(out); len(steps) != 1 || steps[0] != 1 {
		t.Fatalf("checkpoints %v, want only step 1 (none of the exploded weights)", steps)
	}
	if _, err := model.Load(CheckpointDir(out, 1)); err != nil {
		t.Fatal(err)
	}

	// Without validation data the training loss of step 2 (computed on
	// the weights of the exploded first update) stops the run.
	out = filepath.Join(root, "train")
	_, err = RunSFT(context.Background(), SFTOptions{Model: base, Data: filepath.Join(data, "train"), CommonOptions: CommonOptions{
		Out: out, MaxSteps: 3, LR: 1e6, BatchSize: 1, MaxSeqLen: 64, Backend: "go"}})
	wantDiverged(t, err, "at step 2", "training loss", "no checkpoint was written yet", "LR")
	notPublished(t, out)
}

// TestRMExplodingLossFails: the reward model gets the same rule from the
// shared loop (--lr 1000: the validation loss reaches 1e6). At --lr 1e6 it
// collapses instead: every response gets the same reward of about 1e12 and
// the pairwise loss stays ln 2; publishing that fails too.
func TestRMExplodingLossFails(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := filepath.Join(root, "cmp")
	writeDataset(t, filepath.Join(data, "train"), keywordComparisons(8, 3))
	writeDataset(t, filepath.Join(data, "val"), keywordComparisons(4, 4))
	run := func(name string, lr float64) (string, error) {
		out := filepath.Join(root, name)
		_, err := RunRM(context.Background(), RMOptions{Model: base, Data: data, CommonOptions: CommonOptions{
			Out: out, MaxSteps: 4, LR: lr, BatchSize: 2, MaxSeqLen: 64, EvalEvery: 2, Backend: "go"}})
		return out, err
	}
	out, err := run("exploded", 1e3)
	wantDiverged(t, err, "at step 2", "loss", "is above 1000", "LR (now 1000)")
	notPublished(t, out)

	out, err = run("collapsed", 1e6)
	wantDiverged(t, err, "the same reward", "newest is "+CheckpointDir(out, 4), "LR (now 1e+06)")
	notPublished(t, out)
}

// TestPPOExplodingValueLossFails: a huge critic learning rate makes the
// value loss explode (finite, so the guard lets it through); the run fails
// and publishes neither actor nor critic.
func TestPPOExplodingValueLossFails(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), "out"))
	o.Iterations, o.LR, o.CriticLR = 3, 1e-3, 1e3
	_, err := RunPPO(context.Background(), o)
	wantDiverged(t, err, "at iteration 1", "value loss", "is above", "CriticLR (now 1000)")
	notPublished(t, o.Out)
}

// TestExplosionRule: non-finite values always explode; finite ones above
// max(ExplodeFactor × reference, ExplodeFloor), where the reference is the
// first value recorded in the trainer state (so it survives --resume).
func TestExplosionRule(t *testing.T) {
	st := &TrainerState{}
	if limit, ref := explosionLimit(st, "loss", 5e12, false); limit != ExplodeFloor || ref != 0 || len(st.Extra) != 0 {
		t.Fatalf("a validation loss became the reference: limit %v ref %v extra %v", limit, ref, st.Extra)
	}
	limit, ref := explosionLimit(st, "loss", 20, true)
	if limit != 2000 || ref != 20 || st.Extra["first_loss"] != 20 {
		t.Fatalf("limit %v ref %v extra %v, want 2000 20", limit, ref, st.Extra)
	}
	if limit, _ = explosionLimit(st, "loss", 1e9, true); limit != 2000 {
		t.Fatalf("the reference moved: limit %v", limit)
	}
	if limit, _ = explosionLimit(&TrainerState{}, "loss", 0.7, true); limit != ExplodeFloor {
		t.Fatalf("small reference: limit %v, want the floor", limit)
	}
	if _, ref = explosionLimit(&TrainerState{}, "loss", math.NaN(), true); ref != 0 {
		t.Fatalf("a NaN became the reference: %v", ref)
	}
	for _, c := range []struct {
		x    float64
		want bool
	}{{1999, false}, {-5, false}, {2001, true}, {math.NaN(), true}, {math.Inf(1), true}, {math.Inf(-1), true}} {
		if got := (explosion{x: c.x, limit: 2000}).exploded(); got != c.want {
			t.Errorf("exploded(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	// PPO's KL: per response token, limit ExplodeFloor; NaN stops the run
	// (--max-kl compares and lets NaN through).
	for _, c := range []struct {
		kl, length float64
		want       bool
	}{{5, 8, false}, {math.NaN(), 8, true}, {math.Inf(1), 8, true}, {9000, 8, true}, {9000, 10, false}, {-3, 0, false}} {
		if got := klExplosion(c.kl, c.length).exploded(); got != c.want {
			t.Errorf("KL %v over %v tokens: exploded %v, want %v", c.kl, c.length, got, c.want)
		}
	}
}
