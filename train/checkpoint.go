package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/safetensors"
)

// Checkpoint layout inside a run's output folder:
//
//	OUT/checkpoints/step-00000120/   one complete checkpoint per save:
//	    config.json, model.safetensors, tokenizer.json, rlhf.json   (Hugging Face layout, loadable as a model)
//	    trainer_state/state.json                                     (TrainerState)
//	    trainer_state/optimizer.safetensors                          (AdamW moments and counters)
//	OUT/checkpoints/best.json        which step is the best so far (atomic)
//
// A checkpoint is written into a hidden temporary sibling and renamed into
// place, so every step-N folder is complete: the latest checkpoint is simply
// the highest N. Half-written temporaries (".step-N.*.tmp") are ignored and
// removed by the next save.
const (
	CheckpointsDir  = "checkpoints"
	TrainerStateDir = "trainer_state"
	StateFile       = "state.json"
	bestFile        = "best.json"
)

// TrainerState is everything besides weights and optimizer moments that a
// resumed run needs to continue exactly where it stopped.
type TrainerState struct {
	// Kind is the command that wrote it ("sft", "rm", "ppo").
	Kind string `json:"kind"`
	// Step is the number of optimizer updates done (the learning-rate
	// schedule position: the next update uses Schedule.At(Step)).
	Step int `json:"step"`
	// TotalSteps is the planned number of updates of the run.
	TotalSteps int `json:"total_steps"`
	// Epoch (0-based) and Batch (batches of this epoch already consumed)
	// are the data-loader position; the epoch's order is a function of the
	// seed and the epoch, so this is all a Loader needs.
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
	// Seed is the run's seed.
	Seed uint64 `json:"seed"`
	// RNG is the state of the run's random generator (math/rand/v2 PCG),
	// for loops that sample (PPO).
	RNG []byte `json:"rng,omitempty"`
	// Tokens is the number of training tokens seen.
	Tokens int64 `json:"tokens"`
	// Skipped counts updates discarded because of a NaN/Inf loss or gradient.
	Skipped int `json:"skipped_nonfinite"`
	// BestStep and BestMetric: the best checkpoint so far and its
	// validation metric (lower is better); BestStep 0 when none.
	BestStep   int     `json:"best_step"`
	BestMetric float64 `json:"best_metric"`
	// Extra holds loop-specific values (e.g. PPO's KL controller).
	Extra map[string]float64 `json:"extra,omitempty"`
}

// NewRNG returns a PCG generator seeded from seed, for TrainerState.RNG.
func NewRNG(seed uint64) *rand.PCG { return rand.NewPCG(seed, 0x5eed) }

// CheckpointDir is OUT/checkpoints/step-NNNNNNNN.
func CheckpointDir(out string, step int) string {
	return filepath.Join(out, CheckpointsDir, fmt.Sprintf("step-%08d", step))
}

var stepDirRE = regexp.MustCompile(`^step-(\d+)$`)

// ListCheckpoints returns the steps of the complete checkpoints in OUT, ascending.
func ListCheckpoints(out string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Join(out, CheckpointsDir))
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range entries {
		m := stepDirRE.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, CheckpointsDir, e.Name(), TrainerStateDir, StateFile)); err != nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		steps = append(steps, n)
	}
	sort.Ints(steps)
	return steps, nil
}

// LatestCheckpoint returns the folder of the newest complete checkpoint in
// OUT, or "" when there is none.
func LatestCheckpoint(out string) (string, error) {
	steps, err := ListCheckpoints(out)
	if err != nil || len(steps) == 0 {
		return "", err
	}
	return CheckpointDir(out, steps[len(steps)-1]), nil
}

// BestCheckpoint returns the folder of the best checkpoint recorded in OUT
// (by MarkBest), or "" when none.
func BestCheckpoint(out string) string {
	raw, err := os.ReadFile(filepath.Join(out, CheckpointsDir, bestFile))
	if err != nil {
		return ""
	}
	var b struct {
		Step int `json:"step"`
	}
	if json.Unmarshal(raw, &b) != nil {
		return ""
	}
	d := CheckpointDir(out, b.Step)
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}

// NamedStore is a store whose optimizer state goes to
// trainer_state/NAME.safetensors (PPO checkpoints an actor and a critic).
type NamedStore struct {
	Name  string
	Store *gmodel.Store
}

// SaveCheckpoint writes checkpoint step of OUT atomically: writeModels fills
// the temporary folder with the model files (e.g. model.Model.Save(dir)),
// then the optimizer state of each store and state are added, and the folder
// is renamed into place. Afterwards only the newest keep checkpoints (and
// the best one) are left; keep <= 0 keeps all. It returns the folder.
func SaveCheckpoint(out string, step int, writeModels func(dir string) error, state *TrainerState, keep int, stores ...NamedStore) (string, error) {
	final := CheckpointDir(out, step)
	tmp, err := atomicfile.TempDirFor(final)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeModels(tmp); err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", final, err)
	}
	if err := saveTrainerState(filepath.Join(tmp, TrainerStateDir), state, stores); err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", final, err)
	}
	if err := atomicfile.ReplaceDir(tmp, final); err != nil {
		return "", err
	}
	ok = true
	return final, pruneCheckpoints(out, keep, state.BestStep)
}

