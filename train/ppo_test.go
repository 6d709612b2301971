package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

const (
	ppoPrompts = "../testdata/ppo/prompts.jsonl"
	ppoPtx     = "../testdata/ppo/ptx.jsonl"
)

// ppoTinyModels writes a tiny "SFT" policy and a "reward model" (the same
// network with a score head) sharing the byte-level tokenizer.
func ppoTinyModels(t testing.TB) (policy, rm string) {
	t.Helper()
	policy = tinyModelDir(t, 2, 32, 128)
	m, err := model.Load(policy)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddScoreHead(3); err != nil {
		t.Fatal(err)
	}
	rm = filepath.Join(t.TempDir(), "rm")
	if err := m.Save(rm); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.WriteByteLevel(filepath.Join(rm, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	return policy, rm
}

// ppoVowelReward is the synthetic reward: the number of lowercase vowels in
// the response (ids of the byte-level tokenizer are the bytes).
func ppoVowelReward(_, response []int32) float64 {
	n := 0.0
	for _, id := range response {
		switch byte(id) {
		case 'a', 'e', 'i', 'o', 'u':
			n++
		}
	}
	return n
}

// ppoTinyOptions are options for the tiny model: 16 prompts, rollouts of 16,
// mini-batches of 8, 8 new tokens.
func ppoTinyOptions(policy, rm, out string) PPOOptions {
	return PPOOptions{
		Policy: policy, Reward: rm, Prompts: ppoPrompts, Out: out, Backend: "go",
		MaxNewTokens: 8, MaxPromptLen: 64, RolloutBatch: 16, MiniBatch: 8, PPOEpochs: 1,
		Iterations: 15, LR: 1e-2, CriticLR: 1e-2, KLCoef: 0.01, Gamma: 1, Lambda: 0.95,
		Clip: 0.2, ValueClip: 0.2, ClipGrad: 1, SaveEvery: 100, Keep: 2, Seed: 3,
		rewardFn: ppoVowelReward,
	}
}

// ppoMetricsMean averages key over iterations [from, to) of a run's metrics.jsonl.
func ppoMetricsMean(t *testing.T, out, key string, from, to int) float64 {
	t.Helper()
	rows, err := ReadMetrics(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, r := range rows[from:to] {
		sum += r[key]
	}
	return sum / float64(to-from)
}

// ppoPtxLMLoss is the mean LM loss of a model folder on the ptx fixture.
func ppoPtxLMLoss(t *testing.T, dir string) float64 {
	t.Helper()
	m, tok, err := loadModel("Model", dir, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadPtx(ppoPtx, &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 64, Truncate: infer.TruncateLeft}, 8, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	e := gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, in []*Node) *Node {
		sum, n := sftNLL(m, in[0], in[1], in[2], in[3])
		return Div(sum, n)
	})
	b := MakeBatch(p.seqs, len(p.seqs), 64, tok.PAD())
	return scalar(e.MustExec1(SFTInputs(b)...))
}

// TestPPOSyntheticReward runs PPO on the tiny model with reward = number of
// vowels in the response: with a small β the reward rises clearly within
// 14 iterations; with a large β the policy stays close to the reference;
// with PPO-ptx the LM loss on the ptx data rises less.
func TestPPOSyntheticReward(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	const iters = 14
	run := func(name string, edit func(*PPOOptions)) string {
		o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), name))
		o.Iterations, o.LogSamples = iters, 5
		edit(&o)
		res, err := RunPPO(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Iterations != iters || res.Model != o.Out {
			t.Fatalf("%s: result %+v", name, res)
		}
		return o.Out
	}
	free := run("free", func(o *PPOOptions) {})
	before, after := ppoMetricsMean(t, free, "reward_mean", 0, 3), ppoMetricsMean(t, free, "reward_mean", iters-3, iters)
	klFree := ppoMetricsMean(t, free, "kl", iters-3, iters)
	t.Logf("β=0.01: reward %.3f → %.3f, KL %.3f", before, after, klFree)
	if !(after > before+0.7 && after > 3*before) {
		t.Errorf("PPO did not raise the reward clearly: first 3 iterations %.3f, last 3 %.3f", before, after)
	}
	if math.IsNaN(klFree) || klFree <= 0 || klFree > float64(8)*math.Log(257) {
		t.Errorf("KL %.3f outside (0, R·log V]", klFree)
	}

	held := run("held", func(o *PPOOptions) { o.KLCoef = 1 })
	klHeld, rHeld := ppoMetricsMean(t, held, "kl", iters-3, iters), ppoMetricsMean(t, held, "reward_mean", iters-3, iters)
	t.Logf("β=1: reward %.3f, KL %.3f", rHeld, klHeld)
	if !(klHeld < klFree/4 && klHeld < 1.5) {
		t.Errorf("a large --kl-coef should keep the policy close: KL %.3f (β=1) vs %.3f (β=0.01)", klHeld, klFree)
	}

	ptx := run("ptx", func(o *PPOOptions) { o.Ptx, o.PtxCoef, o.PtxMaxLen = ppoPtx, 1, 64 })
	l0, lFree, lPtx := ppoPtxLMLoss(t, policy), ppoPtxLMLoss(t, free), ppoPtxLMLoss(t, ptx)
	t.Logf("ptx LM loss: reference %.3f, PPO %.3f, PPO-ptx %.3f", l0, lFree, lPtx)
	if !(lPtx-l0 < 0.5*(lFree-l0)) {
		t.Errorf("PPO-ptx should keep the LM loss on ptx data: reference %.3f, PPO %.3f, PPO-ptx %.3f", l0, lFree, lPtx)
	}
	if v := ppoMetricsMean(t, ptx, "ptx_loss", 0, iters); math.IsNaN(v) || v <= 0 {
		t.Errorf("ptx_loss not logged: %v", v)
	}

	// Artefacts: the final actor and critic load; plots and samples exist.
	if m, err := model.Load(free); err != nil || m.Meta.Stage != "ppo" {
		t.Fatalf("final actor: %v (stage %v)", err, m)
	}
	if m, err := model.Load(filepath.Join(free, CriticDir)); err != nil || !m.HasScoreHead() {
		t.Fatalf("final critic: %v", err)
	}
	for _, f := range []string{"reward.png", "kl.png", "kl_coef.png", "losses.png", "value_loss.png", "approx_kl.png", "time.png", SamplesFile} {
		if _, err := os.Stat(filepath.Join(free, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestPPOResumeDeterministic: 2 iterations, stop, resume 2 more = 4 straight.
func TestPPOResumeDeterministic(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	opts := func(out string) PPOOptions {
		o := ppoTinyOptions(policy, rm, out)
		o.Iterations, o.RolloutBatch, o.MiniBatch, o.PPOEpochs, o.SaveEvery, o.LogSamples = 4, 8, 4, 2, 2, 1
		o.Ptx, o.PtxCoef, o.PtxBatch, o.PtxMaxLen, o.TargetKL, o.KLHorizon = ppoPtx, 0.5, 2, 64, 1, 50
		return o
	}
	straight := opts(filepath.Join(t.TempDir(), "straight"))
	if _, err := RunPPO(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	split := opts(filepath.Join(t.TempDir(), "split"))
	split.StopAfter = 2
	res, err := RunPPO(context.Background(), split)
	if err != nil || !res.Stopped || res.Iterations != 2 {
		t.Fatalf("first half: %+v %v", res, err)
	}
	if _, err := RunPPO(context.Background(), split); err == nil || !strings.Contains(err.Error(), "Resume") {
		t.Fatalf("rerunning into a folder with checkpoints should ask for --resume, got %v", err)
	}
	// A crash after the checkpoint leaves lines of iteration 3 behind: the
	// resumed run must replace them.
	for _, f := range []string{SamplesFile, MetricsFile} {
		fh, err := os.OpenFile(filepath.Join(split.Out, f), os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteString(`{"iteration":3,"step":3,"prompt":"stale","reward_mean":99}` + "\n")
		fh.Close()
	}
	split.Resume = true
	if res, err = RunPPO(context.Background(), split); err != nil || res.Iterations != 4 {
		t.Fatalf("resume: %+v %v", res, err)
	}
	a, _ := ReadMetrics(filepath.Join(straight.Out, MetricsFile))
	b, _ := ReadMetrics(filepath.Join(split.Out, MetricsFile))
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("metrics lines %d and %d, want 4", len(a), len(b))
	}
	for i := range a {
		for _, k := range []string{"reward_mean", "kl", "kl_coef", "policy_loss", "value_loss", "ptx_loss"} {
			if a[i][k] != b[i][k] {
				t.Errorf("iteration %d %s: straight %v, resumed %v", i+1, k, a[i][k], b[i][k])
			}
		}
	}
	if a[0]["kl_coef"] != 0.01 || a[3]["kl_coef"] == 0.01 {
		t.Errorf("--target-kl: β should start at --kl-coef and adapt: %v → %v", a[0]["kl_coef"], a[3]["kl_coef"])
	}
	for _, f := range []string{"model.safetensors", filepath.Join(CriticDir, "model.safetensors"), SamplesFile} {
		x, err1 := os.ReadFile(filepath.Join(straight.Out, f))
		y, err2 := os.ReadFile(filepath.Join(split.Out, f))
		if err1 != nil || err2 != nil || string(x) != string(y) {
			t.Errorf("%s differs between the straight and the resumed run (%v %v)", f, err1, err2)
		}
	}
}

// TestPPORewardModelWarmupAndGuards runs the real reward-model path: scores
// are normalised with rlhf.json's reward_mean/reward_std, the first
// iteration only trains the critic, and --max-kl stops the run with a
// checkpoint.
func TestPPORewardModelWarmupAndGuards(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	meta, err := model.LoadMeta(rm)
	if err != nil {
		t.Fatal(err)
	}
	meta.RewardMean, meta.RewardStd = 0.5, 2
	if err := meta.Save(rm); err != nil {
		t.Fatal(err)
	}
	o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), "rm"))
	o.rewardFn = nil
	o.Iterations, o.RolloutBatch, o.CriticWarmup, o.LogSamples = 3, 8, 1, 0
	o.KLCoef, o.MaxKL, o.OnMaxKL = 0, 1e-6, "stop"
	_, err = RunPPO(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "MaxKL") {
		t.Fatalf("want a --max-kl stop, got %v", err)
	}
	rows, err := ReadMetrics(filepath.Join(o.Out, MetricsFile))
	if err != nil || len(rows) < 2 {
		t.Fatalf("metrics: %v %d rows", err, len(rows))
	}
	if _, ok := rows[0]["policy_loss"]; ok {
		t.Errorf("iteration 1 is critic warm-up: the actor must not train (%v)", rows[0])
	}
	if _, ok := rows[1]["policy_loss"]; !ok {
		t.Errorf("iteration 2 should train the actor (%v)", rows[1])
	}
	for _, r := range rows {
		if got, want := r["reward_mean"], (r["rm_score_raw"]-0.5)/2; math.Abs(got-want) > 1e-9 {
			t.Errorf("reward_mean %v, want (raw %v − 0.5)/2", got, r["rm_score_raw"])
		}
	}
	if latest, _ := LatestCheckpoint(o.Out); latest == "" {
		t.Error("the --max-kl stop should leave a checkpoint")
	}

	// The same run with --on-max-kl warn finishes.
	o.Out, o.OnMaxKL = filepath.Join(t.TempDir(), "warn"), "warn"
	if res, err := RunPPO(context.Background(), o); err != nil || res.Iterations != 3 {
		t.Fatalf("warn: %+v %v", res, err)
	}
}

func TestPPOOptionErrors(t *testing.T) {
	policy := tinyModelDir(t, 1, 16, 128) // 128 positions < 64 + 100
	for _, c := range []struct {
		edit func(*PPOOptions)
		want string
	}{
		{func(o *PPOOptions) { o.Policy = "" }, "Policy"},
		{func(o *PPOOptions) { o.RolloutBatch, o.MiniBatch = 10, 4 }, "RolloutBatch"},
		{func(o *PPOOptions) { o.PtxCoef = 1 }, "Ptx"},
		{func(o *PPOOptions) { o.OnMaxKL = "panic" }, "OnMaxKL"},
		{func(o *PPOOptions) { o.Prompts = "../testdata/ppo/missing.jsonl" }, "Prompts"},
		{func(o *PPOOptions) { o.Policy, o.MaxNewTokens = policy, 100 }, "MaxNewTokens 100"},
	} {
		o := ppoTinyOptions("p", "r", t.TempDir())
		c.edit(&o)
		_, err := RunPPO(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
}

// TestPPOPtxData: sft rows train on the response only; qa rows are plain
// text with every token in the loss.
func TestPPOPtxData(t *testing.T) {
	policy := tinyModelDir(t, 1, 16, 128)
	m, tok, err := loadModel("Policy", policy, 128, "")
	if err != nil {
		t.Fatal(err)
	}
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 128, Truncate: infer.TruncateLeft}
	sft, err := loadPtx(ppoPtx, enc, 4, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sft.seqs) != 8 || sft.seqs[0].PromptLen == 0 {
		t.Fatalf("sft ptx: %d rows, prompt length %d", len(sft.seqs), sft.seqs[0].PromptLen)
	}
	qa, err := loadPtx("../testdata/ppo/ptx_qa.jsonl", enc, 2, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "Rain\nWhy does it rain?\nWater vapour cools into drops that fall."
	if len(qa.seqs) != 3 || qa.seqs[0].PromptLen != 0 || tok.Decode(infer.Ints(infer.TrimEOS(qa.seqs[0].Tokens, tok.EOS()))) != want {
		t.Fatalf("qa ptx: %d rows, first %q", len(qa.seqs), tok.Decode(infer.Ints(qa.seqs[0].Tokens)))
	}
	b := qa.next(2)
	var n float32
	for _, w := range b.Weights[:b.T] {
		n += w
	}
	if int(n) != len(qa.seqs[qa.data.order[0]].Tokens)-1 {
		t.Errorf("qa row: %v loss tokens, want every token after the first (%d)", n, len(qa.seqs[qa.data.order[0]].Tokens)-1)
	}
	if _, err := loadPtx(ppoPrompts, enc, 2, 1, ""); err == nil {
		t.Error("a prompt dataset is not ptx data")
	}
}

// TestPPORewardReadAtEOS: PPO scores a response where the reward model was
// trained to score it: after the EOS, appended when the response was cut at
// --max-new-tokens; the same value as RM training's scorer gives.
func TestPPORewardReadAtEOS(t *testing.T) {
	_, rmDir := ppoTinyModels(t)
	rm, tok, err := loadModel("Reward", rmDir, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	eos := tok.EOS()
	enc := &infer.Encoder{Tok: tok, Meta: rm.Meta, MaxLen: 64, Truncate: infer.TruncateLeft}
	e, _ := enc.Encode("Name a fruit.", "", nil)
	prompt := e.Tokens[:e.PromptLen]
	const R = 4
	ended := []int32{'a', 'b', int32(eos)} // stopped at EOS
	cut := []int32{'c', 'd', 'e', 'f'}     // cut at R tokens
	ro := infer.Layout([][]int32{prompt, prompt}, [][]int32{ended, cut}, []bool{true, false}, infer.Bucket(len(prompt), 64), R, eos)
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := infer.NewScorer(backend, rm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sc.Rewards(ro.RewardRows([]int{0, 1}, eos))
	if err != nil {
		t.Fatal(err)
	}
	seq := func(resp []int32) infer.Encoded {
		return infer.Encoded{Tokens: append(append([]int32{}, prompt...), resp...), PromptLen: len(prompt)}
	}
	want, err := sc.RewardsOf([]infer.Encoded{seq(ended), seq(append(cut, int32(eos)))}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if math.Abs(float64(g)-want[i]) > 1e-4 {
			t.Errorf("row %d: PPO reads reward %v, RM training's scorer %v", i, g, want[i])
		}
	}
}
