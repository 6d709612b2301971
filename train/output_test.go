package train

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRunDestAcceptsOnlyARunOfTheSameKind: a training run may write into
// a missing or empty folder or an earlier run of its kind (a published
// model of its stage, its checkpoints, or a run stopped before its first
// checkpoint), nothing else.
func TestRunDestAcceptsOnlyARunOfTheSameKind(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, files map[string]string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(p, 0o755)
		for f, content := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(p, f)), 0o755)
			os.WriteFile(filepath.Join(p, f), []byte(content), 0o644)
		}
		return p
	}
	sftModel := mk("sft-model", map[string]string{"config.json": "{}", "rlhf.json": `{"prompt_template":"{prompt}","stage":"sft"}`, "metrics.jsonl": ""})
	initModel := mk("init-model", map[string]string{"config.json": "{}", "rlhf.json": `{"prompt_template":"{prompt}","stage":"init"}`})
	stopped := mk("stopped", map[string]string{"metrics.jsonl": `{"step":1}`, "loss.png": "png", ".x.tmp": ""})
	notes := mk("notes", map[string]string{"metrics.jsonl": `{"step":1}`, "notes.txt": "mine"})
	hfModel := mk("hf-model", map[string]string{"config.json": "{}", "model.safetensors": ""})
	empty := mk("empty", nil)
	rmRun := filepath.Join(dir, "rm-run")
	if _, err := SaveCheckpoint(rmRun, 3, func(string) error { return nil }, &TrainerState{Kind: "rm", Step: 3}, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		out, kind string
		ok        bool
	}{
		{filepath.Join(dir, "missing"), "sft", true}, {empty, "sft", true},
		{sftModel, "sft", true}, {sftModel, "rm", false}, {initModel, "sft", false},
		{stopped, "ppo", true}, {notes, "sft", false}, {hfModel, "sft", false},
		{rmRun, "rm", true}, {rmRun, "sft", false},
	} {
		err := RunDest(c.kind, c.out).Check()
		if (err == nil) != c.ok {
			t.Errorf("%s run into %s: %v, want ok=%v", c.kind, filepath.Base(c.out), err, c.ok)
		}
	}
}

// TestWithOutputRemovesOnlyWhatAFailedRunCreated: a run that fails before
// its first checkpoint removes the output folder it created, or what it
// added to a folder that existed; a run with checkpoints (resumable) stays.
func TestWithOutputRemovesOnlyWhatAFailedRunCreated(t *testing.T) {
	dir := t.TempDir()
	fail := errors.New("boom")
	write := func(out string, checkpoint bool) func() (int, error) {
		return func() (int, error) {
			if _, err := OpenMetricsLog(out, 0); err != nil {
				return 0, err
			}
			if checkpoint {
				if _, err := SaveCheckpoint(out, 1, func(string) error { return nil }, &TrainerState{Kind: "sft", Step: 1}, 0); err != nil {
					return 0, err
				}
			}
			return 0, fail
		}
	}
	fresh := filepath.Join(dir, "a", "b", "out")
	if _, err := WithOutput(fresh, write(fresh, false)); err != fail {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatalf("a failed run left its output folder: %v", err)
	}
	existing := filepath.Join(dir, "existing")
	os.Mkdir(existing, 0o755)
	os.WriteFile(filepath.Join(existing, "loss.png"), []byte("old plot"), 0o644)
	WithOutput(existing, write(existing, false))
	if entries, err := os.ReadDir(existing); err != nil || len(entries) != 1 || entries[0].Name() != "loss.png" {
		t.Fatalf("a failed run changed what the folder held: %v, %v", entries, err)
	}
	resumable := filepath.Join(dir, "resumable")
	WithOutput(resumable, write(resumable, true))
	if steps, _ := ListCheckpoints(resumable); len(steps) != 1 {
		t.Fatalf("a failed run with a checkpoint lost it: %v", steps)
	}
	if n, err := WithOutput(filepath.Join(dir, "ok"), func() (int, error) { return 1, nil }); n != 1 || err != nil {
		t.Fatalf("a successful run returned %d, %v", n, err)
	}
}
