package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// TestLibraryErrorsNameTheFlags runs commands of every library through the
// real command tree with values only the library refuses: the printed
// error names the flags (the library names the options fields).
func TestLibraryErrorsNameTheFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	missing := filepath.Join(dir, "missing")
	pipelineFile := filepath.Join(dir, "pipeline.yaml")
	notReport := filepath.Join(dir, "notes.html")
	for path, text := range map[string]string{pipelineFile: "steps:\n  - name: a\n    args: [x, '${nope}']\n", notReport: "mine"} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args     []string
		want     []string // in the error
		notWants []string // option field names the command must have replaced
	}{
		// train: PPO's options, a LoRA option of an embedded struct and of a named one.
		{[]string{"ppo", "--policy", missing, "--reward", missing, "--prompts", missing, "--out", out, "--rollout-batch", "10", "--mini-batch", "4"},
			[]string{"--rollout-batch 10 must be a positive multiple of --mini-batch 4"}, []string{"RolloutBatch", "MiniBatch"}},
		{[]string{"ppo", "--policy", missing, "--reward", missing, "--prompts", missing, "--out", out, "--algo", "grpo", "--critic-lora-rank", "2"},
			[]string{"--critic-lora-rank: --algo grpo trains no critic; it applies to --algo ppo only"}, []string{"CriticLoRA", "Algo"}},
		{[]string{"sft", "--model", missing, "--data", missing, "--out", out, "--lora-rank", "2", "--lora-targets", " , "},
			[]string{`--lora-targets " , ": want module names`}, []string{"LoRA.Targets"}},
		{[]string{"dpo", "--model", missing, "--data", missing, "--out", out},
			[]string{"--data " + missing}, []string{"Data"}},
		// infer
		{[]string{"generate", "--prompts", missing, "--out", out},
			[]string{"--model, --prompts and --out are required"}, []string{"Model", "Prompts"}},
		// dataset
		{[]string{"build-prompts", "--out", out}, []string{"at least one --source is required"}, []string{"Sources"}},
		{[]string{"build-prompts", "--out", out, "--source", "instruction:" + missing, "--pools", "sft"},
			[]string{`--pools "sft"`}, []string{"Pools"}},
		// label
		{[]string{"comparisons", "synthetic", "--responses", missing, "--out", out, "--prefer", "vibes"},
			[]string{`--prefer "vibes": want reference, keyword=WORD, length=N or gold`}, []string{"Prefer"}},
		{[]string{"comparisons", "import", "--format", "trl", "--out", out}, []string{"comparisons import: --in and --out are required"}, []string{"In"}},
		// scrape
		{[]string{"scrape", "--out", out}, []string{"--seed is required"}, []string{"Seeds"}},
		// pipeline: --var fills a map (a flag value of cmd's own)
		{[]string{"pipeline", "--config", pipelineFile, "--var", "a=1"}, []string{"${nope} is not defined (add it under vars: or give --var nope=...)"}, []string{"Vars"}},
		// report: a function's argument, not an options struct
		{[]string{"report", dir, "--out", notReport}, []string{"--out: " + notReport + " already exists"}, []string{"Out"}},
	} {
		_, err := run(t, append([]string{"--no-progress"}, tc.args...)...)
		if err == nil {
			t.Errorf("%s: no error", strings.Join(tc.args, " "))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want it to say %q", strings.Join(tc.args, " "), err, w)
			}
		}
		for _, f := range tc.notWants {
			if strings.Contains(err.Error(), f) || regexp.MustCompile(`\{[A-Z]`).MatchString(err.Error()) {
				t.Errorf("%s: error %q still names the option field %s", strings.Join(tc.args, " "), err, f)
			}
		}
		if len(option.Fields(err)) == 0 {
			t.Errorf("%s: the error %q no longer carries its option fields", strings.Join(tc.args, " "), err)
		}
	}
}

type testCommon struct {
	Out  string
	Seed uint64
}

type testLoRA struct{ Rank int }

type testOptions struct {
	testCommon
	Steps    int
	Algo     string
	Files    []string
	Encoding dataset.Encoding
	LoRA     testLoRA
	Critic   testLoRA
	Unbound  int
}

// TestNameFlagsMapsEveryKindOfBinding: fields of embedded and named
// structs, plain, range-checked, enum, slice and encoding flags are found
// from the bindings; a field no flag sets keeps its name; errors without
// fields, and their wrapping, are left as they are.
func TestNameFlagsMapsEveryKindOfBinding(t *testing.T) {
	var o testOptions
	var fail error
	c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return fail }}
	f := c.Flags()
	f.StringVar(&o.Out, "out", "", "")
	f.Uint64Var(&o.Seed, "seed", 1, "")
	f.IntVar(&o.Steps, "steps", 1, "")
	limits(f, map[string]numRange{"steps": atLeast(1), "seed": nonZero()})
	enumVar(f, &o.Algo, "algo", "a", []string{"a", "b"}, "")
	f.StringArrayVar(&o.Files, "file", nil, "")
	bindEncodingFlag(f, &o.Encoding, "files")
	f.IntVar(&o.LoRA.Rank, "lora-rank", 0, "")
	f.IntVar(&o.Critic.Rank, "critic-lora-rank", 0, "")
	nameFlags(c, &o)

	got := flagsOfFields(c, &o)
	want := map[string]string{"Out": "out", "Seed": "seed", "Steps": "steps", "Algo": "algo", "Files": "file",
		"Encoding": "encoding", "LoRA.Rank": "lora-rank", "Critic.Rank": "critic-lora-rank"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fields → flags %v, want %v", got, want)
	}

	fail = fmt.Errorf("loading: %w", option.Errorf("{Steps} %d with {LoRA.Rank} and {Unbound}: %w", 0, fs.ErrNotExist))
	err := c.RunE(c, nil)
	if want := "loading: --steps 0 with --lora-rank and Unbound: " + fs.ErrNotExist.Error(); err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v no longer wraps fs.ErrNotExist", err)
	}
	fail = errors.New("plain {Steps}")
	if err := c.RunE(c, nil); err != fail {
		t.Errorf("an error without option fields came back as %v", err)
	}
}