// modelSaver writes a model being trained into checkpoint folders, with
// the tokenizer files of the folder the run loaded it from, read once when
// the run starts. model.Model.Save would copy them from that folder at
// each save instead, and after --resume that folder is the checkpoint
// resumed from, which --keep prunes while the run goes on: the later
// checkpoints, and the model published from them, would lack them.
type modelSaver struct {
	m     *model.Model
	files map[string][]byte // tokenizer file name → content
}

// newModelSaver reads the tokenizer files of m.SourceDir (tokenizer.json
// at least) and detaches m from that folder.
func newModelSaver(m *model.Model) (*modelSaver, error) {
	s := &modelSaver{m: m, files: map[string][]byte{}}
	for _, name := range model.TokenizerFiles {
		data, err := os.ReadFile(filepath.Join(m.SourceDir, name))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		s.files[name] = data
	}
	if _, ok := s.files["tokenizer.json"]; !ok {
		return nil, fmt.Errorf("%s has no tokenizer.json", m.SourceDir)
	}
	m.SourceDir = ""
	return s, nil
}

// save writes the model and its tokenizer files into dir.
func (s *modelSaver) save(dir string) error {
	if err := s.m.Save(dir); err != nil {
		return err
	}
	for name, data := range s.files {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// MarkBest records step as the best checkpoint of OUT.
func MarkBest(out string, step int, metric float64) error {
	b, _ := json.Marshal(map[string]any{"step": step, "metric": metric})
	return atomicfile.WriteFile(filepath.Join(out, CheckpointsDir, bestFile), b, 0o644)
}

func pruneCheckpoints(out string, keep, best int) error {
	dir := filepath.Join(out, CheckpointsDir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries { // leftovers of interrupted saves
		if n := e.Name(); len(n) > 4 && n[0] == '.' && (filepath.Ext(n) == ".tmp" || filepath.Ext(n) == ".old") {
			os.RemoveAll(filepath.Join(dir, n))
		}
	}
	if keep <= 0 {
		return nil
	}
	steps, err := ListCheckpoints(out)
	if err != nil {
		return err
	}
	for i := 0; i < len(steps)-keep; i++ {
		if steps[i] == best {
			continue
		}
		if err := os.RemoveAll(CheckpointDir(out, steps[i])); err != nil {
			return err
		}
	}
	return nil
}

func saveTrainerState(dir string, state *TrainerState, stores []NamedStore) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, ns := range stores {
		ts := map[string]safetensors.Tensor{}
		for v := range ns.Store.IterVariables() {
			if !IsOptimizerState(v) {
				continue
			}
			val, err := v.Value()
			if err != nil {
				return fmt.Errorf("optimizer variable %s: %w", v.Path(), err)
			}
			t, err := toSafetensor(val)
			if err != nil {
				return fmt.Errorf("optimizer variable %s: %w", v.Path(), err)
			}
			ts[v.Path()] = t
		}
		if err := safetensors.WriteFile(filepath.Join(dir, ns.Name+".safetensors"), ts, map[string]string{"format": "rlhf-trainer-state"}); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, StateFile), append(b, '\n'), 0o644)
}

// LoadTrainerState reads CKPT/trainer_state: the TrainerState, and the
// optimizer variables of each store (created in the store, or overwritten),
// so that the next Optimizer graph continues with the saved moments.
func LoadTrainerState(ckpt string, stores ...NamedStore) (*TrainerState, error) {
	dir := filepath.Join(ckpt, TrainerStateDir)
	raw, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s has no trainer state: %w", ckpt, err)
	}
	st := &TrainerState{}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	for _, ns := range stores {
		p := filepath.Join(dir, ns.Name+".safetensors")
		ts, _, err := safetensors.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for path, t := range ts {
			val, err := fromSafetensor(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p, path, err)
			}
			if v := ns.Store.GetVariable(path); v != nil {
				if err := v.SetValue(val); err != nil {
					return nil, err
				}
				continue
			}
			v, err := ns.Store.CreateVariable(path, val)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p, path, err)
			}
			v.SetTrainable(false)
		}
	}
	return st, nil
}

func toSafetensor(t *tensors.Tensor) (safetensors.Tensor, error) {
	dims := t.Shape().Dimensions
	switch t.DType() {
	case dtypes.Float32:
		vals, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return safetensors.Tensor{}, err
		}
		return safetensors.FromFloat32(safetensors.F32, dims, vals)
	case dtypes.Int64:
		vals, err := tensors.CopyFlatData[int64](t)
		if err != nil {
			return safetensors.Tensor{}, err
		}
		out := safetensors.Tensor{DType: safetensors.I64, Shape: append([]int(nil), dims...), Data: make([]byte, 8*len(vals))}
		for i, v := range vals {
			binary.LittleEndian.PutUint64(out.Data[8*i:], uint64(v))
		}
		return out, nil
	}
	return safetensors.Tensor{}, fmt.Errorf("unsupported dtype %s", t.DType())
}

func fromSafetensor(t safetensors.Tensor) (*tensors.Tensor, error) {
	shape := t.Shape
	if shape == nil {
		shape = []int{}
	}
	switch t.DType {
	case safetensors.F32:
		vals, err := t.Float32()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(vals, shape...), nil
	case safetensors.I64:
		vals := make([]int64, t.NumElements())
		for i := range vals {
			vals[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return tensors.FromFlatDataAndDimensions(vals, shape...), nil
	}
	return nil, fmt.Errorf("unsupported dtype %s", t.DType)
}

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
