package train

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/safetensors"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// loraOpts is LoRA of rank r over every linear map, without dropout.
func loraOpts(r int) LoRAOptions {
	return LoRAOptions{Rank: r, Alpha: 2 * float64(r), Targets: model.AllLinear}
}

// checkAdapterFolder checks dir is a PEFT adapter folder over base (and
// holds no full model) and returns its adapter_config.json.
func checkAdapterFolder(t *testing.T, dir, base, task string) map[string]any {
	t.Helper()
	for _, f := range []string{"model.safetensors", "config.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s holds %s: a LoRA run saves the adapter only", dir, f)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, model.AdapterConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(base)
	if c["peft_type"] != "LORA" || c["task_type"] != task || c["base_model_name_or_path"] != abs {
		t.Errorf("%s: adapter_config %v", dir, c)
	}
	ts, _, err := safetensors.ReadFile(filepath.Join(dir, model.AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	for name := range ts {
		if !strings.HasPrefix(name, "base_model.model.") || !(strings.Contains(name, ".lora_") || name == "base_model.model.score.weight") {
			t.Errorf("%s: tensor %s is not an adapter tensor", dir, name)
		}
	}
	return c
}

// optimizerKeys are the variables of a checkpoint's optimizer state.
func optimizerKeys(t *testing.T, ckpt, name string) []string {
	t.Helper()
	ts, _, err := safetensors.ReadFile(filepath.Join(ckpt, TrainerStateDir, name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range ts {
		keys = append(keys, k)
	}
	return keys
}

// checkMomentsOnlyFor: the optimizer keeps moments of adapters (and of the
// score head when allowed) only.
func checkMomentsOnlyFor(t *testing.T, keys []string, score bool) {
	t.Helper()
	n := 0
	for _, k := range keys {
		if strings.Contains(k, "/lora_") {
			n++
			continue
		}
		if strings.Contains(k, "/score/") && score {
			continue
		}
		if strings.Contains(k, "/model/") || strings.Contains(k, "/transformer/") || strings.Contains(k, "/score/") {
			t.Errorf("optimizer state %s of a frozen weight", k)
		}
	}
	if n == 0 {
		t.Errorf("no optimizer state for the adapters: %v", keys)
	}
}

// scaledModelDir is tinyModelDir (2 layers, hidden 32) with weights drawn
// with std initRange. LoRA keeps the tied embedding (the LM head) and the
// final norm frozen, so a model initialised at 0.02 cannot have logits
// beyond about ±0.6 (|h|·|e| ≈ √32·0.02·√32) whatever the adapters learn;
// a pretrained model, like one drawn at 0.3, has room.
func scaledModelDir(t testing.TB, initRange float64) string {
	t.Helper()
	cfg, err := model.NewConfig(model.ArchGPT2, 257, 2, 32, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxPositions, cfg.EOS, cfg.InitRange = 64, 256, initRange
	m, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "base")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.WriteByteLevel(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSFTLoRAMemorises: LoRA SFT of the tiny model memorises its data as
// full SFT does (TestSFTMemorises), training only the adapters, and
// publishes a PEFT adapter that every command loads over its base.
func TestSFTLoRAMemorises(t *testing.T) {
	base := scaledModelDir(t, 0.3)
	root := t.TempDir()
	data := filepath.Join(root, "sft")
	writeDataset(t, filepath.Join(data, "train"), sftRows())
	writeDataset(t, filepath.Join(data, "val"), sftRows())
	out := filepath.Join(root, "out")
	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: out, MaxSteps: 100, LR: 1e-2, Warmup: 5, BatchSize: 2, MaxSeqLen: 64, EvalEvery: 50, Backend: "go",
		LoRA: loraOpts(8),
	}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadMetrics(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	first := rows[0]["loss"]
	if !(res.Loss < first/4) || !(res.ValLoss < 0.5) {
		t.Fatalf("LoRA loss %v → %v, val %v: not learning", first, res.Loss, res.ValLoss)
	}
	checkAdapterFolder(t, out, base, model.TaskCausalLM)
	for _, r := range sftRows() {
		if got := greedy(t, out, r.Prompt, 10); got != r.Response {
			t.Errorf("greedy(%q) = %q, want %q", r.Prompt, got, r.Response)
		}
	}
	last, err := LatestCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	checkMomentsOnlyFor(t, optimizerKeys(t, last, "optimizer"), false)
	// The base stays as it was: the adapter's base is the untouched folder.
	if b, err := os.ReadFile(filepath.Join(base, "model.safetensors")); err != nil || len(b) == 0 {
		t.Fatal(err)
	}
}

// TestSFTLoRABFloat16: with --dtype bfloat16 the frozen base is stored in
// bfloat16 (no float32 copy) while the adapters train as float32 masters.
func TestSFTLoRABFloat16(t *testing.T) {
	base := scaledModelDir(t, 0.3)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	o := CommonOptions{Out: filepath.Join(root, "out"), MaxSteps: 30, LR: 1e-2, Warmup: 2, BatchSize: 2, MaxSeqLen: 64,
		Backend: "go", DType: "bfloat16", LoRA: loraOpts(4)}
	m, _, err := loadModel("Model", base, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetComputeDType(o.DType); err != nil {
		t.Fatal(err)
	}
	if err := o.prepareModel("Model", m, base, false); err != nil {
		t.Fatal(err)
	}
	for v := range m.Store.IterVariables() {
		want := dtypes.BFloat16
		if v.Trainable {
			want = dtypes.Float32
		}
		if strings.Contains(v.Path(), "#") {
			continue // the dropout generator's state
		}
		if v.DType() != want {
			t.Fatalf("%s (trainable %v) stored as %s, want %s", v.Path(), v.Trainable, v.DType(), want)
		}
	}
	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadMetrics(filepath.Join(o.Out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if first := rows[0]["loss"]; !(res.Loss < first/2) {
		t.Fatalf("bf16 LoRA loss %v → %v: not learning", first, res.Loss)
	}
	checkAdapterFolder(t, o.Out, base, model.TaskCausalLM)
}

// TestSFTLoRAResumeIsExact: a LoRA run stopped and resumed ends with the
// adapter of the uninterrupted run; resuming with other --lora-* flags is refused.
func TestSFTLoRAResumeIsExact(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	opts := func(out string) SFTOptions {
		return SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: out, MaxSteps: 6, LR: 1e-2,
			BatchSize: 1, MaxSeqLen: 64, EvalEvery: 100, Backend: "go", LoRA: loraOpts(4)}}
	}
	full := filepath.Join(root, "full")
	if _, err := RunSFT(context.Background(), opts(full)); err != nil {
		t.Fatal(err)
	}
	parts := filepath.Join(root, "parts")
	o := opts(parts)
	o.StopAfter = 3
	if res, err := RunSFT(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("interrupted run: %+v, %v", res, err)
	}
	o = opts(parts)
	o.Resume, o.LoRA.Rank = true, 2
	if _, err := RunSFT(context.Background(), o); err == nil || !strings.Contains(err.Error(), "LoRA.Rank 2") {
		t.Fatalf("resuming with another --lora-rank: %v", err)
	}
	o.LoRA.Rank = 4
	if _, err := RunSFT(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(full, model.AdapterWeightsFile))
	b, _ := os.ReadFile(filepath.Join(parts, model.AdapterWeightsFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("the resumed run's adapter differs from the uninterrupted run's")
	}
}

// TestSFTLoRADropoutDeterministic: --lora-dropout acts in training (the
// adapter differs from a run without it) and is seeded (two runs agree).
func TestSFTLoRADropoutDeterministic(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	run := func(name string, dropout float64) []byte {
		out := filepath.Join(root, name)
		lo := loraOpts(4)
		lo.Dropout = dropout
		if _, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
			Out: out, MaxSteps: 3, LR: 1e-2, BatchSize: 2, MaxSeqLen: 64, Backend: "go", LoRA: lo}}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, model.AdapterWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := run("a", 0.5), run("b", 0.5), run("c", 0)
	if !bytes.Equal(a, b) {
		t.Error("two runs with the same seed and --lora-dropout trained different adapters")
	}
	if bytes.Equal(a, c) {
		t.Error("--lora-dropout 0.5 trained the adapter of --lora-dropout 0")
	}
}

// TestLoRAFromAdapterFolder: a new run from an adapter folder merges it
// (full fine-tuning) without --lora-rank, and is refused with it.
func TestLoRAFromAdapterFolder(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	sft := filepath.Join(root, "sft-lora")
	o := SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{Out: sft, MaxSteps: 2, LR: 1e-2,
		BatchSize: 2, MaxSeqLen: 64, Backend: "go", LoRA: loraOpts(2)}}
	if _, err := RunSFT(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	o.Model, o.Out = sft, filepath.Join(root, "again")
	if _, err := RunSFT(context.Background(), o); err == nil || !strings.Contains(err.Error(), "merge-lora") {
		t.Fatalf("a new adapter over an adapter: %v", err)
	}
	o.LoRA.Rank, o.Out = 0, filepath.Join(root, "full")
	if _, err := RunSFT(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.Out, "model.safetensors")); err != nil {
		t.Fatalf("full fine-tuning from an adapter folder should publish a full model: %v", err)
	}
}

// TestRMLoRA: a LoRA reward model trains adapters and the score head, and
// publishes a SEQ_CLS adapter (score head included) with the reward
// statistics, which loads as a reward model.
func TestRMLoRA(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "cmp"), keywordComparisons(12, 3))
	out := filepath.Join(root, "rm")
	res, err := RunRM(context.Background(), RMOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: out, MaxSteps: 4, LR: 1e-3, BatchSize: 2, MaxSeqLen: 64, Backend: "go", EvalEvery: 100, LoRA: loraOpts(4),
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := checkAdapterFolder(t, out, base, model.TaskSeqCls)
	if ms, _ := c["modules_to_save"].([]any); len(ms) != 1 || ms[0] != "score" {
		t.Errorf("modules_to_save %v, want [score]", c["modules_to_save"])
	}
	last, err := LatestCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	keys := optimizerKeys(t, last, "optimizer")
	checkMomentsOnlyFor(t, keys, true)
	if !strings.Contains(strings.Join(keys, " "), "/score/") {
		t.Errorf("the score head has no optimizer state: %v", keys)
	}
	m, _, err := infer.Load(out, infer.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasScoreHead() || m.Meta.Stage != "rm" || m.Meta.RewardMean != res.RewardMean || m.Meta.RewardStd <= 0 {
		t.Fatalf("published LoRA reward model: score head %v, meta %+v", m.HasScoreHead(), m.Meta)
	}
}

// TestSFTGradCheckpoint: gradient checkpointing trains as without it
// (same losses, 1e-5).
func TestSFTGradCheckpoint(t *testing.T) {
	base := tinyModelDir(t, 2, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	run := func(name string, ckpt bool) []Metrics {
		out := filepath.Join(root, name)
		if _, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
			Out: out, MaxSteps: 4, LR: 1e-2, BatchSize: 2, MaxSeqLen: 64, Backend: "go", GradCheckpoint: ckpt}}); err != nil {
			t.Fatal(err)
		}
		rows, err := ReadMetrics(filepath.Join(out, MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	a, b := run("plain", false), run("ckpt", true)
	for i := range a {
		if d := math.Abs(a[i]["loss"] - b[i]["loss"]); d > 1e-5 || math.Abs(a[i]["grad_norm"]-b[i]["grad_norm"]) > 1e-5 {
			t.Fatalf("step %d: loss %v / grad norm %v without checkpointing, %v / %v with", i+1, a[i]["loss"], a[i]["grad_norm"], b[i]["loss"], b[i]["grad_norm"])
		}
	}
}

// TestPPOLoRASharedReference: PPO with LoRA on actor and critic uses the
// actor's frozen base with the adapters off as the reference (one store),
// so the first rollout's KL is exactly 0 (B starts at zero); checkpoints
// and the published actor and critic are PEFT adapters, and the run resumes.
func TestPPOLoRASharedReference(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), "ppo"))
	o.Iterations, o.RolloutBatch, o.MiniBatch, o.SaveEvery = 3, 8, 4, 1
	o.LoRA, o.CriticLoRA, o.GradCheckpoint = loraOpts(4), loraOpts(2), true
	o.Defaults()

	r, err := setupPPO(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.ref.Store != r.actor.Store || r.ref.HasLoRA() || !r.actor.HasLoRA() || !r.critic.HasLoRA() {
		t.Fatalf("reference shares the actor's store: %v; adapters on ref %v, actor %v, critic %v",
			r.ref.Store == r.actor.Store, r.ref.HasLoRA(), r.actor.HasLoRA(), r.critic.HasLoRA())
	}
	r.close()

	o.StopAfter = 2
	if res, err := RunPPO(context.Background(), o); err != nil || !res.Stopped {
		t.Fatalf("first part: %+v %v", res, err)
	}
	o.StopAfter, o.Resume = 0, true
	if _, err := RunPPO(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadMetrics(filepath.Join(o.Out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0]["kl"] != 0 || rows[2]["kl"] == 0 {
		t.Fatalf("KL to the shared reference per iteration: %v", rows)
	}
	checkAdapterFolder(t, o.Out, policy, model.TaskCausalLM)
	checkAdapterFolder(t, filepath.Join(o.Out, CriticDir), rm, model.TaskSeqCls)
	last, err := LatestCheckpoint(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	checkMomentsOnlyFor(t, optimizerKeys(t, last, "actor"), false)
	checkMomentsOnlyFor(t, optimizerKeys(t, last, "critic"), true)
}

// TestPPOFrozenDTypes: --ref-dtype and --reward-dtype store the frozen
// reference and reward model in bfloat16 (no float32 copy) and compute in
// it; a PPO iteration runs on the go backend; the defaults follow --dtype.
func TestPPOFrozenDTypes(t *testing.T) {
	for _, c := range []struct{ dtype, want string }{{"", "float32"}, {"float32", "float32"}, {"bfloat16", "bfloat16"}, {"float16", "float16"}} {
		o := PPOOptions{DType: c.dtype}
		o.Defaults()
		if o.RefDType != c.want || o.RewardDType != c.want {
			t.Errorf("--dtype %q: ref %q reward %q, want %q", c.dtype, o.RefDType, o.RewardDType, c.want)
		}
	}
	policy, rm := ppoTinyModels(t)
	o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), "ppo"))
	o.rewardFn = nil // the reward model itself
	o.Iterations, o.RolloutBatch, o.MiniBatch = 1, 8, 4
	o.RefDType, o.RewardDType = "bfloat16", "fp8"
	o.Defaults()
	if err := o.Check(); err == nil || !strings.Contains(err.Error(), "RewardDType") {
		t.Fatalf("--reward-dtype fp8: %v", err)
	}
	o.RewardDType = "bfloat16"
	r, err := setupPPO(o)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*model.Model{"reference": r.ref, "reward model": r.rm} {
		if m.ComputeDType != dtypes.BFloat16 {
			t.Errorf("%s computes in %s", name, m.ComputeDType)
		}
		for _, n := range m.Names() {
			if dt := m.Variable(n).DType(); dt != dtypes.BFloat16 {
				t.Fatalf("%s weight %s stored as %s", name, n, dt)
			}
		}
	}
	for _, n := range r.actor.Names() {
		if dt := r.actor.Variable(n).DType(); dt != dtypes.Float32 {
			t.Fatalf("actor weight %s stored as %s: it trains, it keeps float32 masters", n, dt)
		}
	}
	r.close()
	res, err := RunPPO(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if k := res.Last["kl"]; math.IsNaN(k) || math.IsInf(k, 0) {
		t.Fatalf("KL to the bf16 reference %v", k)
	}
}

// TestLoRAOptionErrors: bad --lora-* values are refused naming the flag.
func TestLoRAOptionErrors(t *testing.T) {
	for _, c := range []struct {
		l    LoRAOptions
		want string
	}{
		{LoRAOptions{Rank: -1}, "LoRA.Rank"},
		{LoRAOptions{Rank: 2, Alpha: -1, Targets: "q_proj"}, "LoRA.Alpha"},
		{LoRAOptions{Rank: 2, Alpha: 4, Dropout: 1, Targets: "q_proj"}, "LoRA.Dropout"},
		{LoRAOptions{Rank: 2, Alpha: 4, Targets: " , "}, "LoRA.Targets"},
	} {
		o := CommonOptions{Out: "x", LoRA: c.l}
		o.Defaults()
		o.LoRA = c.l
		if err := o.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.l, err, c.want)
		}
	}
	p := PPODefaults()
	p.Policy, p.Reward, p.Prompts, p.Out = "a", "b", "c", "d"
	p.CriticLoRA.Rank = -2
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "CriticLoRA.Rank") {
		t.Errorf("critic LoRA: %v", err)
	}
	// A target the model does not have names the modules it has.
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), []dataset.SFT{{Prompt: "a", Response: "b"}})
	_, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: filepath.Join(root, "o"), MaxSteps: 1, MaxSeqLen: 64, Backend: "go", LoRA: LoRAOptions{Rank: 2, Alpha: 4, Targets: "q_proj"}}})
	if err == nil || !strings.Contains(err.Error(), "LoRA.Targets") || !strings.Contains(err.Error(), "c_attn") {
		t.Fatalf("unknown target: %v", err)
	}
}
