package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers the pure-Go backend "go"
	"github.com/gomlx/go-xla/compute/xla"  // registers "xla"; its autoinstall package is deliberately not imported
)

// BackendEnv is the environment variable that selects the backend when the
// spec given to NewBackend is empty (the --backend flag wins over it).
const BackendEnv = "RLHF_BACKEND"

// DefaultBackend is the backend used when neither --backend nor RLHF_BACKEND
// is set: GoMLX's pure-Go backend.
const DefaultBackend = "go"

// goBackendConfig is what spec "go" expands to: independent ops run two
// at a time (each matmul still spreads over the worker pool). compute
// v0.1.12's default decides per call (parallel only when no other execution
// runs); forcing it with two executors made training steps 0–65% faster
// than ops run one after another (median ~+20% over tiny, mid,
// gpt2-small-1x256 and qwen2-100m, two interleaved rounds on 2 cores, same
// results bit for bit: the demo's numbers did not change), with generation
// within noise. More executors compete with the matmuls' own workers: 3
// measured 0–18% slower than 2, and 4 (ops_parallel's default on 2 cores)
// 30–45% slower. GoMLX v0.28.8's parallel mode deadlocked on nested matmuls
// (ops running sub-graphs, While bodies, held worker slots their matmuls
// waited for); TestGoBackendNestedMatmuls guards that this config does not.
const goBackendConfig = "go:ops_parallel,num_executors=2"

func init() {
	// Never download PJRT plugins: users install them, or point
	// PJRT_PLUGIN_LIBRARY_PATH (or an absolute path) at one.
	xla.EnableAutoInstall(false)
	_ = os.Setenv(xla.NoAutoInstallEnv, "1")
}

// NewBackend returns the compute backend named by spec:
//
//   - "" : the value of $RLHF_BACKEND, or DefaultBackend ("go") if unset;
//   - "go" : GoMLX's pure-Go CPU backend, as goBackendConfig (independent
//     ops two at a time); "go:OPTIONS" passes OPTIONS through instead
//     (e.g. "go:ops_sequential,parallelism=8");
//   - "xla:cuda" (or "xla:cpu", any plugin name) : XLA through a PJRT plugin
//     found in $PJRT_PLUGIN_LIBRARY_PATH or the standard locations;
//   - "xla:/abs/path/pjrt_c_api_cuda_plugin.so" : XLA with that plugin file.
//
// Plugins are never downloaded. A missing plugin is an error that says to
// run `rlhf backend install cuda` (or cpu) and names PJRT_PLUGIN_LIBRARY_PATH
// and the absolute-path form.
func NewBackend(spec string) (compute.Backend, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = strings.TrimSpace(os.Getenv(BackendEnv))
	}
	if spec == "" {
		spec = DefaultBackend
	}
	name, conf, _ := strings.Cut(spec, ":")
	switch name {
	case "go":
		full := goBackendConfig
		if conf != "" {
			full = "go:" + conf
		}
		b, err := compute.NewWithConfig(full)
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w", spec, err)
		}
		return b, nil
	case "xla":
		if conf == "" {
			return nil, fmt.Errorf("backend %q: name a PJRT plugin, e.g. xla:cuda or xla:/abs/path/pjrt_c_api_cuda_plugin.so", spec)
		}
		plugin, _, _ := strings.Cut(conf, ",")
		if strings.ContainsRune(plugin, '/') {
			if !filepath.IsAbs(plugin) {
				return nil, fmt.Errorf("backend %q: the plugin path must be absolute", spec)
			}
			if _, err := os.Stat(plugin); err != nil {
				return nil, fmt.Errorf("backend %q: PJRT plugin file: %w", spec, err)
			}
		} else if !hasPlugin(plugin) {
			return nil, errNoPlugin(spec, plugin, xla.GetAvailablePlugins())
		}
		b, err := newXLA("xla:" + conf)
		if err != nil {
			return nil, fmt.Errorf("backend %q (PJRT_PLUGIN_LIBRARY_PATH=%q): %w", spec, os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("backend %q: unknown backend %q, want go, xla:cuda or xla:/abs/path/plugin.so", spec, name)
	}
}

func hasPlugin(name string) bool {
	for _, p := range xla.GetAvailablePlugins() {
		if p == name || strings.HasPrefix(p, name+"_") {
			return true
		}
	}
	return false
}

// newXLA turns a panic of the backend constructor into an error.
func newXLA(config string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return compute.NewWithConfig(config)
}
