package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/train"
)

// runCaptured runs a root over the sft, rm and ppo commands whose run
// functions only record the options they were given: the flag and --config
// mapping is checked without loading any model.
func runCaptured(t *testing.T, args ...string) (sft train.SFTOptions, rm train.RMOptions, ppo train.PPOOptions, err error) {
	t.Helper()
	root := newRootCmd(
		func() *cobra.Command {
			return newSFTCmd(func(_ context.Context, o train.SFTOptions) error { sft = o; return nil })
		},
		func() *cobra.Command {
			return newRMCmd(func(_ context.Context, o train.RMOptions) error { rm = o; return nil })
		},
		func() *cobra.Command {
			return newPPOCmd(func(_ context.Context, o train.PPOOptions) error { ppo = o; return nil })
		},
	)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(args)
	err = root.Execute()
	return sft, rm, ppo, err
}

func TestTrainFlagsAndConfigReachOptions(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("sft:\n  lr: 3e-4\n  batch-size: 4\n  truncate: drop\nrm:\n  epochs: 3\nppo:\n  kl-coef: 0.1\n  on-max-kl: warn\n"), 0o644)

	sft, _, _, err := runCaptured(t, "--no-progress", "--config", cfg, "sft", "--model", "m", "--data", "d", "--out", "o", "--batch-size", "2", "--dtype", "bf16")
	if err != nil {
		t.Fatal(err)
	}
	want := train.SFTDefaults()
	want.Model, want.Data, want.Out = "m", "d", "o"
	want.LR, want.Truncate = 3e-4, "drop" // from the file
	want.BatchSize = 2                    // the command line wins over the file
	want.DType = "bfloat16"               // alias spelled out
	if sft != want {
		t.Fatalf("sft options\n got %+v\nwant %+v", sft, want)
	}
	if sft.MinLRRatio != 0.1 || sft.ClipGrad != 1 || sft.Keep != 2 || sft.MaxSeqLen != 0 {
		t.Fatalf("sft defaults: %+v", sft.CommonOptions)
	}

	_, rm, _, err := runCaptured(t, "--config", cfg, "rm", "--model", "m", "--data", "d", "--out", "o")
	if err != nil {
		t.Fatal(err)
	}
	if rm.LR != 5e-6 || rm.Epochs != 3 || rm.Model != "m" {
		t.Fatalf("rm options: %+v", rm)
	}

	_, _, ppo, err := runCaptured(t, "--config", cfg, "ppo", "--policy", "p", "--reward", "r", "--prompts", "q", "--out", "o", "--mini-batch", "4")
	if err != nil {
		t.Fatal(err)
	}
	if ppo.KLCoef != 0.1 || ppo.OnMaxKL != "warn" || ppo.MiniBatch != 4 || ppo.RolloutBatch != train.PPODefaults().RolloutBatch ||
		ppo.MaxNewTokens != 0 || ppo.MaxPromptLen != 0 { // left out: fitted to the models' context
		t.Fatalf("ppo options: %+v", ppo)
	}
}

// TestEnumFlagsRefuseOtherValues: closed sets are checked when the flag is
// parsed, naming the flag and the valid values, from the command line and
// from --config.
func TestEnumFlagsRefuseOtherValues(t *testing.T) {
	for _, args := range [][]string{
		{"sft", "--dtype", "fp8"},
		{"sft", "--truncate", "middle"},
		{"rm", "--truncate", "middle"},
		{"ppo", "--on-max-kl", "ignore"},
		{"--log-format", "xml", "sft"},
	} {
		_, _, _, err := runCaptured(t, args...)
		flag := ""
		for _, a := range args {
			if strings.HasPrefix(a, "--") {
				flag = a
			}
		}
		if err == nil || !strings.Contains(err.Error(), flag) || !strings.Contains(err.Error(), "want one of") {
			t.Errorf("%v: %v", args, err)
		}
	}
	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("sft:\n  truncate: middle\n"), 0o644)
	_, _, _, err := runCaptured(t, "--config", cfg, "sft")
	if err == nil || !strings.Contains(err.Error(), cfg) || !strings.Contains(err.Error(), "sft.truncate") || !strings.Contains(err.Error(), "left, drop") {
		t.Errorf("config enum: %v", err)
	}
}

