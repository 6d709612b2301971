package cmd

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/label"
)

// snapshot maps every path under root (relative) to its content, folders to
// "/"; a missing root gives nil.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return nil
	}
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			snap[rel] = "/"
			return nil
		}
		raw, err := os.ReadFile(p)
		snap[rel] = string(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sameSnapshot(a, b map[string]string) bool { return snapshotDiff(a, b) == "" }

// snapshotDiff names the paths added, removed or changed from a to b.
func snapshotDiff(a, b map[string]string) string {
	if a == nil && b == nil {
		return ""
	}
	if a == nil || b == nil {
		return fmt.Sprintf("existed before: %v, after: %v", a != nil, b != nil)
	}
	var diff []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			diff = append(diff, "-"+k)
		} else if w != v {
			diff = append(diff, "~"+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, "+"+k)
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, " ")
}

func writeTestDataset[T dataset.Record](t *testing.T, dir string, rows ...T) string {
	t.Helper()
	w, err := dataset.Create[T](dir, dataset.WriterOptions{Command: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write(rows...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// outputFixture holds small inputs for every command that writes an output.
type outputFixture struct {
	dir                          string
	model, rm                    string // tiny model folders (model init)
	promptsJSONL, hhJSONL, texts string
	tokenizer                    string // a tokenizer.json
	prompts, sft, qa, responses  string // datasets
	comparisons, labelDB         string
	instructions                 string // an instruction JSONL file alone in its folder
}

func newOutputFixture(t *testing.T) *outputFixture {
	t.Helper()
	dir := t.TempDir()
	f := &outputFixture{dir: dir}
	in := func(name string) string { return filepath.Join(dir, "in", name) }
	os.MkdirAll(in(""), 0o755)
	f.model, f.rm = in("model"), in("rm")
	for _, args := range [][]string{
		{"model", "init", "--arch", "gpt2", "--layers", "1", "--hidden", "16", "--heads", "2", "--max-positions", "64", "--out", f.model},
		{"model", "init", "--arch", "gpt2", "--layers", "1", "--hidden", "16", "--heads", "2", "--max-positions", "64", "--score-head", "--out", f.rm},
	} {
		if _, err := run(t, append([]string{"--no-progress"}, args...)...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	f.promptsJSONL = in("prompts.jsonl")
	os.WriteFile(f.promptsJSONL, []byte(`{"prompt":"hi"}`+"\n"+`{"prompt":"name a colour"}`+"\n"), 0o644)
	f.texts = in("texts.jsonl")
	os.WriteFile(f.texts, []byte(`{"text":"the cat sat on the mat, the cat sat"}`+"\n"), 0o644)
	raw, err := os.ReadFile("../testdata/label/hh.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	f.hhJSONL = in("hh.jsonl")
	os.WriteFile(f.hhJSONL, raw, 0o644)
	if raw, err = os.ReadFile("../testdata/prompts/instruction.jsonl"); err != nil {
		t.Fatal(err)
	}
	f.instructions = in("src/instruction.jsonl")
	os.MkdirAll(filepath.Dir(f.instructions), 0o755)
	os.WriteFile(f.instructions, raw, 0o644)
	f.tokenizer = filepath.Join(f.model, "tokenizer.json")
	f.prompts = writeTestDataset(t, in("prompts"), dataset.Prompt{Prompt: "hi"}, dataset.Prompt{Prompt: "name a colour"})
	f.sft = writeTestDataset(t, in("sft"), dataset.SFT{Prompt: "hi", Response: "hello"}, dataset.SFT{Prompt: "name a colour", Response: "blue"})
	v1, v2 := int64(10), int64(1)
	f.qa = writeTestDataset(t, in("qa"),
		dataset.QA{Site: "s", URL: "u", Question: "best colour?", Answer: "blue", Votes: &v1},
		dataset.QA{Site: "s", URL: "u", Question: "best colour?", Answer: "grey", Votes: &v2})
	f.responses = writeTestDataset(t, in("responses"),
		dataset.Response{PromptID: "p1", Prompt: "hi", Response: "hello there"},
		dataset.Response{PromptID: "p1", Prompt: "hi", Response: "yo"})
	f.comparisons = writeTestDataset(t, in("comparisons"),
		dataset.Comparison{Prompt: "hi", Chosen: "hello", Rejected: "go away"},
		dataset.Comparison{Prompt: "colour?", Chosen: "blue", Rejected: "no"})
	f.labelDB = in("labels.db")
	s, err := label.OpenStore(f.labelDB)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return f
}

// outputCommand is a command that writes an output at --out.
type outputCommand struct {
	name string
	args func(out string) []string
	// file: the output is a file (tokenizer.json), not a folder.
	file bool
	// input is one of the command's inputs, given as --out to check that
	// it is refused (with its content unchanged); "" to skip.
	input string
	// rerun: the command is cheap; it runs into a fresh --out, then again
	// into its own previous output, which it may replace.
	rerun bool
}

func (f *outputFixture) commands() []outputCommand {
	gen := []string{"--max-new-tokens", "2", "--temperature", "0"}
	return []outputCommand{
		{name: "generate", args: func(out string) []string {
			return append([]string{"generate", "--model", f.model, "--prompts", f.prompts, "--out", out}, gen...)
		}, input: f.prompts, rerun: true},
		{name: "score", args: func(out string) []string {
			return []string{"score", "--model", f.model, "--data", f.responses, "--out", out}
		}, input: f.responses, rerun: true},
		{name: "eval", args: func(out string) []string {
			return append([]string{"eval", "--policy", f.model, "--baseline", f.model, "--reward", f.rm, "--prompts", f.prompts, "--out", out, "--max-prompt-len", "16"}, gen...)
		}, input: f.rm, rerun: true},
		{name: "build-prompts", args: func(out string) []string {
			return []string{"build-prompts", "--source", "instruction:" + f.instructions, "--total", "4", "--out", out}
		}, input: filepath.Dir(f.instructions), rerun: true},
		{name: "comparisons import", args: func(out string) []string {
			return []string{"comparisons", "import", "--format", "hh", "--in", f.hhJSONL, "--out", out}
		}, input: f.hhJSONL, rerun: true},
		{name: "comparisons from-votes", args: func(out string) []string {
			return []string{"comparisons", "from-votes", "--qa", f.qa, "--out", out}
		}, input: f.qa, rerun: true},
		{name: "comparisons synthetic", args: func(out string) []string {
			return []string{"comparisons", "synthetic", "--responses", f.responses, "--prefer", "length=5", "--out", out}
		}, input: f.responses, rerun: true},
		{name: "label export", args: func(out string) []string {
			return []string{"label", "export", "--db", f.labelDB, "--out", out}
		}, input: filepath.Dir(f.labelDB)},
		{name: "judge", args: func(out string) []string {
			return []string{"judge", "--responses", f.responses, "--base-url", "http://127.0.0.1:1/v1", "--model", "m", "--out", out}
		}, input: f.responses},
		{name: "scrape", args: func(out string) []string {
			return []string{"scrape", "--site", "baike", "--seed", "http://127.0.0.1:1/", "--offline", "--cache-dir", filepath.Join(f.dir, "cache"), "--out", out}
		}},
		{name: "sft", args: func(out string) []string {
			return []string{"sft", "--model", f.model, "--data", f.sft, "--out", out, "--max-steps", "1", "--batch-size", "2", "--max-seq-len", "32"}
		}, input: f.model},
		{name: "rm", args: func(out string) []string {
			return []string{"rm", "--model", f.model, "--data", f.comparisons, "--out", out, "--max-steps", "1", "--batch-size", "2", "--max-seq-len", "32"}
		}, input: f.comparisons},
		{name: "dpo", args: func(out string) []string {
			return []string{"dpo", "--model", f.model, "--data", f.comparisons, "--out", out, "--max-steps", "1", "--batch-size", "2", "--max-seq-len", "32"}
		}, input: f.comparisons},
		{name: "ppo", args: func(out string) []string {
			return []string{"ppo", "--policy", f.model, "--reward", f.rm, "--prompts", f.prompts, "--out", out, "--iterations", "1", "--rollout-batch", "2", "--mini-batch", "2", "--max-new-tokens", "2"}
		}, input: f.rm},
		{name: "model init", args: func(out string) []string {
			return []string{"model", "init", "--arch", "gpt2", "--layers", "1", "--hidden", "16", "--heads", "2", "--max-positions", "64", "--tokenizer", f.tokenizer, "--out", out}
		}, input: f.model, rerun: true},
		{name: "tokenizer byte-level", args: func(out string) []string {
			return []string{"tokenizer", "byte-level", "--out", out}
		}, file: true, rerun: true},
		{name: "tokenizer train", args: func(out string) []string {
			return []string{"tokenizer", "train", "--data", f.texts, "--vocab-size", "260", "--out", out}
		}, file: true, input: f.texts, rerun: true},
		{name: "demo", args: func(out string) []string { return []string{"demo", "--out", out} }},
	}
}

// TestOutputReplacesOnlyItsOwnKind: every command that writes an output
// refuses a non-empty folder of something else, a file (or, for a file
// output, a folder or a file of another kind), a dataset of another kind
// and its own inputs, and leaves each exactly as it was; a cheap command
// may replace its own previous output.
func TestOutputReplacesOnlyItsOwnKind(t *testing.T) {
	f := newOutputFixture(t)
	for _, c := range f.commands() {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			base := filepath.Join(f.dir, "out", strings.ReplaceAll(c.name, " ", "-"))
			foreign := filepath.Join(base, "foreign")
			os.MkdirAll(filepath.Join(foreign, "src"), 0o755)
			os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("my notes"), 0o644)
			os.WriteFile(filepath.Join(foreign, "src", "main.go"), []byte("package main"), 0o644)
			file := filepath.Join(base, "myinput.json")
			os.WriteFile(file, []byte(`{"mine": true}`+"\n"), 0o644)
			otherKind := writeTestDataset(t, filepath.Join(base, "other-kind"), dataset.SFT{Prompt: "p", Response: "r"})
			targets := []string{foreign, file, otherKind}
			if c.input != "" {
				targets = append(targets, c.input)
			}
			for _, out := range targets {
				before := snapshot(t, out)
				inputs := snapshot(t, filepath.Join(f.dir, "in"))
				_, err := run(t, append([]string{"--no-progress"}, c.args(out)...)...)
				if err == nil {
					t.Errorf("--out %s was accepted", out)
				} else if !strings.Contains(err.Error(), "--out") {
					t.Errorf("--out %s: the error does not name --out: %v", out, err)
				}
				if d := snapshotDiff(before, snapshot(t, out)); d != "" {
					t.Errorf("--out %s changed: %s", out, d)
				}
				if !sameSnapshot(inputs, snapshot(t, filepath.Join(f.dir, "in"))) {
					t.Errorf("--out %s changed the inputs", out)
				}
			}
			if !c.rerun {
				return
			}
			out := filepath.Join(base, "new", "out")
			if c.file {
				out = filepath.Join(base, "new", "tokenizer.json")
			}
			for run1 := range 2 {
				if _, err := run(t, append([]string{"--no-progress"}, c.args(out)...)...); err != nil {
					t.Fatalf("run %d into %s: %v", run1+1, out, err)
				}
			}
		})
	}
}

// TestFailedCommandLeavesNoTrace: a command that fails after its checks
// (a missing model, a missing or malformed input) leaves --out absent (and
// the folders above it that it would have created), or, when --out held a
// previous output, exactly as it was.
func TestFailedCommandLeavesNoTrace(t *testing.T) {
	f := newOutputFixture(t)
	missing := filepath.Join(f.dir, "no-such-model")
	bad := filepath.Join(f.dir, "in", "bad.jsonl")
	os.WriteFile(bad, []byte(`{"chosen":"\n\nHuman: a\n\nAssistant: b","rejected":"\n\nHuman: a\n\nAssistant: c"}`+"\n{not json\n"), 0o644)
	for _, c := range []struct {
		name string
		args func(out string) []string
		// previous writes a previous output of the same kind at out.
		previous func(out string)
	}{
		{"generate", func(out string) []string {
			return []string{"generate", "--model", missing, "--prompts", f.prompts, "--out", out}
		}, func(out string) { writeTestDataset(t, out, dataset.Response{Prompt: "p", Response: "r"}) }},
		{"score", func(out string) []string {
			return []string{"score", "--model", missing, "--data", f.responses, "--out", out}
		}, func(out string) { writeTestDataset(t, out, dataset.Response{Prompt: "p", Response: "r"}) }},
		{"eval", func(out string) []string {
			return []string{"eval", "--policy", f.model, "--baseline", f.model, "--reward", missing, "--prompts", f.prompts, "--out", out}
		}, nil},
		{"build-prompts", func(out string) []string {
			return []string{"build-prompts", "--source", "instruction:" + filepath.Join(f.dir, "none.jsonl"), "--total", "4", "--out", out}
		}, nil},
		{"comparisons import", func(out string) []string {
			return []string{"comparisons", "import", "--format", "hh", "--in", bad, "--out", out}
		}, func(out string) {
			writeTestDataset(t, out, dataset.Comparison{Prompt: "p", Chosen: "a", Rejected: "b"})
		}},
		{"sft", func(out string) []string {
			return []string{"sft", "--model", missing, "--data", f.sft, "--out", out}
		}, nil},
		{"rm", func(out string) []string {
			return []string{"rm", "--model", missing, "--data", f.comparisons, "--out", out}
		}, nil},
		{"dpo", func(out string) []string {
			return []string{"dpo", "--model", missing, "--data", f.comparisons, "--out", out}
		}, nil},
		{"ppo", func(out string) []string {
			return []string{"ppo", "--policy", f.model, "--reward", missing, "--prompts", f.prompts, "--out", out}
		}, nil},
		{"ppo --algo grpo", func(out string) []string {
			return []string{"ppo", "--algo", "grpo", "--policy", f.model, "--reward", missing, "--prompts", f.prompts, "--out", out}
		}, nil},
		{"model init", func(out string) []string {
			return []string{"model", "init", "--arch", "gpt2", "--tokenizer", filepath.Join(f.dir, "none.json"), "--out", out}
		}, nil},
		{"tokenizer train", func(out string) []string {
			return []string{"tokenizer", "train", "--data", bad, "--out", out}
		}, nil},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			base := filepath.Join(f.dir, "fail", strings.ReplaceAll(c.name, " ", "-"))
			out := filepath.Join(base, "new", "sub", "out")
			if _, err := run(t, append([]string{"--no-progress"}, c.args(out)...)...); err == nil {
				t.Fatal("the command did not fail")
			}
			if _, err := os.Stat(filepath.Join(base, "new")); !os.IsNotExist(err) {
				t.Errorf("the failed command left %s behind: %s", filepath.Join(base, "new"), snapshotDiff(map[string]string{}, snapshot(t, base)))
			}
			if c.previous == nil {
				return
			}
			prev := filepath.Join(base, "prev")
			c.previous(prev)
			before := snapshot(t, prev)
			if _, err := run(t, append([]string{"--no-progress"}, c.args(prev)...)...); err == nil {
				t.Fatal("the command did not fail")
			}
			if d := snapshotDiff(before, snapshot(t, prev)); d != "" {
				t.Errorf("the failed command changed the previous output %s: %s", prev, d)
			}
		})
	}
}
