package plan

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckFit: the memory check runs when the device memory is given or
// the xla:cuda backend reports it, and not on the go backend without it.
func TestCheckFit(t *testing.T) {
	opts := func(mem string) CommandOptions {
		return CommandOptions{Options: Options{Step: StepSFT, BatchSize: 8, GradAccum: 1, MaxSeqLen: 512, DType: "float32"},
			PolicyPath: "../testdata/plan/gpt-1.3b.json", DeviceMemory: mem}
	}
	never := func() ([]int64, error) { t.Fatal("the go backend must not query a GPU"); return nil, nil }
	if fit, err := CheckFit(opts(""), "--device-memory", "--model", "go", never); err != nil || fit.Checked {
		t.Fatalf("go backend without device memory: %+v %v", fit, err)
	}
	fit, err := CheckFit(opts("1GiB"), "--device-memory", "--model", "go", never)
	if err != nil || !fit.Checked || fit.Fits || !strings.Contains(fit.Table, "NO") || !strings.Contains(fit.Against, "--device-memory 1GiB") {
		t.Fatalf("1.3B full SFT on 1 GiB: %+v %v", fit, err)
	}
	if fit, err = CheckFit(opts("1TiB"), "--device-memory", "--model", "go", never); err != nil || !fit.Checked || !fit.Fits {
		t.Fatalf("on 1 TiB: %+v %v", fit, err)
	}
	gpu := func() ([]int64, error) { return []int64{1 << 30, 80 << 30}, nil }
	if fit, err = CheckFit(opts(""), "--device-memory", "--model", "xla:cuda", gpu); err != nil || !fit.Checked || fit.Fits || !strings.Contains(fit.Against, "nvidia-smi") {
		t.Fatalf("xla:cuda with a 1 GiB first GPU: %+v %v", fit, err)
	}
	failing := func() ([]int64, error) { return nil, errors.New("no nvidia-smi") }
	if fit, err = CheckFit(opts(""), "--device-memory", "--model", "xla:cuda", failing); err != nil || fit.Checked {
		t.Fatalf("memory unknown: %+v %v", fit, err)
	}
}
