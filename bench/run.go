package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/gomlx/compute"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// RunOptions are the settings of `rlhf bench`.
type RunOptions struct {
	// Mode is what to measure: train, generate, both (train then generate),
	// parity, or matmul (the matrix products of a training step, one by one).
	Mode string
	// Shapes are names from Shapes (train, generate and matmul modes).
	// Default tiny.
	Shapes []string
	// Backend is a backend spec for model.NewBackend ("": $RLHF_BACKEND or go).
	Backend string
	// Models is the folder of golden models for parity (default testdata/models).
	Models string
	// JSON prints one JSON object per line instead of a table.
	JSON bool
	// CPUProfile, when set, is a file for a pprof CPU profile of the timed
	// steps (warm-up and compilation left out; all of a parity run). With
	// several measurements each gets its own file: "-SHAPE-MODE" is put
	// before the extension.
	CPUProfile string
	Options
}

// Modes are the values of RunOptions.Mode.
var Modes = []string{"train", "generate", "both", "parity", "matmul"}

// Run measures what o names and prints a table (or JSON lines) to w. Parity
// that fails its tolerance is an error, after every model was printed.
func Run(ctx context.Context, w io.Writer, o RunOptions) error {
	valid := false
	for _, m := range Modes {
		valid = valid || m == o.Mode
	}
	if !valid {
		return fmt.Errorf("mode %q: want one of %s", o.Mode, strings.Join(Modes, ", "))
	}
	backend, err := model.NewBackend(o.Backend)
	if err != nil {
		return err
	}
	if o.CPUProfile != "" && o.Mode == "parity" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return option.Errorf("{CPUProfile}: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return option.Errorf("{CPUProfile}: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	defer backend.Finalize()
	name := backendLabel(o.Backend)
	if o.Mode == "parity" {
		if o.Models == "" {
			o.Models = "testdata/models"
		}
		dtype := o.DType
		if dtype == "" {
			dtype = "float32"
		}
		rs, err := Parity(backend, name, o.Models, dtype)
		if err != nil {
			return err
		}
		failed := 0
		if !o.JSON {
			fmt.Fprintf(w, "%-8s %-10s %-9s %14s %14s %10s %s\n", "model", "backend", "dtype", "max|Δ| vs go", "max|Δ| vs ref", "max|logit|", "ok")
		}
		for _, r := range rs {
			if !r.OK {
				failed++
			}
			if o.JSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(w, string(b))
				continue
			}
			fmt.Fprintf(w, "%-8s %-10s %-9s %14.3g %14.3g %10.3g %v\n", r.Model, r.Backend, r.DType, r.MaxDiffGo, r.MaxDiffRef, r.MaxAbs, r.OK)
		}
		if failed > 0 {
			return fmt.Errorf("parity: %d of %d golden models differ from the go backend by more than %g of their largest logit", failed, len(rs), ParityTolerance(dtype))
		}
		return nil
	}
	if len(o.Shapes) == 0 {
		o.Shapes = []string{"tiny"}
	}
	var shapes []Shape
	for _, n := range o.Shapes {
		s, err := FindShape(n)
		if err != nil {
			return err
		}
		shapes = append(shapes, s)
	}
	if o.Mode == "matmul" {
		return runMatmul(ctx, w, backend, shapes, o)
	}
	if !o.JSON {
		fmt.Fprintf(w, "%-18s %-8s %-9s %-9s %8s %10s %12s %9s %7s\n", "shape", "mode", "backend", "dtype", "params", "batch×seq", "tokens/s", "compile", "MFU")
	}
	for _, s := range shapes {
		var fns []func(context.Context, Shape) (Result, error)
		if o.Mode == "train" || o.Mode == "both" {
			fns = append(fns, func(ctx context.Context, s Shape) (Result, error) { return TrainStep(ctx, backend, name, s, o.Options) })
		}
		if o.Mode == "generate" || o.Mode == "both" {
			fns = append(fns, func(ctx context.Context, s Shape) (Result, error) { return Generate(ctx, backend, name, s, o.Options) })
		}
		for k, fn := range fns {
			var perr error
			if o.CPUProfile != "" {
				file := o.CPUProfile
				if len(shapes) > 1 || len(fns) > 1 {
					file = profileFile(o.CPUProfile, s.Name, modeOf(o.Mode, k == 0))
				}
				o.Options.Timed = profileHook(file, &perr)
			}
			r, err := fn(ctx, s)
			if err == nil {
				err = perr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			if o.JSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(w, string(b))
				continue
			}
			mfu := "-"
			if r.MFU > 0 {
				mfu = fmt.Sprintf("%.1f%%", 100*r.MFU)
			}
			fmt.Fprintf(w, "%-18s %-8s %-9s %-9s %7.0fM %10s %12.1f %8.1fs %7s\n", r.Shape, r.Mode, r.Backend, r.DType,
				float64(r.Params)/1e6, fmt.Sprintf("%d×%d", r.Batch, r.Seq), r.TokensPerS, r.CompileSecs, mfu)
		}
	}
	return nil
}