// TestServeFlagsReachOptions: generate, score and eval through their
// run-function seams, flags and --config together.
func TestServeFlagsReachOptions(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("generate:\n  top-p: 0.9\neval:\n  max-new-tokens: 7\n"), 0o644)
	var gen infer.GenerateOptions
	var sc infer.ScoreOptions
	var ev infer.EvalOptions
	root := newRootCmd(
		func() *cobra.Command {
			return newGenerateCmd(func(_ context.Context, o infer.GenerateOptions) error { gen = o; return nil })
		},
		func() *cobra.Command {
			return newScoreCmd(func(_ context.Context, o infer.ScoreOptions) error { sc = o; return nil })
		},
		func() *cobra.Command {
			return newEvalCmd(func(_ context.Context, o infer.EvalOptions) error { ev = o; return nil })
		},
	)
	for _, args := range [][]string{
		{"--config", cfg, "generate", "--model", "m", "--prompts", "a,b", "--out", "o", "--dtype", "bfloat16"},
		{"--config", cfg, "score", "--model", "m", "--data", "d", "--out", "o", "--raw"},
		{"--config", cfg, "eval", "--policy", "p", "--baseline", "b", "--reward", "r", "--prompts", "q", "--out", "o",
			"--reward-fn", "exact-match", "--reward-fn", "regex:a,b", "--reward-timeout", "5s", "--gold-fn", "contains", "--gold-fn", "regex:!$", "--gold-weights", "1,0.5"},
	} {
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if gen.TopP != 0.9 || len(gen.Prompts) != 2 || gen.DType != "bfloat16" || gen.NumSamples != 1 {
		t.Errorf("generate: %+v", gen)
	}
	if !sc.Raw || sc.Model != "m" || sc.DType != "float32" {
		t.Errorf("score: %+v", sc)
	}
	if ev.MaxNewTokens != 7 || ev.Policy != "p" || ev.Baseline != "b" || len(ev.RewardFns) != 2 || ev.RewardFns[1] != "regex:a,b" || ev.RewardTimeout != 5*time.Second ||
		strings.Join(ev.GoldFns, " | ") != "contains | regex:!$" || fmt.Sprint(ev.GoldWeights) != "[1 0.5]" {
		t.Errorf("eval: %+v", ev)
	}
	if ev.Judge != nil {
		t.Errorf("eval without --judge-url has an AI judge: %+v", ev.Judge)
	}
}

// TestEvalJudgeFlags: the --judge-* flags reach the AI gold judge's
// options (--judge-max-retries 0 means none, not the library's default),
// and a --judge-* flag without --judge-url is refused naming it.
func TestEvalJudgeFlags(t *testing.T) {
	var ev infer.EvalOptions
	newRoot := func() *cobra.Command {
		return newRootCmd(func() *cobra.Command {
			return newEvalCmd(func(_ context.Context, o infer.EvalOptions) error { ev = o; return nil })
		})
	}
	base := []string{"eval", "--policy", "p", "--baseline", "b", "--reward", "r", "--prompts", "q", "--out", "o"}
	root := newRoot()
	root.SetArgs(append(base, "--judge-url", "http://127.0.0.1:1/v1", "--judge-model", "judge-m", "--judge-api-key-env", "MY_KEY",
		"--judge-rubric", "r.tmpl", "--judge-lang", "zh", "--judge-concurrency", "2", "--judge-rps", "1.5", "--judge-max-retries", "0",
		"--judge-timeout", "9s", "--judge-cache", "c"))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	j := ev.Judge
	if j == nil || j.BaseURL != "http://127.0.0.1:1/v1" || j.Model != "judge-m" || j.APIKeyEnv != "MY_KEY" || j.Rubric != "r.tmpl" || j.Lang != "zh" ||
		j.Concurrency != 2 || j.RequestsPerSecond != 1.5 || j.MaxRetries != -1 || j.Timeout != 9*time.Second || j.CacheDir != "c" || j.NoCache {
		t.Fatalf("judge options %+v", j)
	}
	root = newRoot()
	root.SetArgs(append(base, "--judge-url", "http://x/v1", "--judge-model", "m"))
	if err := root.Execute(); err != nil || ev.Judge == nil || ev.Judge.MaxRetries != 5 || ev.Judge.Concurrency != 4 || ev.Judge.APIKeyEnv != "OPENAI_API_KEY" || ev.Judge.Lang != "auto" {
		t.Fatalf("judge defaults: %v %+v", err, ev.Judge)
	}
	root = newRoot()
	root.SetArgs(append(base, "--judge-model", "m", "--judge-rps", "2"))
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--judge-model, --judge-rps without --judge-url") {
		t.Fatalf("--judge-model without --judge-url: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--judge-url", "http://x/v1", "--judge-model", "m", "--gold-fn", "recall"}, "--gold-fn and --judge-url together"},
		{[]string{"--judge-url", "http://x/v1"}, "--judge-url without --judge-model"},
	} {
		root = newRoot()
		root.SetArgs(append(base, c.args...))
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error with %q, got %v", c.args, c.want, err)
		}
	}
}

