package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainOnConversationalJSONL: sft trains on a messages JSONL file, rm
// and dpo on a TRL conversational preference JSONL (explicit and implicit
// prompts), one step each on a tiny model; a multi-turn row stops sft with
// its FILE:LINE.
func TestTrainOnConversationalJSONL(t *testing.T) {
	base := tinyModelDir(t, 1, 16, 64)
	root := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sft := write("sft.jsonl",
		`{"messages": [{"role": "user", "content": "sky?"}, {"role": "assistant", "content": "blue"}]}`,
		`{"messages": [{"role": "user", "content": "grass?"}, {"role": "assistant", "content": "green"}]}`)
	pref := write("pref.jsonl",
		`{"prompt": [{"role": "user", "content": "sky?"}], "chosen": [{"role": "assistant", "content": "blue good"}], "rejected": [{"role": "assistant", "content": "bad"}]}`,
		`{"chosen": [{"role": "user", "content": "grass?"}, {"role": "assistant", "content": "green good"}], "rejected": [{"role": "user", "content": "grass?"}, {"role": "assistant", "content": "bad"}]}`)
	common := func(out string) CommonOptions {
		return CommonOptions{Out: filepath.Join(root, out), MaxSteps: 1, LR: 1e-3, BatchSize: 2, MaxSeqLen: 64, Backend: "go"}
	}

	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: sft, Val: sft, CommonOptions: common("sft")})
	if err != nil {
		t.Fatal("sft:", err)
	}
	if res.Steps != 1 || math.IsNaN(res.Loss) || math.IsNaN(res.ValLoss) {
		t.Errorf("sft: %+v", res)
	}
	rm, err := RunRM(context.Background(), RMOptions{Model: base, Data: pref, Val: pref, CommonOptions: common("rm")})
	if err != nil {
		t.Fatal("rm:", err)
	}
	if rm.Steps != 1 || math.IsNaN(rm.ValAccuracy) {
		t.Errorf("rm: %+v", rm)
	}
	dpo, err := RunDPO(context.Background(), DPOOptions{Model: base, Data: pref, Val: pref, Beta: 0.1, Loss: DPOLossDPO, CommonOptions: common("dpo")})
	if err != nil {
		t.Fatal("dpo:", err)
	}
	if dpo.Steps != 1 || math.IsNaN(dpo.ValAccuracy) {
		t.Errorf("dpo: %+v", dpo)
	}

	multi := write("multi.jsonl",
		`{"messages": [{"role": "user", "content": "sky?"}, {"role": "assistant", "content": "blue"}]}`,
		`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}`)
	_, err = RunSFT(context.Background(), SFTOptions{Model: base, Data: multi, CommonOptions: common("multi")})
	if err == nil || !strings.Contains(err.Error(), multi+":2: ") || !strings.Contains(err.Error(), "multi-turn conversations are not supported yet: 2 user turns") {
		t.Errorf("multi-turn sft: %v", err)
	}
}
