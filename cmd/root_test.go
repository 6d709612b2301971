package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/version"
)

// run executes the CLI in-process and returns stdout and the error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestHelpListsCommands(t *testing.T) {
	out, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"inspect", "version", "completion", "--log-level", "--config", "--no-progress"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestVersion(t *testing.T) {
	version.Version, version.Commit = "v9.9.9", "abc1234"
	defer func() { version.Version, version.Commit = "", "" }()
	out, err := run(t, "version")
	if err != nil || !strings.Contains(out, "v9.9.9") || !strings.Contains(out, "abc1234") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestCompletion(t *testing.T) {
	out, err := run(t, "completion", "bash")
	if err != nil || !strings.Contains(out, "__start_rlhf") {
		t.Fatalf("completion: %v", err)
	}
}

func TestBadGlobalFlags(t *testing.T) {
	if _, err := run(t, "--log-level", "loud", "version"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Fatalf("want --log-level error, got %v", err)
	}
	if _, err := run(t, "--log-format", "xml", "version"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("want --log-format error, got %v", err)
	}
}

func TestConfigFileSetsFlagsAndCommandLineWins(t *testing.T) {
	tmp := t.TempDir()
	ds := filepath.Join(tmp, "ds")
	w, err := dataset.Create[dataset.Prompt](ds, dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(dataset.Prompt{Prompt: "first"}, dataset.Prompt{Prompt: "second"}, dataset.Prompt{Prompt: "third"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(tmp, "rlhf.yaml")
	os.WriteFile(cfg, []byte("inspect:\n  head: 1\n  json: true\n"), 0o644)

	out, err := run(t, "--config", cfg, "inspect", ds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"head"`) || !strings.Contains(out, "first") || strings.Contains(out, "second") {
		t.Fatalf("config not applied (want JSON with one head row):\n%s", out)
	}
	out, err = run(t, "--config", cfg, "inspect", "--head", "2", ds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "second") || strings.Contains(out, "third") {
		t.Fatalf("command-line --head 2 should win over the file:\n%s", out)
	}

	os.WriteFile(cfg, []byte("inspect:\n  hed: 1\n"), 0o644)
	_, err = run(t, "--config", cfg, "inspect", ds)
	if err == nil || !strings.Contains(err.Error(), "inspect.hed") || !strings.Contains(err.Error(), cfg) {
		t.Fatalf("want an error naming the file and the unknown key, got %v", err)
	}
}

func TestPipelineRunsStepsInProcess(t *testing.T) {
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "p.yaml")
	os.WriteFile(cfg, []byte("workdir: w\nsteps:\n  - name: v\n    args: [version]\n  - name: bad\n    args: [inspect, \"${workdir}/missing\"]\n"), 0o644)
	out, err := run(t, "pipeline", "--config", cfg)
	if !strings.Contains(out, "rlhf ") {
		t.Fatalf("version step did not run in-process: %q", out)
	}
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want the failing step named, got %v", err)
	}
	out, _ = run(t, "pipeline", "--config", cfg)
	if strings.Contains(out, "rlhf ") {
		t.Fatalf("complete step ran again: %q", out)
	}
}
