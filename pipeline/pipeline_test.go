package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cfgText = `workdir: out
vars:
  n: "3"
steps:
  - name: make-data
    args: [write, "${workdir}/data", "${n}"]
    outputs: ["${workdir}/data"]
  - name: train
    args: [write, "${workdir}/model", "x"]
    outputs: ["${workdir}/model"]
`

// fakeRun "runs" a step by writing its output file and recording the call.
func fakeRun(calls *[]string) StepFunc {
	return func(_ context.Context, args []string) error {
		*calls = append(*calls, args[1])
		return os.WriteFile(args[1], []byte(args[2]), 0o644)
	}
}

func writeCfg(t *testing.T, text string) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunSkipsCompleteStepsAndRerunsChangedOnes(t *testing.T) {
	cfg := writeCfg(t, cfgText)
	out := filepath.Join(filepath.Dir(cfg), "out")
	var calls []string
	if err := Run(context.Background(), Options{ConfigFile: cfg}, fakeRun(&calls)); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != filepath.Join(out, "data") {
		t.Fatalf("first run calls %v", calls)
	}
	raw, _ := os.ReadFile(filepath.Join(out, "data"))
	if string(raw) != "3" {
		t.Fatalf("var not substituted: %q", raw)
	}

	calls = nil
	if err := Run(context.Background(), Options{ConfigFile: cfg}, fakeRun(&calls)); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("second run should skip everything, ran %v", calls)
	}

	// Removing the last output reruns only the last step.
	os.Remove(filepath.Join(out, "model"))
	calls = nil
	Run(context.Background(), Options{ConfigFile: cfg}, fakeRun(&calls))
	if len(calls) != 1 || !strings.HasSuffix(calls[0], "model") {
		t.Fatalf("after removing model: %v", calls)
	}

	// Changing the first step's arguments reruns it and everything after it.
	calls = nil
	if err := Run(context.Background(), Options{ConfigFile: cfg, Vars: map[string]string{"n": "4"}}, fakeRun(&calls)); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Fatalf("after changing n: %v", calls)
	}

	calls = nil
	Run(context.Background(), Options{ConfigFile: cfg, Vars: map[string]string{"n": "4"}, Force: true, Only: []string{"train"}}, fakeRun(&calls))
	if len(calls) != 1 || !strings.HasSuffix(calls[0], "model") {
		t.Fatalf("--force --only train: %v", calls)
	}
}

func TestFailedStepIsNotRecorded(t *testing.T) {
	cfg := writeCfg(t, cfgText)
	boom := errors.New("boom")
	err := Run(context.Background(), Options{ConfigFile: cfg}, func(_ context.Context, args []string) error {
		if strings.HasSuffix(args[1], "model") {
			return boom
		}
		return os.WriteFile(args[1], nil, 0o644)
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"train"`) {
		t.Fatalf("want the step's error naming the step, got %v", err)
	}
	var calls []string
	if err := Run(context.Background(), Options{ConfigFile: cfg}, fakeRun(&calls)); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || !strings.HasSuffix(calls[0], "model") {
		t.Fatalf("rerun after failure should run only the failed step: %v", calls)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"steps: []\n", "no steps"},
		{"steps:\n  - name: a\n    args: [x, '${nope}']\n", "${nope} is not defined"},
		{"steps:\n  - name: a\n    args: [x]\n  - name: a\n    args: [y]\n", "used twice"},
		{"stepz: []\n", "stepz"},
	} {
		_, err := Load(writeCfg(t, c.text), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want error with %q, got %v", c.text, c.want, err)
		}
	}
	cfg := writeCfg(t, cfgText)
	if err := Run(context.Background(), Options{ConfigFile: cfg, From: "nope"}, nil); err == nil || !strings.Contains(err.Error(), "From nope") {
		t.Errorf("--from unknown: %v", err)
	}
}

func TestCleanOnFreshRunAndResumeAfterInterruption(t *testing.T) {
	cfg := writeCfg(t, `workdir: out
steps:
  - name: train
    args: [train, "${workdir}/ckpt"]
    outputs: ["${workdir}/ckpt/final"]
    clean: ["${workdir}/ckpt"]
    resume_args: [--resume]
`)
	ckpt := filepath.Join(filepath.Dir(cfg), "out", "ckpt")
	var seen [][]string
	interrupt := true
	train := func(_ context.Context, args []string) error {
		seen = append(seen, args)
		os.MkdirAll(ckpt, 0o755)
		if _, err := os.Stat(filepath.Join(ckpt, "step-1")); err == nil && args[len(args)-1] != "--resume" {
			return errors.New("refusing to overwrite checkpoints")
		}
		os.WriteFile(filepath.Join(ckpt, "step-1"), nil, 0o644)
		if interrupt {
			return context.Canceled
		}
		return os.WriteFile(filepath.Join(ckpt, "final"), nil, 0o644)
	}
	if err := Run(context.Background(), Options{ConfigFile: cfg}, train); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	interrupt = false
	if err := Run(context.Background(), Options{ConfigFile: cfg}, train); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if last := seen[len(seen)-1]; last[len(last)-1] != "--resume" {
		t.Fatalf("interrupted step was not resumed: %v", last)
	}
	// --force starts afresh: the old checkpoints are cleaned first.
	if err := Run(context.Background(), Options{ConfigFile: cfg, Force: true}, train); err != nil {
		t.Fatalf("forced run: %v", err)
	}
	if last := seen[len(seen)-1]; last[len(last)-1] == "--resume" {
		t.Fatalf("forced run resumed: %v", last)
	}
}
