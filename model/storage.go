package model

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// Weights are float32 variables by default: the master copies training
// updates. A model that is never trained (a PPO reference or reward model)
// or the frozen base under LoRA adapters needs no float32 copy: its weights
// can be stored in bfloat16 or float16 (StoreWeightsAs), halving their
// memory; graphs convert them to ComputeDType as before.

// variableFloat32 returns a float variable's values as float32.
func variableFloat32(v *gmodel.Variable) ([]float32, error) {
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	switch t.DType() {
	case dtypes.Float32:
		return tensors.CopyFlatData[float32](t)
	case dtypes.BFloat16:
		h, err := tensors.CopyFlatData[bfloat16.BFloat16](t)
		if err != nil {
			return nil, err
		}
		out := make([]float32, len(h))
		for i, x := range h {
			out[i] = x.Float32()
		}
		return out, nil
	case dtypes.Float16:
		h, err := tensors.CopyFlatData[float16.Float16](t)
		if err != nil {
			return nil, err
		}
		out := make([]float32, len(h))
		for i, x := range h {
			out[i] = x.Float32()
		}
		return out, nil
	}
	return nil, fmt.Errorf("variable %s has dtype %s, not a float type", v.Path(), t.DType())
}

// tensorAs builds a tensor of dtype dt (float32, bfloat16 or float16) from
// float32 values (half types round to nearest even).
func tensorAs(dt dtypes.DType, dims []int, vals []float32) (*tensors.Tensor, error) {
	switch dt {
	case dtypes.Float32:
		return tensors.FromFlatDataAndDimensions(vals, dims...), nil
	case dtypes.BFloat16:
		h := make([]bfloat16.BFloat16, len(vals))
		for i, x := range vals {
			h[i] = bfloat16.FromFloat32(x)
		}
		return tensors.FromFlatDataAndDimensions(h, dims...), nil
	case dtypes.Float16:
		h := make([]float16.Float16, len(vals))
		for i, x := range vals {
			h[i].SetFloat32(x)
		}
		return tensors.FromFlatDataAndDimensions(h, dims...), nil
	}
	return nil, fmt.Errorf("dtype %s: want float32, bfloat16 or float16", dt)
}

// setVariableFloat32 sets a variable from float32 values, keeping its dtype.
func setVariableFloat32(v *gmodel.Variable, vals []float32) error {
	t, err := tensorAs(v.DType(), v.Shape().Dimensions, vals)
	if err != nil {
		return err
	}
	return v.SetValue(t)
}

// StoreWeightsAs converts every weight of the model (not LoRA adapters) to
// dtype dt (float32, bfloat16 or float16), for models that are not trained.
func (m *Model) StoreWeightsAs(dt dtypes.DType) error { return m.storeAs(dt, false) }

// StoreFrozenWeightsAs converts the weights that are not trainable (the
// base under LoRA adapters) to dtype dt; trainable ones (adapters, a score
// head) stay float32 master copies.
func (m *Model) StoreFrozenWeightsAs(dt dtypes.DType) error { return m.storeAs(dt, true) }

func (m *Model) storeAs(dt dtypes.DType, frozenOnly bool) error {
	for _, n := range m.names {
		v := m.Variable(n)
		if v.DType() == dt || (frozenOnly && v.Trainable) {
			continue
		}
		vals, err := variableFloat32(v)
		if err != nil {
			return fmt.Errorf("weight %s: %w", n, err)
		}
		t, err := tensorAs(dt, v.Shape().Dimensions, vals)
		if err != nil {
			return fmt.Errorf("weight %s: %w", n, err)
		}
		if err := v.SetValue(t); err != nil {
			return fmt.Errorf("weight %s: %w", n, err)
		}
	}
	return nil
}

// ParseDType maps a dtype name (float32, bfloat16, float16, or f32, bf16,
// f16) to its dtype.
func ParseDType(name string) (dtypes.DType, error) {
	switch name {
	case "float32", "f32":
		return dtypes.Float32, nil
	case "bfloat16", "bf16":
		return dtypes.BFloat16, nil
	case "float16", "f16":
		return dtypes.Float16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("dtype %q: want float32, bfloat16 or float16", name)
}
