package plan

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/model"
)

// Fit is the result of checking a run against its device's memory.
type Fit struct {
	// Checked is false when the device's memory is unknown (the go backend
	// without a DeviceMemory): nothing was estimated.
	Checked bool
	// Fits reports whether the estimate fits.
	Fits bool
	// Table is the estimate and, when it does not fit, the settings that
	// would (Report's text).
	Table string
	// Against names the memory checked against, for messages.
	Against string
}

// CheckFit estimates the memory of a training run (o) when the device's
// memory is known: o.DeviceMemory (flag names it in messages), or, on the
// xla:cuda backend (backend, else $RLHF_BACKEND), the first GPU's memory as
// query reports it (QueryCUDAMemory: nvidia-smi). The go backend does not
// know its memory: nothing is checked. policyFlag names the model in errors.
func CheckFit(o CommandOptions, flag, policyFlag, backend string, query func() ([]int64, error)) (Fit, error) {
	fit := Fit{Against: flag + " " + o.DeviceMemory}
	var queried []int64
	if o.DeviceMemory == "" {
		if backend == "" {
			backend = os.Getenv(model.BackendEnv)
		}
		if !strings.HasPrefix(backend, "xla:cuda") {
			return fit, nil
		}
		devs, err := query()
		if err != nil || len(devs) == 0 {
			return fit, nil // memory unknown: no check
		}
		queried = devs[:1]
		fit.Against = fmt.Sprintf("the GPU's %s (nvidia-smi; set %s to override)", GiB(devs[0]), flag)
	}
	if err := o.Resolve(policyFlag); err != nil {
		return fit, err
	}
	if queried != nil {
		o.Devices = queried
	}
	var buf bytes.Buffer
	_, fits, err := Report(&buf, o.Options)
	if err != nil {
		return fit, err
	}
	fit.Checked, fit.Fits, fit.Table = true, fits, buf.String()
	return fit, nil
}
