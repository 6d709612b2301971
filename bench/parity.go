package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/model"
)

// golden is <dir>/expected.json beside a golden model, written by
// testdata/models/make_golden.py (an independent numpy implementation).
type golden struct {
	InputIDs      [][]int32     `json:"input_ids"`
	AttentionMask [][]int32     `json:"attention_mask"`
	Logits        [][][]float64 `json:"logits"`
}

// ParityResult compares one golden model's logits on a backend with the go
// backend and with the reference of expected.json.
type ParityResult struct {
	Model   string `json:"model"`
	Backend string `json:"backend"`
	DType   string `json:"dtype"`
	// MaxDiffGo is max |logit(backend) − logit(go backend)| over real tokens.
	MaxDiffGo float64 `json:"max_diff_vs_go"`
	// MaxDiffRef is max |logit(backend) − reference| over real tokens.
	MaxDiffRef float64 `json:"max_diff_vs_reference"`
	// MaxAbs is max |reference logit|, the scale the differences compare to.
	MaxAbs float64 `json:"max_abs_logit"`
	// OK says MaxDiffGo is within Tolerance.
	OK        bool    `json:"ok"`
	Tolerance float64 `json:"tolerance"`
}

// ParityTolerance is the largest |Δlogit| accepted between two backends,
// relative to the largest reference logit: 5e-3 in float32 (XLA on NVIDIA
// GPUs runs float32 dots in TF32, 10 mantissa bits: an H200 gave 0.9e-3 to
// 1.8e-3 on the golden models, the go backend 5e-7), 5e-2 in bfloat16 (an
// H200 gave 1.1e-2 to 1.8e-2).
func ParityTolerance(dtype string) float64 {
	if dtype == "bfloat16" || dtype == "bf16" {
		return 5e-2
	}
	return 5e-3
}

// Parity runs every golden model folder under root (one with config.json,
// model.safetensors and expected.json) on backend and on the go backend, in
// compute dtype dtype, and compares their logits.
func Parity(backend compute.Backend, backendName, root, dtype string) ([]ParityResult, error) {
	goBE, err := model.NewBackend("go")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("golden models: %w", err)
	}
	var out []ParityResult
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
		if !e.IsDir() || err != nil {
			continue
		}
		var g golden
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "expected.json"), err)
		}
		got, err := goldenLogits(backend, dir, dtype, &g)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", dir, backendName, err)
		}
		ref, err := goldenLogits(goBE, dir, dtype, &g)
		if err != nil {
			return nil, fmt.Errorf("%s on go: %w", dir, err)
		}
		r := ParityResult{Model: e.Name(), Backend: backendName, DType: dtype, Tolerance: ParityTolerance(dtype)}
		for b := range g.Logits {
			for t := range g.Logits[b] {
				if g.AttentionMask[b][t] == 0 {
					continue
				}
				for v, want := range g.Logits[b][t] {
					r.MaxAbs = math.Max(r.MaxAbs, math.Abs(want))
					r.MaxDiffGo = math.Max(r.MaxDiffGo, math.Abs(float64(got[b][t][v]-ref[b][t][v])))
					r.MaxDiffRef = math.Max(r.MaxDiffRef, math.Abs(float64(got[b][t][v])-want))
				}
			}
		}
		r.OK = r.MaxDiffGo <= r.Tolerance*math.Max(r.MaxAbs, 1) && !math.IsNaN(r.MaxDiffGo)
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("golden models: no folder under %s has an expected.json", root)
	}
	return out, nil
}

// goldenLogits loads the model of dir and returns its logits for g's input.
func goldenLogits(backend compute.Backend, dir, dtype string, g *golden) (logits [][][]float32, err error) {
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	if err := m.SetComputeDType(dtype); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	exec := gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tok, msk *Node) *Node {
		l, _ := m.Forward(tok, msk)
		return ConvertDType(l, dtypes.Float32)
	})
	out := exec.MustExec1(tensors.FromValue(g.InputIDs), tensors.FromValue(g.AttentionMask))
	return out.Value().([][][]float32), nil
}
