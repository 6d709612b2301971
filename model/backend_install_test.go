package model

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/go-xla/pjrt"
)

// These tests never download: install is only planned, or refused.

// fakePluginDir makes a directory holding an empty file named like go-xla's
// CUDA plugin, and points PJRT_PLUGIN_LIBRARY_PATH at it.
func fakePluginDir(t *testing.T) (dir, plugin string) {
	t.Helper()
	dir = t.TempDir()
	plugin = filepath.Join(dir, "pjrt_c_api_cuda_plugin.so")
	for _, f := range []string{plugin, filepath.Join(dir, "libnotaplugin.so")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(PluginPathEnv, dir)
	return dir, plugin
}

// skipIfCUDAUsable skips tests of the "no CUDA plugin" messages on machines
// where go-xla found a working CUDA plugin at start-up (it reads
// PJRT_PLUGIN_LIBRARY_PATH once, so t.Setenv cannot hide it).
func skipIfCUDAUsable(t *testing.T) {
	t.Helper()
	for name := range pjrt.AvailablePlugins() {
		if pjrt.IsCUDAName(name) {
			t.Skipf("a usable CUDA plugin (%q) is installed here", name)
		}
	}
}

func TestBackendPluginName(t *testing.T) {
	for path, want := range map[string]string{
		"/x/pjrt_c_api_cuda_plugin.so":         "cuda",
		"pjrt_c_api_cpu_v0.114.0_plugin.so":    "cpu_v0.114.0",
		"/x/pjrt-plugin-tpu.so":                "tpu",
		"/x/pjrt_plugin_rocm.dylib":            "rocm",
		"/x/libcublas.so.13":                   "",
		"/x/pjrt_c_api_cuda_plugin.so.tmp":     "",
		"/pjrt_c_api_cuda_plugin.so/README.md": "",
	} {
		if got := PluginName(path); got != want {
			t.Errorf("PluginName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestBackendFindPluginsFakeCUDA(t *testing.T) {
	dir, plugin := fakePluginDir(t)
	if got := PluginSearchDirs(); !slices.Equal(got, []string{dir}) {
		t.Fatalf("PluginSearchDirs() = %v, want [%s]", got, dir)
	}
	found := FindPlugins()
	i := slices.IndexFunc(found, func(p PluginInfo) bool { return p.Path == plugin })
	if i < 0 {
		t.Fatalf("FindPlugins() = %+v, lacks %s", found, plugin)
	}
	p := found[i]
	// An empty file can never load: go-xla rejects it (no GPU, or dlopen fails).
	if p.Name != "cuda" || p.Status != PluginUnusable || p.Reason == "" {
		t.Fatalf("fake plugin: %+v, want name cuda, status %q with a reason", p, PluginUnusable)
	}
	for _, p := range found {
		if strings.Contains(p.Path, "libnotaplugin") {
			t.Errorf("a non-plugin file was listed: %+v", p)
		}
	}

	infos := ListBackends(ListOptions{})
	if len(infos) != 2 || infos[0].Name != "go" || infos[1].Name != "xla" {
		t.Fatalf("ListBackends() names: %+v", infos)
	}
	xla := infos[1]
	if !xla.PluginPathEnvSet || xla.PluginPathEnv != dir || !slices.Equal(xla.SearchDirs, []string{dir}) {
		t.Errorf("xla info env/dirs: %+v", xla)
	}
	if !slices.ContainsFunc(xla.Plugins, func(p PluginInfo) bool { return p.Path == plugin }) {
		t.Errorf("xla info lacks the fake plugin: %+v", xla.Plugins)
	}
	if xla.InstallDir == "" {
		t.Error("xla info lacks the install dir")
	}
	skipIfCUDAUsable(t)
	hints := strings.Join(xla.Hints, "\n")
	for _, want := range []string{"rlhf backend install cuda", plugin, "not loadable"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
}

func TestListBackendsNoPlugin(t *testing.T) {
	t.Setenv(PluginPathEnv, t.TempDir())
	skipIfCUDAUsable(t)
	infos := ListBackends(ListOptions{Probe: true})
	goInfo, xla := infos[0], infos[1]
	if !goInfo.Available || len(goInfo.Devices) == 0 || goInfo.ProbeError != "" {
		t.Errorf("go backend (probed): %+v", goInfo)
	}
	if !slices.ContainsFunc(goInfo.Notes, func(n string) bool { return strings.Contains(n, "GOEXPERIMENT=simd") }) {
		t.Errorf("go backend notes lack the GOEXPERIMENT=simd status: %v", goInfo.Notes)
	}
	for _, p := range xla.Plugins { // only plugins go-xla itself loaded at start-up may show
		if p.Status != PluginUsable {
			t.Errorf("plugin found in an empty directory: %+v", p)
		}
	}
	hints := strings.Join(xla.Hints, "\n")
	for _, want := range []string{"rlhf backend install cuda", PluginPathEnv, "xla:/path/to/pjrt_c_api_cuda_plugin.so"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
}

func TestNewBackendMissingCUDA(t *testing.T) {
	t.Setenv(PluginPathEnv, t.TempDir())
	skipIfCUDAUsable(t)
	_, err := NewBackend("xla:cuda")
	if err == nil {
		t.Fatal("NewBackend(xla:cuda) succeeded without a plugin")
	}
	for _, want := range []string{"rlhf backend install cuda", PluginPathEnv, "xla:/path/to/pjrt_c_api_cuda_plugin.so", "never downloads"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// Plugins rlhf cannot install get no install advice.
	_, err = NewBackend("xla:nonexistentplugin")
	if err == nil || strings.Contains(err.Error(), "rlhf backend install") || !strings.Contains(err.Error(), PluginPathEnv) {
		t.Errorf("NewBackend(xla:nonexistentplugin) = %v", err)
	}
}

func TestBackendPlanInstall(t *testing.T) {
	if _, err := PlanInstall("tpu", InstallOptions{}); err == nil ||
		!strings.Contains(err.Error(), `"tpu"`) || !strings.Contains(err.Error(), "cuda, cpu") {
		t.Errorf("PlanInstall(tpu) = %v, want an error naming cuda, cpu", err)
	}
	err := InstallPlugin(context.Background(), "nosuch", InstallOptions{})
	if err == nil || !strings.Contains(err.Error(), "cuda, cpu") {
		t.Errorf("InstallPlugin(nosuch) = %v", err)
	}
	lib := t.TempDir()

	cpu, err := PlanInstall("cpu", InstallOptions{LibDir: lib})
	if err != nil {
		t.Fatal(err)
	}
	if cpu.Version != pjrt.DefaultCPUVersion || cpu.Dir != filepath.Join(lib, "go-xla") ||
		cpu.PluginFile != filepath.Join(lib, "go-xla", "pjrt_c_api_cpu_plugin.so") || cpu.Spec != "xla:cpu" {
		t.Errorf("cpu plan: %+v", cpu)
	}

	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if _, err := PlanInstall("cuda", InstallOptions{LibDir: lib}); err == nil {
			t.Error("a CUDA install was planned off linux/amd64")
		}
		return
	}
	if _, err := PlanInstall("cuda", InstallOptions{LibDir: lib, CUDA: "11"}); err == nil || !strings.Contains(err.Error(), "13 or 12") {
		t.Errorf("CUDA 11: %v", err)
	}
	t.Setenv(PluginPathEnv, t.TempDir())
	cuda, err := PlanInstall("cuda", InstallOptions{LibDir: lib})
	if err != nil {
		t.Fatal(err)
	}
	nvidia := filepath.Join(lib, "go-xla", "nvidia")
	if cuda.Version != "latest" || cuda.Dir != nvidia || cuda.PluginFile != filepath.Join(nvidia, "pjrt_c_api_cuda_plugin.so") ||
		cuda.Spec != "xla:cuda" || cuda.Searched || !strings.Contains(cuda.Package, "jax-cuda13-pjrt") {
		t.Errorf("cuda plan: %+v", cuda)
	}
	if entries, _ := os.ReadDir(lib); len(entries) != 0 {
		t.Errorf("planning wrote into %s: %v", lib, entries)
	}
	var next strings.Builder
	if err := cuda.WriteNextSteps(&next); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--backend xla:cuda", "export " + PluginPathEnv + "=" + nvidia, "rlhf backend list"} {
		if !strings.Contains(next.String(), want) {
			t.Errorf("next steps lack %q:\n%s", want, next.String())
		}
	}

	t.Setenv(PluginPathEnv, nvidia)
	if cuda, err = PlanInstall("cuda", InstallOptions{LibDir: lib, CUDA: "12", Version: "0.7.0"}); err != nil {
		t.Fatal(err)
	}
	if !cuda.Searched || cuda.Version != "0.7.0" || !strings.Contains(cuda.Package, "jax-cuda12-pjrt 0.7.0") {
		t.Errorf("cuda12 plan: %+v", cuda)
	}
}
