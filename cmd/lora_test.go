package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/train"
)

// TestMemoryFlagsReachOptions: --lora-*, --critic-lora-*, --grad-checkpoint,
// --base, --ref-dtype and --reward-dtype reach the trainers' options.
func TestMemoryFlagsReachOptions(t *testing.T) {
	sft, _, _, err := runCaptured(t, "sft", "--model", "m", "--data", "d", "--out", "o", "--lora-rank", "8",
		"--lora-alpha", "32", "--lora-dropout", "0.1", "--lora-targets", "q_proj,v_proj", "--grad-checkpoint", "--base", "b")
	if err != nil {
		t.Fatal(err)
	}
	if want := (train.LoRAOptions{Rank: 8, Alpha: 32, Dropout: 0.1, Targets: "q_proj,v_proj"}); sft.LoRA != want || !sft.GradCheckpoint || sft.Base != "b" {
		t.Fatalf("sft: LoRA %+v grad checkpoint %v base %q", sft.LoRA, sft.GradCheckpoint, sft.Base)
	}
	_, rm, _, err := runCaptured(t, "rm", "--model", "m", "--data", "d", "--out", "o", "--lora-rank", "4")
	if err != nil {
		t.Fatal(err)
	}
	if rm.LoRA != (train.LoRAOptions{Rank: 4, Alpha: 16, Dropout: 0.05, Targets: model.AllLinear}) {
		t.Fatalf("rm LoRA defaults: %+v", rm.LoRA)
	}
	_, _, ppo, err := runCaptured(t, "ppo", "--policy", "p", "--reward", "r", "--prompts", "q", "--out", "o",
		"--lora-rank", "8", "--critic-lora-rank", "2", "--critic-lora-targets", "c_attn", "--ref-dtype", "bf16", "--grad-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	if ppo.LoRA.Rank != 8 || ppo.CriticLoRA.Rank != 2 || ppo.CriticLoRA.Targets != "c_attn" || ppo.LoRA.Targets != model.AllLinear ||
		ppo.RefDType != "bfloat16" || ppo.RewardDType != "" || !ppo.GradCheckpoint {
		t.Fatalf("ppo: LoRA %+v critic %+v ref %q reward %q ckpt %v", ppo.LoRA, ppo.CriticLoRA, ppo.RefDType, ppo.RewardDType, ppo.GradCheckpoint)
	}
	if _, _, _, err := runCaptured(t, "ppo", "--reward-dtype", "fp8"); err == nil || !strings.Contains(err.Error(), "--reward-dtype") {
		t.Fatalf("--reward-dtype fp8: %v", err)
	}
}

// TestLoRAEndToEnd: from the command line, a LoRA SFT run writes a PEFT
// adapter; generate takes it as --model; merge-lora writes a full model
// that generates the same greedy text; merge-lora refuses a used --out.
func TestLoRAEndToEnd(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	if _, err := run(t, "--no-progress", "model", "init", "--arch", "gpt2", "--layers", "1", "--hidden", "32",
		"--heads", "4", "--max-positions", "64", "--out", base); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "sft.jsonl")
	os.WriteFile(data, []byte(`{"prompt":"sky?","response":"blue"}`+"\n"+`{"prompt":"grass?","response":"green"}`+"\n"), 0o644)
	adapter := filepath.Join(dir, "sft")
	if _, err := run(t, "--no-progress", "sft", "--model", base, "--data", data, "--out", adapter, "--max-steps", "3",
		"--lr", "1e-2", "--batch-size", "2", "--max-seq-len", "64", "--lora-rank", "4", "--lora-targets", "c_attn,mlp.c_fc"); err != nil {
		t.Fatal(err)
	}
	if !model.IsAdapterDir(adapter) {
		t.Fatal("sft --lora-rank did not publish an adapter folder")
	}
	merged := filepath.Join(dir, "merged")
	if _, err := run(t, "--no-progress", "model", "merge-lora", "--adapter", adapter, "--out", merged); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "rlhf.json"} {
		if _, err := os.Stat(filepath.Join(merged, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := run(t, "model", "merge-lora", "--adapter", adapter, "--out", merged); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("merge-lora into a used --out: %v", err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt":"sky?"}`+"\n"), 0o644)
	gen := func(m, name string) string {
		out := filepath.Join(dir, name)
		if _, err := run(t, "--no-progress", "generate", "--model", m, "--prompts", prompts, "--out", out,
			"--max-new-tokens", "6", "--temperature", "0"); err != nil {
			t.Fatal(err)
		}
		rows, err := dataset.ReadAll[dataset.Response](out)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %v %v", name, rows, err)
		}
		return rows[0].Response
	}
	if a, b := gen(adapter, "gen-adapter"), gen(merged, "gen-merged"); a != b {
		t.Fatalf("greedy text with the adapter %q, with the merged model %q", a, b)
	}
}
