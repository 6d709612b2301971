package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// ppoCriticFreeOptions are ppoTinyOptions for a critic-free algorithm: the
// same 16 sequences per iteration (4 prompts × 4 samples for GRPO and RLOO).
func ppoCriticFreeOptions(policy, rm, out, algo string) PPOOptions {
	o := ppoTinyOptions(policy, rm, out)
	o.Algo = algo
	if algo == AlgoGRPO || algo == AlgoRLOO {
		o.RolloutBatch, o.NumSamples = 4, 4
	}
	return o
}

// TestCriticFreeSyntheticReward: GRPO, RLOO and REINFORCE++ raise the
// synthetic reward (vowels in the response) on the tiny model as PPO does,
// without loading, training or writing a critic; RLOO runs with PPO-ptx.
func TestCriticFreeSyntheticReward(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	const iters = 14
	for _, algo := range []string{AlgoGRPO, AlgoRLOO, AlgoREINFORCEPP} {
		o := ppoCriticFreeOptions(policy, rm, filepath.Join(t.TempDir(), algo), algo)
		o.Iterations, o.LogSamples = iters, 5
		if algo == AlgoRLOO {
			o.Ptx, o.PtxCoef, o.PtxMaxLen = ppoPtx, 0.1, 64
		}
		res, err := RunPPO(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		if res.Iterations != iters || res.Model != o.Out {
			t.Fatalf("%s: result %+v", algo, res)
		}
		before, after := ppoMetricsMean(t, o.Out, "reward_mean", 0, 3), ppoMetricsMean(t, o.Out, "reward_mean", iters-3, iters)
		kl := ppoMetricsMean(t, o.Out, "kl", iters-3, iters)
		t.Logf("%s: reward %.3f → %.3f, KL %.3f", algo, before, after, kl)
		if !(after > before+0.7 && after > 2*before) {
			t.Errorf("%s did not raise the reward clearly: first 3 iterations %.3f, last 3 %.3f", algo, before, after)
		}
		if math.IsNaN(kl) || kl <= 0 {
			t.Errorf("%s: KL %v", algo, kl)
		}
		rows, err := ReadMetrics(filepath.Join(o.Out, MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		last := rows[len(rows)-1]
		if _, ok := last["value_loss"]; ok {
			t.Errorf("%s: value_loss logged without a critic: %v", algo, last)
		}
		if _, ok := last["kl_loss"]; ok != (algo == AlgoGRPO) {
			t.Errorf("%s: kl_loss logged %v, want only for grpo", algo, ok)
		}
		if _, ok := last["group_score_std"]; ok != (o.NumSamples > 1) {
			t.Errorf("%s: group_score_std logged %v", algo, ok)
		}
		if v, ok := last["ptx_loss"]; (o.PtxCoef > 0) != (ok && v > 0) {
			t.Errorf("%s: ptx_loss %v (%v)", algo, v, ok)
		}
		m, err := model.Load(o.Out)
		if err != nil || m.Meta.Stage != algo {
			t.Fatalf("%s: final actor: %v (stage %q)", algo, err, m.Meta.Stage)
		}
		latest, _ := LatestCheckpoint(o.Out)
		for _, p := range []string{filepath.Join(o.Out, CriticDir), filepath.Join(latest, CriticDir),
			filepath.Join(latest, TrainerStateDir, "critic.safetensors")} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s: %s exists: no critic is trained", algo, p)
			}
		}
	}
}

// TestGRPOResumeAndSampling: each prompt is sampled NumSamples times with
// different seeds; a resumed GRPO run (no critic in its checkpoints)
// reproduces the straight one; resuming with another --algo is refused.
func TestGRPOResumeAndSampling(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	opts := func(out string) PPOOptions {
		o := ppoCriticFreeOptions(policy, rm, out, AlgoGRPO)
		o.Iterations, o.RolloutBatch, o.NumSamples, o.MiniBatch, o.PPOEpochs, o.SaveEvery, o.LogSamples = 4, 2, 4, 4, 2, 2, 1
		return o
	}
	straight := opts(filepath.Join(t.TempDir(), "straight"))
	if _, err := RunPPO(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	split := opts(filepath.Join(t.TempDir(), "split"))
	split.StopAfter = 2
	if res, err := RunPPO(context.Background(), split); err != nil || !res.Stopped {
		t.Fatalf("first half: %+v %v", res, err)
	}
	other := split
	other.Algo, other.Resume, other.NumSamples = AlgoRLOO, true, 4
	// Refused by --out's check (not an rloo output folder) or by the resume
	// (holds a grpo run), whichever comes first.
	if _, err := RunPPO(context.Background(), other); err == nil || !(strings.Contains(err.Error(), `holds a "grpo" run, not rloo`) || strings.Contains(err.Error(), "not a rloo output folder")) {
		t.Fatalf("resuming a grpo run as rloo: %v", err)
	}
	split.Resume = true
	if res, err := RunPPO(context.Background(), split); err != nil || res.Iterations != 4 {
		t.Fatalf("resume: %+v %v", res, err)
	}
	a, _ := ReadMetrics(filepath.Join(straight.Out, MetricsFile))
	b, _ := ReadMetrics(filepath.Join(split.Out, MetricsFile))
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("metrics lines %d and %d, want 4", len(a), len(b))
	}
	for i := range a {
		for _, k := range []string{"reward_mean", "kl", "policy_loss", "kl_loss", "group_score_std"} {
			if a[i][k] != b[i][k] {
				t.Errorf("iteration %d %s: straight %v, resumed %v", i+1, k, a[i][k], b[i][k])
			}
		}
	}
	x, err1 := os.ReadFile(filepath.Join(straight.Out, "model.safetensors"))
	y, err2 := os.ReadFile(filepath.Join(split.Out, "model.safetensors"))
	if err1 != nil || err2 != nil || string(x) != string(y) {
		t.Errorf("final actors differ between the straight and the resumed run (%v %v)", err1, err2)
	}
	// The samples table shows the 4 responses to the first prompt of an
	// iteration: one prompt, not all the same response.
	raw, _ := os.ReadFile(filepath.Join(straight.Out, SamplesFile))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	resp := map[string]bool{}
	var prompt string
	for _, l := range lines[:4] {
		var r sampleRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if prompt != "" && r.Prompt != prompt {
			t.Errorf("the first 4 samples of a GRPO rollout should answer one prompt: %q and %q", prompt, r.Prompt)
		}
		prompt = r.Prompt
		resp[r.Response] = true
	}
	if len(resp) < 2 {
		t.Errorf("the 4 samples of a prompt should differ (own seeds): %v", resp)
	}
}

// TestCriticFreeOptionErrors: options that make no sense without a critic,
// or for the algorithm, are refused naming the flag.
func TestCriticFreeOptionErrors(t *testing.T) {
	for _, c := range []struct {
		edit func(*PPOOptions)
		want string
	}{
		{func(o *PPOOptions) { o.Algo = "a2c" }, "Algo"},
		{func(o *PPOOptions) { o.Algo, o.Critic = AlgoGRPO, "c" }, "Critic"},
		{func(o *PPOOptions) { o.Algo, o.CriticDevice = AlgoRLOO, "go" }, "CriticDevice"},
		{func(o *PPOOptions) { o.Algo, o.CriticWarmup = AlgoREINFORCEPP, 2 }, "CriticWarmup"},
		{func(o *PPOOptions) { o.Algo, o.NoWhiten = AlgoGRPO, true }, "NoWhiten"},
		{func(o *PPOOptions) { o.Algo, o.NumSamples = AlgoGRPO, 1 }, "NumSamples 1"},
		{func(o *PPOOptions) { o.Algo, o.NumSamples = AlgoRLOO, 1 }, "NumSamples 1"},
		{func(o *PPOOptions) { o.Algo, o.NumSamples, o.RolloutBatch, o.MiniBatch = AlgoGRPO, 3, 3, 2 }, "NumSamples 3"},
		{func(o *PPOOptions) { o.RewardWeights = []float64{1, 2} }, "RewardWeights"},
		{func(o *PPOOptions) { o.RewardFns, o.RewardWeights = []string{"regex:a"}, []float64{1, math.NaN()} }, "RewardWeights"},
		{func(o *PPOOptions) { o.RewardFns = []string{"nonsense"} }, "RewardFns"},
		{func(o *PPOOptions) { o.RewardFns = []string{"exact-match"} }, "have none"},
		{func(o *PPOOptions) { o.Reward, o.rewardFn = "", nil }, "Reward"},
		{func(o *PPOOptions) { o.Reward, o.rewardFn, o.RewardFns = "", nil, []string{"regex:a"} }, "Critic"},
	} {
		o := ppoTinyOptions("p", "r", t.TempDir())
		c.edit(&o)
		_, err := RunPPO(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
}

// ppoPromptsWithReference writes the tiny prompts with reference answer ref.
func ppoPromptsWithReference(t *testing.T, ref string) string {
	t.Helper()
	raw, err := os.ReadFile(ppoPrompts)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		row["reference"] = ref
		b, _ := json.Marshal(row)
		out = append(append(out, b...), '\n')
	}
	p := filepath.Join(t.TempDir(), "prompts.jsonl")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRuleRewardsInPPO: rule rewards replace or join the reward model with
// --reward-weights (score = Σ weight × source), are logged per rule, and a
// failing reward program stops the run naming it.
func TestRuleRewardsInPPO(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	prompts := ppoPromptsWithReference(t, "a")
	dir := t.TempDir()
	half := filepath.Join(dir, "half.sh")
	os.WriteFile(half, []byte("#!/bin/sh\nawk '{ print 0.5 }'\n"), 0o755)
	broken := filepath.Join(dir, "broken.sh")
	os.WriteFile(broken, []byte("#!/bin/sh\ncat >/dev/null\necho 'no GPU for the judge' >&2\nexit 2\n"), 0o755)

	run := func(name string, edit func(*PPOOptions)) ([]Metrics, error) {
		o := ppoCriticFreeOptions(policy, rm, filepath.Join(t.TempDir(), name), AlgoGRPO)
		o.Prompts, o.Iterations, o.LogSamples = prompts, 2, 0
		edit(&o)
		if _, err := RunPPO(context.Background(), o); err != nil {
			return nil, err
		}
		return ReadMetrics(filepath.Join(o.Out, MetricsFile))
	}
	// Rule rewards alone: no reward model.
	rows, err := run("rules", func(o *PPOOptions) {
		o.Reward, o.rewardFn = "", nil
		o.RewardFns, o.RewardWeights = []string{"contains", "cmd:" + half}, []float64{2, -1}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		if _, ok := m["rm_score_raw"]; ok {
			t.Errorf("rm_score_raw without a reward model: %v", m)
		}
		if m["rule_cmd"] != 0.5 {
			t.Errorf("rule_cmd %v, want 0.5", m["rule_cmd"])
		}
		ppoNear(t, "reward_mean = 2·contains − 1·cmd", m["reward_mean"], 2*m["rule_contains"]-0.5)
	}
	// The RM (here the synthetic reward) first, then the rule.
	rows, err = run("mixed", func(o *PPOOptions) {
		o.RewardFns, o.RewardWeights = []string{"regex:[aeiou]"}, []float64{0.5, 2}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		ppoNear(t, "reward_mean = 0.5·rm + 2·regex", m["reward_mean"], 0.5*m["rm_score_raw"]+2*m["rule_regex"])
	}
	_, err = run("broken", func(o *PPOOptions) { o.RewardFns = []string{"cmd:" + broken} })
	if err == nil || !strings.Contains(err.Error(), broken) || !strings.Contains(err.Error(), "no GPU for the judge") || !strings.Contains(err.Error(), "RewardFns") {
		t.Errorf("a failing reward program: %v", err)
	}
}
