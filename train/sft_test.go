package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rlhf-project/rlhf/model"

	"github.com/rlhf-project/rlhf/dataset"
)

func sftRows() []dataset.SFT {
	return []dataset.SFT{
		{ID: "a", Task: "open_qa", Prompt: "sky?", Response: "blue"},
		{ID: "b", Task: "open_qa", Prompt: "grass?", Response: "green"},
	}
}

func TestSFTMemorises(t *testing.T) {
	base := tinyModelDir(t, 2, 32, 64)
	root := t.TempDir()
	data := filepath.Join(root, "sft")
	writeDataset(t, filepath.Join(data, "train"), sftRows())
	writeDataset(t, filepath.Join(data, "val"), sftRows())
	out := filepath.Join(root, "out")
	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: out, MaxSteps: 100, LR: 1e-2, Warmup: 5, BatchSize: 2, MaxSeqLen: 64, EvalEvery: 50, Backend: "go",
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
		t.Fatalf("loss %v → %v, val %v: not learning", first, res.Loss, res.ValLoss)
	}
	for _, r := range sftRows() {
		if got := greedy(t, out, r.Prompt, 10); got != r.Response {
			t.Errorf("greedy(%q) = %q, want %q", r.Prompt, got, r.Response)
		}
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "rlhf.json", "loss.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if math.IsNaN(res.ValLoss) {
		t.Error("no validation")
	}
}

// TestSFTBFloat16Compute trains with bfloat16 weights and activations in
// the graphs (mixed precision): the loss falls and the saved weights stay
// float32 master weights.
func TestSFTBFloat16Compute(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), sftRows())
	out := filepath.Join(root, "out")
	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: out, MaxSteps: 30, LR: 1e-2, Warmup: 2, BatchSize: 2, MaxSeqLen: 64, Backend: "go", DType: "bfloat16",
	}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadMetrics(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if first := rows[0]["loss"]; !(res.Loss < first/2) {
		t.Fatalf("bf16 loss %v → %v: not learning", first, res.Loss)
	}
	cfg, err := model.LoadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if dt, _ := cfg.Raw["torch_dtype"].(string); dt != "float32" {
		t.Fatalf("saved torch_dtype %q, want float32 master weights", dt)
	}
	if _, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, CommonOptions: CommonOptions{
		Out: filepath.Join(root, "bad"), MaxSteps: 1, LR: 1e-2, BatchSize: 2, MaxSeqLen: 64, Backend: "go", DType: "fp8"}}); err == nil {
		t.Fatal("--dtype fp8 accepted")
	}
}
