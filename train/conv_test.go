package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
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

	bad := write("bad.jsonl",
		`{"messages": [{"role": "user", "content": "sky?"}, {"role": "assistant", "content": "blue"}]}`,
		`{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}`)
	_, err = RunSFT(context.Background(), SFTOptions{Model: base, Data: bad, CommonOptions: common("bad")})
	if err == nil || !strings.Contains(err.Error(), bad+":2: ") || !strings.Contains(err.Error(), "got [user, user, assistant]") {
		t.Errorf("malformed sft conversation: %v", err)
	}
}

// TestTrainOnMultiTurnConversations: sft, rm and dpo train on multi-turn
// conversations with a system message (ShareGPT for sft, TRL for the
// pairs); SFT's data path puts the loss on every assistant turn of the
// rendered conversation (plain form: the tiny model has no chat template),
// token by token, and the pairs of rm share the conversation up to the
// final answers.
func TestTrainOnMultiTurnConversations(t *testing.T) {
	base := tinyModelDir(t, 1, 16, 128)
	root := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sft := write("sharegpt.jsonl",
		`{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}, {"from": "human", "value": "sky?"}, {"from": "gpt", "value": "blue"}]}`,
		`{"conversations": [{"from": "human", "value": "grass?"}, {"from": "gpt", "value": "green"}]}`)
	pref := write("pref.jsonl",
		`{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "sky?"}], "chosen": [{"role": "assistant", "content": "blue good"}], "rejected": [{"role": "assistant", "content": "bad"}]}`,
		`{"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "grass?"}, {"role": "assistant", "content": "green good"}], "rejected": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "grass?"}, {"role": "assistant", "content": "bad"}]}`)
	common := func(out string) CommonOptions {
		return CommonOptions{Out: filepath.Join(root, out), MaxSteps: 1, LR: 1e-3, BatchSize: 2, MaxSeqLen: 128, Backend: "go"}
	}

	rows, err := readAll[dataset.SFT]("--data", []string{sft}, "")
	if err != nil {
		t.Fatal(err)
	}
	m, tok, err := infer.Load(base, infer.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: 128, Truncate: infer.TruncateLeft}
	seqs := encodeSFT(enc, rows, nil)
	text := "Be brief.\n\nHuman: hi\n\nAssistant: hello\n\nHuman: sky?\n\nAssistant: blue"
	e := seqs[0]
	var loss, all []byte
	for i, id := range e.Tokens {
		b := tok.DecodeBytes([]int{int(id)})
		if int(id) == tok.EOS() {
			b = []byte("<eos>")
		}
		all = append(all, b...)
		if e.LossAt(i) {
			loss = append(loss, b...)
			loss = append(loss, '|')
		}
	}
	if string(all) != text+"<eos>" {
		t.Fatalf("rendered %q", all)
	}
	if string(loss) != "h|e|l|l|o|b|l|u|e|<eos>|" {
		t.Errorf("loss tokens %q, want the assistant turns hello, blue and EOS", loss)
	}

	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: sft, Val: sft, CommonOptions: common("sft")})
	if err != nil {
		t.Fatal("sft:", err)
	}
	if res.Steps != 1 || math.IsNaN(res.Loss) || math.IsNaN(res.ValLoss) {
		t.Errorf("sft: %+v", res)
	}
	cs, err := readAll[dataset.Comparison]("--data", []string{pref}, "")
	if err != nil {
		t.Fatal(err)
	}
	groups := GroupComparisons(cs, enc, nil)
	for _, g := range groups {
		c, r := g.Seqs[g.Pairs[0][0]], g.Seqs[g.Pairs[0][1]]
		if c.PromptLen != r.PromptLen || string(tok.DecodeBytes(infer.Ints(c.Tokens[:c.PromptLen]))) != string(tok.DecodeBytes(infer.Ints(r.Tokens[:r.PromptLen]))) || c.Loss != nil {
			t.Errorf("a pair does not share its conversation: %d/%d", c.PromptLen, r.PromptLen)
		}
	}
	if got := string(tok.DecodeBytes(infer.Ints(groups[1].Seqs[0].Tokens[:groups[1].Seqs[0].PromptLen]))); got != "Human: a\n\nAssistant: b\n\nHuman: grass?\n\nAssistant: " {
		t.Errorf("implicit multi-turn prompt %q", got)
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
}
