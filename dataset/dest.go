package dataset

import (
	"fmt"
	"os"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// OutputDest describes dir as the destination of a dataset of kind T that
// replaces what is there (see atomicfile.Dest): dir may be missing, an empty
// folder, or a dataset of the same kind (a folder whose manifest names the
// kind), and must not be, contain or lie inside one of inputs.
func OutputDest[T Record](dir string, inputs ...string) atomicfile.Dest {
	kind := KindOf[T]()
	return atomicfile.Dest{Path: dir, What: string(kind) + " dataset", Inputs: inputs,
		Ours: func(p string) bool { return IsKind(p, kind) }}
}

// CheckOutput refuses dir as the output of a dataset of kind T when writing
// there would replace something that is not a dataset of that kind, or one
// of inputs (see OutputDest). Commands call it before they read or compute
// anything; Create checks the same (without inputs) again.
func CheckOutput[T Record](dir string, inputs ...string) error {
	return OutputDest[T](dir, inputs...).Check()
}

// IsKind reports whether dir is a complete dataset of the given kind.
func IsKind(dir string, kind Kind) bool {
	m, err := ReadManifest(dir)
	return err == nil && m.Kind == kind
}

// checkAppendTarget refuses a file where an appended dataset goes, or a
// dataset of another kind. (What else may be in the folder is the business
// of the command that appends, which knows the files it keeps there.)
func checkAppendTarget[T Record](dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file, not a %s dataset folder; choose another path (rlhf replaces only its own earlier outputs)", dir, KindOf[T]())
	}
	if m, err := ReadManifest(dir); err == nil && m.Kind != KindOf[T]() {
		return fmt.Errorf("dataset %s: holds %q records, cannot append %q", dir, m.Kind, KindOf[T]())
	}
	return nil
}