// TestLabelEmptyDBNamesTheFlag: the label library says what is missing; the
// command names its flag.
func TestLabelEmptyDBNamesTheFlag(t *testing.T) {
	for _, args := range [][]string{{"label", "stats", "--db", ""}, {"label", "serve", "--db", ""}, {"label", "add-labeler", "x", "--db", ""}} {
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "--db") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestTokenizerTrainErrorsNameFlags: the tokenizer library says what is
// wrong; the command names the flag (these cases were checked in the
// library when it read the flags' values itself).
func TestTokenizerTrainErrorsNameFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\":\"fine\"}\n{\"title\":\"no text here\"}\n"), 0o644)
	out := filepath.Join(dir, "tokenizer.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", bad, "--out", out}, bad + ":2"},
		{[]string{"--data", bad, "--out", out, "--vocab-size", "100"}, "--vocab-size 100"},
		{[]string{"--out", out}, "--data"},
		{[]string{"--data", bad}, "--out"},
		{[]string{"--data", filepath.Join(dir, "none.jsonl"), "--out", out}, "none.jsonl"},
	} {
		_, err := run(t, append([]string{"--no-progress", "tokenizer", "train"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s", out)
	}
}

// TestPPOAlgoAndRewardFlags: --algo, --num-samples and the reward sources
// reach the options (from the command line and --config); critic-only
// flags are refused for the critic-free algorithms.
func TestPPOAlgoAndRewardFlags(t *testing.T) {
	base := []string{"ppo", "--policy", "p", "--prompts", "q", "--out", "o"}
	_, _, ppo, err := runCaptured(t, append(base, "--reward", "r")...)
	if err != nil {
		t.Fatal(err)
	}
	if ppo.Algo != train.AlgoPPO || ppo.NumSamples != 0 || ppo.RewardFns != nil || ppo.RewardTimeout != time.Minute {
		t.Fatalf("defaults: algo %q, num-samples %d, reward-fn %v, timeout %v", ppo.Algo, ppo.NumSamples, ppo.RewardFns, ppo.RewardTimeout)
	}
	_, _, ppo, err = runCaptured(t, append(base, "--algo", "grpo", "--num-samples", "8", "--reward-fn", "exact-match",
		"--reward-fn", "regex:^(a|b),c$", "--reward-fn", "cmd:judge --strict", "--reward-weights", "1,0.5,2", "--reward-timeout", "90s")...)
	if err != nil {
		t.Fatal(err)
	}
	if ppo.Algo != train.AlgoGRPO || ppo.NumSamples != 8 || ppo.Reward != "" || ppo.RewardTimeout != 90*time.Second ||
		strings.Join(ppo.RewardFns, " | ") != "exact-match | regex:^(a|b),c$ | cmd:judge --strict" ||
		len(ppo.RewardWeights) != 3 || ppo.RewardWeights[1] != 0.5 {
		t.Fatalf("grpo options: %+v", ppo)
	}
	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("ppo:\n  algo: reinforce++\n  reward-fn: [contains, length-penalty]\n  reward-weights: [2, 1]\n"), 0o644)
	_, _, ppo, err = runCaptured(t, append([]string{"--config", cfg}, base...)...)
	if err != nil {
		t.Fatal(err)
	}
	if ppo.Algo != train.AlgoREINFORCEPP || len(ppo.RewardFns) != 2 || ppo.RewardFns[1] != "length-penalty" || ppo.RewardWeights[0] != 2 {
		t.Fatalf("config: %+v", ppo)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--algo", "a2c"}, "want one of ppo, grpo, rloo, reinforce++"},
		{[]string{"--algo", "grpo", "--critic-lr", "1e-5"}, "--critic-lr"},
		{[]string{"--algo", "rloo", "--value-clip", "0.1"}, "--value-clip"},
		{[]string{"--algo", "reinforce++", "--lambda", "0.9"}, "--lambda"},
		{[]string{"--algo", "grpo", "--gamma", "0.99"}, "--gamma"},
	} {
		if _, _, _, err := runCaptured(t, append(base, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error with %q", c.args, err, c.want)
		}
	}
	if _, _, ppo, err = runCaptured(t, append(base, "--algo", "reinforce++", "--gamma", "0.99")...); err != nil || ppo.Gamma != 0.99 {
		t.Errorf("reinforce++ takes --gamma: %v %v", ppo.Gamma, err)
	}
}