// runMatmul prints Matmul's products of every shape.
func runMatmul(ctx context.Context, w io.Writer, backend compute.Backend, shapes []Shape, o RunOptions) error {
	if !o.JSON {
		fmt.Fprintf(w, "%-18s %-26s %-22s %8s %10s %9s\n", "shape", "product", "M×K×N", "per step", "ms", "GFLOP/s")
	}
	for _, s := range shapes {
		var perr error
		var done func(bool)
		if o.CPUProfile != "" {
			file := o.CPUProfile
			if len(shapes) > 1 {
				file = profileFile(o.CPUProfile, s.Name, "matmul")
			}
			done = profileHook(file, &perr)
			done(true)
		}
		rs, err := Matmul(ctx, backend, s, o.Steps)
		if done != nil {
			done(false)
		}
		if err == nil {
			err = perr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		for _, r := range rs {
			if o.JSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(w, string(b))
				continue
			}
			fmt.Fprintf(w, "%-18s %-26s %-22s %8d %10.2f %9.1f\n", r.Shape, r.Op, fmt.Sprintf("%d×%d×%d", r.Dims[0], r.Dims[1], r.Dims[2]), r.Count, r.Seconds*1e3, r.GFLOPs)
		}
	}
	return nil
}

// modeOf is the mode of one measurement: train or generate.
func modeOf(mode string, first bool) string {
	if mode == "both" {
		if first {
			return "train"
		}
		return "generate"
	}
	return mode
}

// profileFile puts "-SHAPE-MODE" before file's extension.
func profileFile(file, shape, mode string) string {
	ext := filepath.Ext(file)
	return strings.TrimSuffix(file, ext) + "-" + shape + "-" + mode + ext
}

// profileHook is an Options.Timed that writes a CPU profile of the timed
// steps to file; the first error is kept in *errp.
func profileHook(file string, errp *error) func(bool) {
	var f *os.File
	return func(start bool) {
		if !start {
			if f != nil {
				pprof.StopCPUProfile()
				if err := f.Close(); err != nil && *errp == nil {
					*errp = option.Errorf("{CPUProfile}: %w", err)
				}
				f = nil
			}
			return
		}
		var err error
		if f, err = os.Create(file); err != nil {
			*errp = option.Errorf("{CPUProfile}: %w", err)
			f = nil
			return
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			*errp = option.Errorf("{CPUProfile}: %w", err)
			_ = f.Close()
			f = nil
		}
	}
}

// backendLabel is a short name of the backend spec for tables: go, or
// xla:<platform> for a plugin path such as .../xla_cuda_plugin.so.
func backendLabel(spec string) string {
	if spec == "" {
		spec = os.Getenv(model.BackendEnv)
	}
	if spec == "" {
		return model.DefaultBackend
	}
	name, conf, _ := strings.Cut(spec, ":")
	if name == "xla" && strings.Contains(conf, "/") {
		for _, p := range []string{"cuda", "rocm", "cpu"} {
			if strings.Contains(filepath.Base(conf), p) {
				return "xla:" + p
			}
		}
		return "xla:" + filepath.Base(conf)
	}
	return name
}
