package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/model"
)

// None of these tests downloads anything: install runs only as a dry run or
// with a target it refuses.

// skipIfCUDAUsable skips checks of the "no CUDA plugin" advice where go-xla
// found a working CUDA plugin at start-up (t.Setenv cannot hide it then).
func skipIfCUDAUsable(t *testing.T) {
	t.Helper()
	for _, p := range model.FindPlugins() {
		if p.Status == model.PluginUsable && strings.Contains(p.Name, "cuda") {
			t.Skipf("a usable CUDA plugin is installed here: %s", p.Path)
		}
	}
}

func TestBackendListFakePlugin(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "pjrt_c_api_cuda_plugin.so")
	if err := os.WriteFile(plugin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(model.PluginPathEnv, dir)

	out, err := run(t, "backend", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go: available", "GOEXPERIMENT=simd", "xla:", model.PluginPathEnv + ": " + `"` + dir + `"`,
		"install dir (rlhf backend install):", "cuda  " + plugin, "not loadable"} {
		if !strings.Contains(out, want) {
			t.Errorf("backend list output lacks %q:\n%s", want, out)
		}
	}

	// The same through the run function, as JSON.
	var buf bytes.Buffer
	if err := runBackendList(backendListOptions{Out: &buf, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var infos []model.BackendInfo
	if err := json.Unmarshal(buf.Bytes(), &infos); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, buf.String())
	}
	if len(infos) != 2 || infos[1].Name != "xla" ||
		!slices.ContainsFunc(infos[1].Plugins, func(p model.PluginInfo) bool { return p.Name == "cuda" && p.Path == plugin }) {
		t.Errorf("--json: %+v", infos)
	}
}

func TestBackendListNoPlugin(t *testing.T) {
	t.Setenv(model.PluginPathEnv, t.TempDir())
	skipIfCUDAUsable(t)
	out, err := run(t, "backend", "list", "--probe")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rlhf backend install cuda", "device 0:", "plugins: none found"} {
		if !strings.Contains(out, want) {
			t.Errorf("backend list --probe output lacks %q:\n%s", want, out)
		}
	}
	// And selecting xla:cuda tells the same thing.
	if _, err := model.NewBackend("xla:cuda"); err == nil || !strings.Contains(err.Error(), "rlhf backend install cuda") {
		t.Errorf("NewBackend(xla:cuda) = %v, want advice to run rlhf backend install cuda", err)
	}
}

func TestBackendInstallBadTarget(t *testing.T) {
	_, err := run(t, "backend", "install", "tpu")
	if err == nil || !strings.Contains(err.Error(), `unknown install target "tpu"`) || !strings.Contains(err.Error(), "cuda, cpu") {
		t.Errorf("install tpu: %v", err)
	}
	if _, err := run(t, "backend", "install"); err == nil || !strings.Contains(err.Error(), "cuda or cpu") {
		t.Errorf("install without a target: %v", err)
	}
	err = runBackendInstall(context.Background(), backendInstallOptions{Out: &bytes.Buffer{}, Target: "gpu"})
	if err == nil || !strings.Contains(err.Error(), "cuda, cpu") {
		t.Errorf("runBackendInstall(gpu): %v", err)
	}
}

func TestBackendInstallDryRun(t *testing.T) {
	lib := t.TempDir()
	out, err := run(t, "backend", "install", "cpu", "--dry-run", "--path", lib)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Installing the cpu PJRT plugin", filepath.Join(lib, "go-xla"), "github.com/gomlx/pjrt-cpu-binaries", "Dry run"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if entries, _ := os.ReadDir(lib); len(entries) != 0 {
		t.Errorf("a dry run wrote into %s: %v", lib, entries)
	}
}
