package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaxSeqLenDefaultFitsModel: sft and rm without --max-seq-len on a
// 128-position model train at min(512, 128); an explicit value above the
// context is still refused, naming the flag.
func TestMaxSeqLenDefaultFitsModel(t *testing.T) {
	base := tinyModelDir(t, 1, 16, 128)
	root := t.TempDir()
	data := filepath.Join(root, "sft")
	writeDataset(t, filepath.Join(data, "train"), sftRows())
	writeDataset(t, filepath.Join(data, "val"), sftRows())
	common := CommonOptions{MaxSteps: 1, LR: 1e-3, BatchSize: 2, Backend: "go"}

	o := SFTOptions{Model: base, Data: data, CommonOptions: common}
	o.Out = filepath.Join(root, "sft-out")
	if _, err := RunSFT(context.Background(), o); err != nil {
		t.Fatalf("sft without --max-seq-len: %v", err)
	}
	o.Out, o.MaxSeqLen = filepath.Join(root, "sft-512"), 512
	if _, err := RunSFT(context.Background(), o); err == nil || !strings.Contains(err.Error(), "MaxSeqLen 512") {
		t.Fatalf("sft --max-seq-len 512 on 128 positions: %v", err)
	}

	rm := RMOptions{Model: base, Data: "../testdata/train/comparisons.jsonl", CommonOptions: common}
	rm.Out = filepath.Join(root, "rm-out")
	if _, err := RunRM(context.Background(), rm); err != nil {
		t.Fatalf("rm without --max-seq-len: %v", err)
	}
	rm.Out, rm.MaxSeqLen = filepath.Join(root, "rm-512"), 512
	if _, err := RunRM(context.Background(), rm); err == nil || !strings.Contains(err.Error(), "MaxSeqLen 512") {
		t.Fatalf("rm --max-seq-len 512 on 128 positions: %v", err)
	}
}

// TestPPOLengthsDefaultFitPolicy: ppo without --max-prompt-len and
// --max-new-tokens on a 128-position policy runs (256 + 128 do not fit);
// explicit lengths above the context are still refused, naming them.
func TestPPOLengthsDefaultFitPolicy(t *testing.T) {
	policy, rm := ppoTinyModels(t) // 128 positions
	o := ppoTinyOptions(policy, rm, filepath.Join(t.TempDir(), "ppo"))
	o.MaxPromptLen, o.MaxNewTokens = 0, 0
	o.Iterations, o.RolloutBatch, o.MiniBatch = 1, 4, 4
	if _, err := RunPPO(context.Background(), o); err != nil {
		t.Fatalf("lengths not given: %v", err)
	}
	o.Out, o.MaxPromptLen = filepath.Join(t.TempDir(), "ppo2"), 256
	if _, err := RunPPO(context.Background(), o); err == nil || !strings.Contains(err.Error(), "MaxPromptLen 256") {
		t.Fatalf("--max-prompt-len 256 on 128 positions: %v", err)
	}
}
