package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/model"
)

// TestTrainCommandsReadConversationalJSONL: `rlhf sft` trains a step on a
// JSONL mixing messages, ShareGPT and Alpaca rows, `rlhf rm` and `rlhf dpo`
// on a TRL conversational preference JSONL (explicit and implicit prompt),
// and a misplaced system message stops `rlhf sft` with FILE:LINE.
func TestTrainCommandsReadConversationalJSONL(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	if _, err := run(t, "--no-progress", "model", "init", "--arch", "llama", "--layers", "1", "--hidden", "32",
		"--heads", "4", "--kv-heads", "2", "--out", m); err != nil {
		t.Fatal(err)
	}
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sft := write("sft.jsonl",
		`{"messages": [{"role": "user", "content": "sky?"}, {"role": "assistant", "content": "blue"}]}`,
		`{"conversations": [{"from": "human", "value": "grass?"}, {"from": "gpt", "value": "green"}]}`,
		`{"instruction": "Name a fruit.", "input": "red", "output": "apple"}`)
	pref := write("pref.jsonl",
		`{"prompt": [{"role": "user", "content": "sky?"}], "chosen": [{"role": "assistant", "content": "blue"}], "rejected": [{"role": "assistant", "content": "no"}]}`,
		`{"chosen": [{"role": "user", "content": "grass?"}, {"role": "assistant", "content": "green"}], "rejected": [{"role": "user", "content": "grass?"}, {"role": "assistant", "content": "no"}]}`)
	steps := []string{"--max-steps", "1", "--batch-size", "2", "--max-seq-len", "64", "--backend", "go"}
	for _, c := range []struct{ cmd, data, stage string }{{"sft", sft, "sft"}, {"rm", pref, "rm"}, {"dpo", pref, "dpo"}} {
		out := filepath.Join(dir, c.cmd)
		args := append([]string{"--no-progress", c.cmd, "--model", m, "--data", c.data, "--out", out}, steps...)
		if _, err := run(t, args...); err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		got, err := model.Load(out)
		if err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		if got.Meta.Stage != c.stage {
			t.Errorf("%s: published stage %q", c.cmd, got.Meta.Stage)
		}
	}
	bad := write("bad.jsonl",
		`{"messages": [{"role": "user", "content": "Be brief."}, {"role": "system", "content": "sky?"}, {"role": "assistant", "content": "blue"}]}`)
	args := append([]string{"--no-progress", "sft", "--model", m, "--data", bad, "--out", filepath.Join(dir, "bad")}, steps...)
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), bad+":1: ") || !strings.Contains(err.Error(), "got [user, system, assistant]") {
		t.Errorf("misplaced system message: %v", err)
	}
}

type pqMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type pqConversation struct {
	Messages []pqMessage `parquet:"messages,list"`
}

// TestTrainCommandsOnMultiTurnChatML: a model with a ChatML chat template
// fine-tunes from the command line on three-turn conversations with a
// system message (messages JSONL, ShareGPT JSONL, a Parquet file with a
// messages column), trains rm and dpo on a TRL multi-turn preference file,
// and generates from a prompt file of conversations, the response rows
// keeping the conversation's history.
func TestTrainCommandsOnMultiTurnChatML(t *testing.T) {
	m := chatMLModel(t)
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conv := `[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "And you?"}, {"role": "assistant", "content": "Fine."}, {"role": "user", "content": "Sky?"}`
	msgs := write("chat.jsonl",
		`{"messages": `+conv+`, {"role": "assistant", "content": "Blue."}]}`,
		`{"messages": [{"role": "user", "content": "Grass?"}, {"role": "assistant", "content": "Green."}]}`)
	share := write("sharegpt.jsonl",
		`{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}, {"from": "human", "value": "Sea?"}, {"from": "gpt", "value": "Blue too."}]}`,
		`{"conversations": [{"from": "human", "value": "Snow?"}, {"from": "gpt", "value": "White."}]}`)
	var b bytes.Buffer
	if err := parquet.Write(&b, []pqConversation{
		{Messages: []pqMessage{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Sun?"}, {"assistant", "Yellow."}}},
		{Messages: []pqMessage{{"user", "Night?"}, {"assistant", "Dark."}}},
	}); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "chat.parquet")
	os.WriteFile(pq, b.Bytes(), 0o644)
	steps := []string{"--max-steps", "1", "--batch-size", "2", "--max-seq-len", "160", "--backend", "go"}
	for i, data := range []string{msgs, share, pq} {
		out := filepath.Join(dir, "sft"+string(rune('a'+i)))
		args := append([]string{"--no-progress", "sft", "--model", m, "--data", data, "--out", out}, steps...)
		if _, err := run(t, args...); err != nil {
			t.Fatalf("sft %s: %v", data, err)
		}
		if meta, err := model.LoadMeta(out); err != nil || meta.Stage != "sft" {
			t.Fatalf("sft %s: %+v %v", data, meta, err)
		}
	}
	pref := write("pref.jsonl",
		`{"prompt": `+conv+`], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]}`,
		`{"chosen": [{"role": "user", "content": "Grass?"}, {"role": "assistant", "content": "Green."}], "rejected": [{"role": "user", "content": "Grass?"}, {"role": "assistant", "content": "Red."}]}`)
	for _, c := range []string{"rm", "dpo"} {
		out := filepath.Join(dir, c)
		args := append([]string{"--no-progress", c, "--model", m, "--data", pref, "--out", out}, steps...)
		if _, err := run(t, args...); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	prompts := write("prompts.jsonl", `{"messages": `+conv+`]}`)
	gen := filepath.Join(dir, "gen")
	if _, err := run(t, "--no-progress", "generate", "--model", m, "--prompts", prompts, "--out", gen, "--max-new-tokens", "4", "--backend", "go"); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Response](gen)
	if err != nil || len(rows) != 1 || rows[0].Prompt != "Sky?" || !strings.Contains(rows[0].History, "And you?") {
		t.Fatalf("generated %+v, %v", rows, err)
	}
}
