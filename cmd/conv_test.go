package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// TestTrainCommandsReadConversationalJSONL: `rlhf sft` trains a step on a
// JSONL mixing messages, ShareGPT and Alpaca rows, `rlhf rm` and `rlhf dpo`
// on a TRL conversational preference JSONL (explicit and implicit prompt),
// and a system message stops `rlhf sft` with FILE:LINE.
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
	sys := write("sys.jsonl",
		`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "sky?"}, {"role": "assistant", "content": "blue"}]}`)
	args := append([]string{"--no-progress", "sft", "--model", m, "--data", sys, "--out", filepath.Join(dir, "sys")}, steps...)
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), sys+":1: ") || !strings.Contains(err.Error(), "system messages are not supported yet") {
		t.Errorf("system message: %v", err)
	}
}
