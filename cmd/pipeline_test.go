package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/pipeline"
)

// fakeSteps "runs" a step `metrics DIR` by writing an SFT-like
// metrics.jsonl into DIR, and `touch FILE` by creating FILE.
func fakeSteps(*cobra.Command) pipeline.StepFunc {
	return func(_ context.Context, args []string) error {
		if err := os.MkdirAll(filepath.Dir(args[1]), 0o755); err != nil {
			return err
		}
		if args[0] == "touch" {
			return os.WriteFile(args[1], nil, 0o644)
		}
		if err := os.MkdirAll(args[1], 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(args[1], "metrics.jsonl"), []byte("{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n"), 0o644)
	}
}

func runPipeline(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd(func() *cobra.Command { return newPipelineCmd(fakeSteps) })
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(append([]string{"pipeline"}, args...))
	err := root.Execute()
	return out.String(), err
}

// TestPipelineWritesReport: after its steps complete, rlhf pipeline writes
// WORKDIR/report.html and prints its path; --no-report and --dry-run write
// none; a pipeline with nothing to report succeeds without one; a
// report.html the pipeline did not write is never replaced.
func TestPipelineWritesReport(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pipeline.yaml")
	os.WriteFile(cfg, []byte("workdir: out\nsteps:\n  - name: sft\n    args: [metrics, \"${workdir}/ckpt/sft\"]\n    outputs: [\"${workdir}/ckpt/sft\"]\n"), 0o644)
	work := filepath.Join(dir, "out")
	report := filepath.Join(work, "report.html")

	if _, err := runPipeline(t, "--config", cfg, "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(report); err == nil {
		t.Fatal("--dry-run wrote a report")
	}
	if _, err := runPipeline(t, "--config", cfg, "--no-report"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(report); err == nil {
		t.Fatal("--no-report wrote a report")
	}
	out, err := runPipeline(t, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "report: "+report) {
		t.Errorf("stdout %q does not name %s", out, report)
	}
	page, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(page), `id="run-sft"`) || !strings.Contains(string(page), "ckpt/sft") {
		t.Fatalf("report: %v\n%.400s", err, page)
	}
	// A rerun (every step skipped) rewrites its own report.
	if _, err := runPipeline(t, "--config", cfg); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	// Someone else's report.html is kept, and the error says how to go on.
	os.WriteFile(report, []byte("mine"), 0o644)
	if _, err := runPipeline(t, "--config", cfg); err == nil || !strings.Contains(err.Error(), "--no-report") {
		t.Errorf("foreign report.html: %v", err)
	}
	if b, _ := os.ReadFile(report); string(b) != "mine" {
		t.Error("a report.html the pipeline did not write was replaced")
	}

	// Nothing to report: the pipeline still succeeds.
	cfg2 := filepath.Join(dir, "plain.yaml")
	os.WriteFile(cfg2, []byte("workdir: plain\nsteps:\n  - name: touch\n    args: [touch, \"${workdir}/x\"]\n    outputs: [\"${workdir}/x\"]\n"), 0o644)
	if out, err := runPipeline(t, "--config", cfg2); err != nil || strings.Contains(out, "report:") {
		t.Errorf("nothing to report: %v, stdout %q", err, out)
	}
}
