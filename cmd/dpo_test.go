package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/train"
)

// runDPOCaptured runs `rlhf dpo` with args through its run-function seam and
// returns the options it was given.
func runDPOCaptured(t *testing.T, args ...string) (train.DPOOptions, error) {
	t.Helper()
	var got train.DPOOptions
	root := newRootCmd(func() *cobra.Command {
		return newDPOCmd(func(_ context.Context, o train.DPOOptions) error { got = o; return nil })
	})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(args)
	err := root.Execute()
	return got, err
}

// TestDPOFlagsReachOptions: every dpo flag reaches DPOOptions, --config
// fills what the command line does not give, and the defaults are
// train.DPODefaults().
func TestDPOFlagsReachOptions(t *testing.T) {
	got, err := runDPOCaptured(t, "dpo", "--model", "m", "--data", "d", "--out", "o")
	if err != nil {
		t.Fatal(err)
	}
	want := train.DPODefaults()
	want.Model, want.Data, want.Out = "m", "d", "o"
	if got != want {
		t.Fatalf("defaults\n got %+v\nwant %+v", got, want)
	}
	if got.Loss != "dpo" || got.Beta != 0.1 || got.SimPOGamma != 0.5 || got.LR != 1e-6 || got.ClipGrad != 1 {
		t.Fatalf("dpo defaults: %+v", got)
	}

	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("dpo:\n  beta: 2\n  loss: ipo\n  sft-coef: 0.3\n"), 0o644)
	got, err = runDPOCaptured(t, "--config", cfg, "dpo", "--model", "m", "--ref-model", "r", "--data", "d", "--val", "v", "--out", "o",
		"--loss", "simpo", "--simpo-gamma", "1.5", "--label-smoothing", "0.1", "--stop-after", "3", "--batch-size", "2", "--lr", "5e-7")
	if err != nil {
		t.Fatal(err)
	}
	want = train.DPODefaults()
	want.Model, want.Ref, want.Data, want.Val, want.Out = "m", "r", "d", "v", "o"
	want.Loss, want.SimPOGamma, want.LabelSmoothing, want.StopAfter = "simpo", 1.5, 0.1, 3 // the command line wins
	want.Beta, want.SFTCoef = 2, 0.3                                                       // from the file
	want.BatchSize, want.LR = 2, 5e-7
	if got != want {
		t.Fatalf("flags\n got %+v\nwant %+v", got, want)
	}
}

// TestDPOLossFlagRefusesOtherValues: --loss is a closed set, checked when
// parsed, on the command line and in --config.
func TestDPOLossFlagRefusesOtherValues(t *testing.T) {
	_, err := runDPOCaptured(t, "dpo", "--loss", "kto")
	if err == nil || !strings.Contains(err.Error(), "--loss") || !strings.Contains(err.Error(), "want one of dpo, ipo, simpo") {
		t.Errorf("--loss kto: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "rlhf.yaml")
	os.WriteFile(cfg, []byte("dpo:\n  loss: hinge\n"), 0o644)
	_, err = runDPOCaptured(t, "--config", cfg, "dpo")
	if err == nil || !strings.Contains(err.Error(), "dpo.loss") || !strings.Contains(err.Error(), "dpo, ipo, simpo") {
		t.Errorf("config --loss hinge: %v", err)
	}
}
