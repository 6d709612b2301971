package train

import "github.com/gomlx/gomlx/core/tensors"

// tensorOf wraps a row-major slice as a tensor of the given dimensions.
func tensorOf[T int32 | float32](data []T, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(data, dims...)
}
