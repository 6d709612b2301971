package cmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/plan"
	"github.com/rlhf-project/rlhf/train"
)

func runPlanCmd(t *testing.T, runF func(context.Context, io.Writer, plan.CommandOptions) error, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd(func() *cobra.Command { return newPlanCmd(runF) })
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(append([]string{"--no-progress", "plan"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestPlanFlagsReachOptions(t *testing.T) {
	var got plan.CommandOptions
	_, err := runPlanCmd(t, func(_ context.Context, _ io.Writer, o plan.CommandOptions) error { got = o; return nil },
		"--step", "ppo", "--algo", "grpo", "--policy", "p", "--reward", "r", "--mini-batch", "4", "--max-new-tokens", "64",
		"--lora-rank", "16", "--lora-targets", "q_proj,v_proj", "--grad-checkpoint", "--dtype", "bf16", "--ref-dtype", "f32",
		"--device-memory", "2xA100-40G")
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != "ppo" || got.Algo != "grpo" || got.PolicyPath != "p" || got.RewardPath != "r" || got.MiniBatch != 4 ||
		got.MaxNewTokens != 64 || got.MaxPromptLen != 256 || got.LoRA.Rank != 16 || got.LoRATargets != "q_proj,v_proj" ||
		!got.GradCheckpoint || got.DType != "bfloat16" || got.RefDType != "float32" || got.RewardDType != "" ||
		got.DeviceMemory != "2xA100-40G" {
		t.Fatalf("plan options %+v", got)
	}
	if _, err := runPlanCmd(t, nil, "--step", "kto", "--policy", "p"); err == nil || !strings.Contains(err.Error(), "--step") {
		t.Errorf("--step kto: %v", err)
	}
}

// TestPlanTable runs rlhf plan on the fixtures: a 1.3B actor with a 350M
// critic does not fit one A100-40G as given and fits with the suggested
// settings; a 0.5B SFT run with LoRA fits.
func TestPlanTable(t *testing.T) {
	out, err := runPlanCmd(t, nil, "--step", "ppo", "--policy", "../testdata/plan/gpt-1.3b.json",
		"--reward", "../testdata/plan/gpt-350m.json", "--device-memory", "A100-40G")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"optimizer state", "KV cache", "does not fit", "--grad-checkpoint", "with them:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "yes") {
		t.Errorf("the suggested settings do not fit:\n%s", out)
	}
	out, err = runPlanCmd(t, nil, "--policy", "../testdata/plan/qwen2-0.5b.json", "--lora-rank", "16", "--device-memory", "40GiB")
	if err != nil || !strings.Contains(out, "fits.") {
		t.Errorf("qwen2-0.5b LoRA sft: %v\n%s", err, out)
	}
	if _, err := runPlanCmd(t, nil, "--step", "ppo", "--policy", "../testdata/plan/gpt-1.3b.json"); err == nil || !strings.Contains(err.Error(), "--reward") {
		t.Errorf("ppo without --reward: %v", err)
	}
	if _, err := runPlanCmd(t, nil, "--policy", "../testdata/plan/gpt-1.3b.json", "--device-memory", "lots"); err == nil || !strings.Contains(err.Error(), "--device-memory") {
		t.Errorf("--device-memory lots: %v", err)
	}
}

// TestSFTRefusesWhatCannotFit: with --device-memory, sft estimates the
// run first and refuses one that does not fit, printing the table; --force
// runs it anyway; without --device-memory nothing is checked.
func TestSFTRefusesWhatCannotFit(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile("../testdata/plan/gpt-1.3b.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (ran bool, stderr string, err error) {
		root := newRootCmd(func() *cobra.Command {
			return newSFTCmd(func(context.Context, train.SFTOptions) error { ran = true; return nil })
		})
		var errBuf bytes.Buffer
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&errBuf)
		root.SetArgs(append([]string{"--no-progress", "sft", "--model", dir, "--data", "d", "--out", "o"}, args...))
		err = root.Execute()
		return ran, errBuf.String(), err
	}
	ran, stderr, err := run("--device-memory", "A100-40G")
	if err == nil || ran || !strings.Contains(err.Error(), "--force") || !strings.Contains(stderr, "optimizer state") {
		t.Fatalf("1.3B full SFT on A100-40G: ran %v, err %v\n%s", ran, err, stderr)
	}
	if ran, stderr, err := run("--device-memory", "A100-40G", "--force"); err != nil || !ran || !strings.Contains(stderr, "--force") {
		t.Errorf("--force: ran %v, err %v\n%s", ran, err, stderr)
	}
	if ran, _, err := run("--device-memory", "A100-40G", "--lora-rank", "16", "--grad-checkpoint"); err != nil || !ran {
		t.Errorf("LoRA + checkpointing: ran %v, err %v", ran, err)
	}
	if ran, _, err := run(); err != nil || !ran {
		t.Errorf("no --device-memory: ran %v, err %v", ran, err)
	}
}

// TestTrainersRefuseWhatCannotFit: rm, dpo and ppo check the estimate as
// sft does.
func TestTrainersRefuseWhatCannotFit(t *testing.T) {
	big, small := t.TempDir(), t.TempDir()
	for dir, src := range map[string]string{big: "gpt-1.3b.json", small: "gpt-350m.json"} {
		cfg, err := os.ReadFile(filepath.Join("../testdata/plan", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"rm", "--model", big, "--data", "d", "--out", "o"},
		{"dpo", "--model", big, "--data", "d", "--out", "o"},
		{"ppo", "--policy", big, "--reward", small, "--prompts", "p", "--out", "o"},
	} {
		ran := false
		root := newRootCmd(
			func() *cobra.Command {
				return newRMCmd(func(context.Context, train.RMOptions) error { ran = true; return nil })
			},
			func() *cobra.Command {
				return newDPOCmd(func(context.Context, train.DPOOptions) error { ran = true; return nil })
			},
			func() *cobra.Command {
				return newPPOCmd(func(context.Context, train.PPOOptions) error { ran = true; return nil })
			},
		)
		var errBuf bytes.Buffer
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&errBuf)
		root.SetArgs(append([]string{"--no-progress"}, append(args, "--device-memory", "16GiB")...))
		err := root.Execute()
		if err == nil || ran || !strings.Contains(errBuf.String(), "optimizer state") {
			t.Errorf("%s on 16GiB: ran %v, err %v\n%s", args[0], ran, err, errBuf.String())
		}
	}
}

// TestSFTChecksCUDAMemory: on the xla:cuda backend without
// --device-memory, the check uses the GPU's memory nvidia-smi reports; on
// the go backend, or when the query fails, nothing is checked.
func TestSFTChecksCUDAMemory(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile("../testdata/plan/gpt-1.3b.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(q func() ([]int64, error)) { queryGPUMemory = q }(queryGPUMemory)
	t.Setenv("RLHF_BACKEND", "")
	run := func(gpus []int64, qerr error, args ...string) (bool, error) {
		queryGPUMemory = func() ([]int64, error) { return gpus, qerr }
		ran := false
		root := newRootCmd(func() *cobra.Command {
			return newSFTCmd(func(context.Context, train.SFTOptions) error { ran = true; return nil })
		})
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append([]string{"--no-progress", "sft", "--model", dir, "--data", "d", "--out", "o"}, args...))
		return ran, root.Execute()
	}
	if ran, err := run([]int64{16 << 30}, nil, "--backend", "xla:cuda"); ran || err == nil || !strings.Contains(err.Error(), "nvidia-smi") {
		t.Errorf("xla:cuda with a 16 GiB GPU: ran %v, err %v", ran, err)
	}
	if ran, err := run([]int64{16 << 30}, nil, "--backend", "go"); !ran || err != nil {
		t.Errorf("go backend: ran %v, err %v", ran, err)
	}
	if ran, err := run(nil, errors.New("no nvidia-smi"), "--backend", "xla:cuda"); !ran || err != nil {
		t.Errorf("query fails: ran %v, err %v", ran, err)
	}
	if ran, err := run([]int64{16 << 30}, nil, "--backend", "xla:cuda", "--device-memory", "H200"); !ran || err != nil {
		t.Errorf("--device-memory H200 overrides the query: ran %v, err %v", ran, err)
	}
}
