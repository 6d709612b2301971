package model

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/gomlx/go-xla/installer"
	"github.com/gomlx/go-xla/pjrt"

	"github.com/rlhf-project/rlhf/option"
)

// This file holds what `rlhf backend list` and `rlhf backend install` do:
// finding PJRT plugins the way go-xla does, and a thin wrapper around
// go-xla's installer package (github.com/gomlx/go-xla/installer), which does
// the downloading, checksum checks, caching and unpacking. Nothing here runs
// unless one of those commands asks for it: NewBackend never downloads.

// PluginPathEnv is the environment variable holding the directories (":"
// separated) searched for PJRT plugins; when set, go-xla searches only there.
const PluginPathEnv = pjrt.PJRTPluginPathsEnv

// InstallTargets are the plugins `rlhf backend install` knows, in the order
// shown to users.
var InstallTargets = []string{"cuda", "cpu"}

// cudaPluginFile is the file name go-xla's installer gives the CUDA plugin
// (installer.NVIDIAPJRTPluginFileName, only defined on linux/amd64).
const cudaPluginFile = "pjrt_c_api_cuda_plugin.so"

// PluginStatus says whether go-xla would use a plugin file found on disk.
type PluginStatus string

const (
	// PluginUsable means go-xla loads this file for its plugin name (it passed
	// go-xla's check: dlopen and the GetPjrtApi symbol; for CUDA plugins
	// also an NVIDIA GPU present).
	PluginUsable PluginStatus = "usable"
	// PluginShadowed means a file with the same plugin name comes first in the
	// search path, so this one is never loaded.
	PluginShadowed PluginStatus = "shadowed"
	// PluginUnusable means go-xla's check rejected the file (see Reason).
	PluginUnusable PluginStatus = "not loadable"
)

// PluginInfo describes one PJRT plugin file.
type PluginInfo struct {
	// Name is the plugin name go-xla derives from the file name
	// (pjrt_c_api_<name>_plugin.so, pjrt-plugin-<name>.so, ...): the part of
	// --backend xla:<name>.
	Name string `json:"name"`
	// Path is the file's path.
	Path string `json:"path"`
	// Status says whether go-xla would use it.
	Status PluginStatus `json:"status"`
	// Reason explains a status other than usable.
	Reason string `json:"reason,omitempty"`
	// Description is the backend's description, set by a probe.
	Description string `json:"description,omitempty"`
	// Devices lists the devices a probe found (PJRT's description of each;
	// go-xla exposes no device memory figures).
	Devices []string `json:"devices,omitempty"`
	// ProbeError is why a probe failed.
	ProbeError string `json:"probe_error,omitempty"`
}

// BackendInfo describes one compute backend for `rlhf backend list`.
type BackendInfo struct {
	// Name is the backend name: "go" or "xla".
	Name string `json:"name"`
	// Available is true when --backend can select it right now.
	Available bool `json:"available"`
	// Specs are --backend values that select it (for xla: one per usable plugin).
	Specs []string `json:"specs,omitempty"`
	// Notes are facts about the backend (build settings, GPU detection).
	Notes []string `json:"notes,omitempty"`
	// PluginPathEnv is the value of PJRT_PLUGIN_LIBRARY_PATH (xla only).
	PluginPathEnv string `json:"pjrt_plugin_library_path,omitempty"`
	// PluginPathEnvSet is true when PJRT_PLUGIN_LIBRARY_PATH is set, even empty (xla only).
	PluginPathEnvSet bool `json:"pjrt_plugin_library_path_set,omitempty"`
	// SearchDirs are the directories searched for plugin files (xla only).
	SearchDirs []string `json:"search_dirs,omitempty"`
	// InstallDir is where `rlhf backend install` puts plugins by default (xla only).
	InstallDir string `json:"install_dir,omitempty"`
	// Plugins are the plugin files found (xla only).
	Plugins []PluginInfo `json:"plugins,omitempty"`
	// Description and Devices are set by a probe of the go backend.
	Description string   `json:"description,omitempty"`
	Devices     []string `json:"devices,omitempty"`
	// ProbeError is why a probe failed.
	ProbeError string `json:"probe_error,omitempty"`
	// Hints tell the user what to do next (e.g. run `rlhf backend install cuda`).
	Hints []string `json:"hints,omitempty"`
}

// ListOptions configures ListBackends.
type ListOptions struct {
	// Probe creates each usable backend and lists its devices. Off by
	// default: it loads plugins and opens devices, which is slower and, on a
	// GPU, takes device memory while it runs.
	Probe bool
}

// ListBackends reports the backends NewBackend can create: "go" (always) and
// "xla" with the PJRT plugin files found in PluginSearchDirs, each marked
// with whether go-xla would load it. It never downloads anything.
func ListBackends(opts ListOptions) []BackendInfo {
	return []BackendInfo{goBackendInfo(opts), xlaBackendInfo(opts)}
}

func goBackendInfo(opts ListOptions) BackendInfo {
	info := BackendInfo{Name: "go", Available: true, Specs: []string{"go"},
		Notes: []string{"pure-Go CPU backend (GoMLX), the default; ops run sequentially (" + goBackendConfig + ")"}}
	if simd, known := goExperimentSIMD(); known {
		if simd {
			info.Notes = append(info.Notes, "built with GOEXPERIMENT=simd: SIMD (AVX2/AVX-512) kernels compiled in")
		} else {
			info.Notes = append(info.Notes, "built without GOEXPERIMENT=simd: no SIMD kernels (slower); rebuild with GOEXPERIMENT=simd")
		}
	}
	if opts.Probe {
		b, err := NewBackend("go")
		if err != nil {
			info.ProbeError = err.Error()
			return info
		}
		defer b.Finalize()
		info.Description = b.Description()
		info.Devices = deviceList(b.NumDevices(), b.DeviceDescription)
	}
	return info
}

// goExperimentSIMD reports whether the binary was built with
// GOEXPERIMENT=simd, from the build settings Go records in the binary.
func goExperimentSIMD() (simd, known bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false, false
	}
	for _, s := range bi.Settings {
		if s.Key == "GOEXPERIMENT" {
			return slices.Contains(strings.Split(s.Value, ","), "simd"), true
		}
	}
	// The setting is recorded only when some experiment is on.
	return false, true
}

func xlaBackendInfo(opts ListOptions) BackendInfo {
	env, envSet := os.LookupEnv(PluginPathEnv)
	info := BackendInfo{Name: "xla", PluginPathEnv: env, PluginPathEnvSet: envSet, SearchDirs: PluginSearchDirs()}
	if dir, err := DefaultInstallDir(); err == nil {
		info.InstallDir = dir
	}
	if installer.HasNvidiaGPU() {
		info.Notes = append(info.Notes, "NVIDIA GPU detected")
	} else {
		info.Notes = append(info.Notes, "no NVIDIA GPU detected (no /dev/nvidia*, no working nvidia-smi): go-xla skips CUDA plugins")
	}
	info.Plugins = FindPlugins()
	probed := map[string]bool{}
	for i := range info.Plugins {
		p := &info.Plugins[i]
		if p.Status != PluginUsable {
			continue
		}
		info.Available = true
		info.Specs = append(info.Specs, "xla:"+p.Name)
		if opts.Probe {
			real, err := filepath.EvalSymlinks(p.Path)
			if err != nil {
				real = p.Path
			}
			if probed[real] {
				p.ProbeError = "not probed: same file as a plugin probed above"
				continue
			}
			probed[real] = true
			probePlugin(p)
		}
	}
	if !info.Available {
		info.Hints = append(info.Hints, "no usable PJRT plugin: --backend xla:... will fail")
	}
	if !slices.ContainsFunc(info.Plugins, func(p PluginInfo) bool { return isCUDAPlugin(p.Name) && p.Status == PluginUsable }) {
		info.Hints = append(info.Hints, missingPluginHint("cuda", info.Plugins))
	}
	if envSet && info.InstallDir != "" && !slices.Contains(info.SearchDirs, filepath.Join(info.InstallDir, "nvidia")) {
		info.Hints = append(info.Hints, fmt.Sprintf("%s is set, so the default install dir %s is not searched: add %s (CUDA) or %s (CPU) to it, or unset it",
			PluginPathEnv, info.InstallDir, filepath.Join(info.InstallDir, "nvidia"), info.InstallDir))
	}
	return info
}

func probePlugin(p *PluginInfo) {
	b, err := NewBackend("xla:" + p.Name)
	if err != nil {
		p.ProbeError = err.Error()
		return
	}
	defer b.Finalize()
	p.Description = b.Description()
	p.Devices = deviceList(b.NumDevices(), b.DeviceDescription)
}

func deviceList[D ~int](n int, describe func(D) string) []string {
	devs := make([]string, n)
	for i := range n {
		devs[i] = fmt.Sprintf("%d: %s", i, describe(D(i)))
	}
	return devs
}

// PluginSearchDirs returns the directories go-xla searches for PJRT plugins,
// in order: the entries of $PJRT_PLUGIN_LIBRARY_PATH when it is set;
// otherwise the user's install dir (~/.local/lib/go-xla and its nvidia/
// subdirectory on Linux), /usr/local/lib/go-xla (and nvidia/), the older
// gomlx/pjrt directories and the absolute entries of $LD_LIBRARY_PATH. (go-xla
// also searches the directories of /etc/ld.so.conf; plugins it finds there
// still show up in FindPlugins.)
func PluginSearchDirs() []string {
	if env, ok := os.LookupEnv(PluginPathEnv); ok {
		return slices.DeleteFunc(strings.Split(env, ":"), func(d string) bool { return d == "" })
	}
	var dirs []string
	if dir, err := DefaultInstallDir(); err == nil {
		dirs = append(dirs, dir, filepath.Join(dir, "nvidia"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "gomlx", "pjrt"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
	for _, d := range strings.Split(os.Getenv("LD_LIBRARY_PATH"), ":") {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// pluginPatterns and pluginNameRes are go-xla's (pjrt/dynamiclib_base.go):
// the files it considers and how it names them.
var (
	pluginPatterns = []string{
		"pjrt-plugin-*.so", "pjrt_plugin_*.so", "pjrt_c_api_*_plugin.so",
		"pjrt-plugin-*.dylib", "pjrt_plugin_*.dylib", "pjrt_c_api_*_plugin.dylib",
		"pjrt-plugin-*.dll", "pjrt_plugin_*.dll", "pjrt_c_api_*_plugin.dll",
	}
	pluginNameRes = []*regexp.Regexp{
		regexp.MustCompile(`^pjrt_c_api_(.+)_plugin\.(so|dylib|dll)$`),
		regexp.MustCompile(`^pjrt[-_]plugin[-_](.+)\.(so|dylib|dll)$`),
	}
)

// PluginName returns the plugin name go-xla gives a plugin file
// ("pjrt_c_api_cuda_plugin.so" → "cuda"), or "" if the file is not named
// like a plugin.
func PluginName(path string) string {
	base := filepath.Base(path)
	for _, re := range pluginNameRes {
		if m := re.FindStringSubmatch(base); m != nil {
			return m[1]
		}
	}
	return ""
}

// FindPlugins lists the PJRT plugin files in PluginSearchDirs (read from the
// environment now) and marks each with go-xla's verdict: go-xla's own search
// (pjrt.AvailablePlugins, which reads PJRT_PLUGIN_LIBRARY_PATH once at
// start-up and dlopens each candidate without creating a client) decides
// which files are usable. Plugins go-xla finds elsewhere (ld.so.conf
// directories) are appended.
func FindPlugins() []PluginInfo {
	usable := pjrt.AvailablePlugins()
	var found []PluginInfo
	seenPath := map[string]bool{}
	seenName := map[string]bool{}
	for _, dir := range PluginSearchDirs() {
		for _, pattern := range pluginPatterns {
			matches, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, path := range matches {
				name := PluginName(path)
				if name == "" || seenPath[path] {
					continue
				}
				seenPath[path] = true
				p := PluginInfo{Name: name, Path: path}
				switch {
				case usable[name] == path:
					p.Status = PluginUsable
				case seenName[name]:
					p.Status, p.Reason = PluginShadowed, "an earlier file has the same plugin name"
				default:
					p.Status, p.Reason = PluginUnusable, unusableReason(name, path)
				}
				seenName[name] = true
				found = append(found, p)
			}
		}
	}
	var extra []string
	for name, path := range usable {
		if !seenPath[path] && path != "_preloaded_" {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		found = append(found, PluginInfo{Name: name, Path: usable[name], Status: PluginUsable})
	}
	return found
}

func unusableReason(name, path string) string {
	if isCUDAPlugin(name) && !installer.HasNvidiaGPU() {
		return "no NVIDIA GPU detected (go-xla skips CUDA plugins without one)"
	}
	if st, err := os.Stat(path); err == nil && st.Size() == 0 {
		return "empty file"
	}
	return fmt.Sprintf("go-xla could not load it (dlopen or its GetPjrtApi symbol failed; check `ldd %s`), or it lies in a directory added to %s after start-up", path, PluginPathEnv)
}

func isCUDAPlugin(name string) bool { return pjrt.IsCUDAName(name) }

// missingPluginHint tells the user how to get plugin `name`; found are the
// plugin files seen on disk (some may exist but be unusable).
func missingPluginHint(name string, found []PluginInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "no usable %s PJRT plugin", name)
	for _, p := range found {
		if (p.Name == name || strings.HasPrefix(p.Name, name+"_")) && p.Status == PluginUnusable {
			fmt.Fprintf(&b, " (found %s, not loadable: %s)", p.Path, p.Reason)
			break
		}
	}
	file := fmt.Sprintf("pjrt_c_api_%s_plugin.so", name)
	if slices.Contains(InstallTargets, name) {
		fmt.Fprintf(&b, ": run `rlhf backend install %s` to download it", name)
		if dir, err := DefaultInstallDir(); err == nil {
			fmt.Fprintf(&b, " into %s", dir)
		}
		b.WriteString("; or")
	} else {
		b.WriteString(": install one, then")
	}
	fmt.Fprintf(&b, " set %s to the directory holding %s (now %q), or give its absolute path as --backend xla:/path/to/%s; rlhf never downloads plugins by itself",
		PluginPathEnv, file, os.Getenv(PluginPathEnv), file)
	return b.String()
}

// DefaultInstallDir is the go-xla directory `rlhf backend install` installs
// into by default, which go-xla searches when PJRT_PLUGIN_LIBRARY_PATH is
// unset: ~/.local/lib/go-xla on Linux (installer.DefaultHomeLibPath +
// "go-xla").
func DefaultInstallDir() (string, error) {
	lib, err := installer.DefaultHomeLibPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(lib, "go-xla"), nil
}

// InstallOptions configures InstallPlugin.
type InstallOptions struct {
	// Version is the plugin version; "" means go-xla's default: "latest"
	// (the newest jax-cudaNN-pjrt release on pypi.org, as go-xla's own
	// auto-installer uses) for cuda, pjrt.DefaultCPUVersion for cpu.
	Version string
	// LibDir is the library directory under which a go-xla/ directory holds
	// the plugins; "" means installer.DefaultHomeLibPath() (~/.local/lib).
	LibDir string
	// CUDA is the CUDA major version of the cuda plugin: "13" (default) or "12".
	CUDA string
	// NoCache skips go-xla's download cache (os.UserCacheDir()/go-xla).
	NoCache bool
	// Verbose makes the installer print each step on its own line.
	Verbose bool
}

// InstallPlan is what InstallPlugin will do, computed without touching the
// network or the disk.
type InstallPlan struct {
	// Target is the plugin: "cuda" or "cpu".
	Target string `json:"target"`
	// Package says what is downloaded (wheels or release asset).
	Package string `json:"package"`
	// Source is where it is downloaded from.
	Source string `json:"source"`
	// Version is the requested version.
	Version string `json:"version"`
	// LibDir is the library directory given to the installer.
	LibDir string `json:"lib_dir"`
	// Dir is the directory holding the plugin file (for PJRT_PLUGIN_LIBRARY_PATH).
	Dir string `json:"dir"`
	// PluginFile is the plugin file that will exist after installing.
	PluginFile string `json:"plugin_file"`
	// CacheDir is go-xla's download cache ("" with NoCache).
	CacheDir string `json:"cache_dir,omitempty"`
	// Spec is the --backend value that selects the plugin.
	Spec string `json:"spec"`
	// Searched is true when Dir is in PluginSearchDirs, so Spec works without
	// setting PJRT_PLUGIN_LIBRARY_PATH.
	Searched bool `json:"searched"`
	// Warnings are things the user should know before installing.
	Warnings []string `json:"warnings,omitempty"`

	plugin string // the installer's plugin name (cuda13, cuda12) or platform (linux_amd64)
}

// PlanInstall validates target and options and returns what InstallPlugin
// would do. Unknown targets are an error naming the valid ones.
func PlanInstall(target string, opts InstallOptions) (*InstallPlan, error) {
	if !slices.Contains(InstallTargets, target) {
		return nil, fmt.Errorf("unknown install target %q: want one of %s", target, strings.Join(InstallTargets, ", "))
	}
	lib := opts.LibDir
	if lib == "" {
		var err error
		if lib, err = installer.DefaultHomeLibPath(); err != nil {
			return nil, err
		}
	}
	lib, err := installer.ReplaceTildeInDir(lib)
	if err != nil {
		return nil, err
	}
	if lib, err = filepath.Abs(lib); err != nil {
		return nil, err
	}
	goxla := filepath.Join(lib, "go-xla")
	plan := &InstallPlan{Target: target, Version: opts.Version, LibDir: lib, Spec: "xla:" + target}
	if !opts.NoCache {
		if c, err := os.UserCacheDir(); err == nil {
			plan.CacheDir = filepath.Join(c, "go-xla")
		}
	}
	switch target {
	case "cuda":
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			return nil, fmt.Errorf("the CUDA PJRT plugin is distributed for linux/amd64 only, not %s/%s", runtime.GOOS, runtime.GOARCH)
		}
		cuda := opts.CUDA
		if cuda == "" {
			cuda = "13"
		}
		if cuda != "12" && cuda != "13" {
			return nil, option.Errorf("{CUDA} %q: want 13 or 12 (the CUDA major version of the plugin)", cuda)
		}
		plan.plugin = "cuda" + cuda
		if plan.Version == "" {
			plan.Version = "latest"
		}
		version := plan.Version
		if version == "latest" {
			version = "latest (resolved on pypi.org when installing)"
		}
		plan.Package = fmt.Sprintf("jax-cuda%s-pjrt %s (the PJRT plugin) and the nvidia-* wheels the newest jax-cuda%s-plugin depends on (CUDA %s runtime, cuDNN, cuBLAS, NCCL, ptxas, ...: a few GB)",
			cuda, version, cuda, cuda)
		plan.Source = "pypi.org (wheels published by the Jax team; sha256 checked)"
		plan.Dir = filepath.Join(goxla, "nvidia")
		plan.PluginFile = filepath.Join(plan.Dir, cudaPluginFile)
		if !installer.HasNvidiaGPU() {
			plan.Warnings = append(plan.Warnings, "no NVIDIA GPU detected here: the plugin installs, but go-xla will not load it on this machine")
		}
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("replaces %s if it exists; for CUDA 13 also links libcublas*.so.13 into %s", plan.Dir, lib))
	case "cpu":
		plan.plugin = runtime.GOOS + "_" + runtime.GOARCH
		if !slices.Contains(installer.CPUSupportedPlatforms, plan.plugin) {
			return nil, fmt.Errorf("no prebuilt CPU PJRT plugin for %s (available: %s)", plan.plugin, strings.Join(installer.CPUSupportedPlatforms, ", "))
		}
		if plan.Version == "" {
			plan.Version = pjrt.DefaultCPUVersion
		}
		plan.Package = fmt.Sprintf("pjrt_cpu_%s (PJRT CPU plugin %s)", plan.plugin, plan.Version)
		plan.Source = "https://github.com/" + installer.BinaryCPUReleasesRepo + "/releases (no checksum published)"
		plan.Dir = goxla
		plan.PluginFile = filepath.Join(goxla, "pjrt_c_api_cpu_plugin.so")
	}
	plan.Searched = slices.Contains(PluginSearchDirs(), plan.Dir)
	return plan, nil
}

// InstallPlugin downloads and installs PJRT plugin target ("cuda" or "cpu")
// with go-xla's installer (installer.CudaInstall, installer.CPUInstall),
// which prints its progress on standard output, checks the files' sha256
// where pypi.org publishes them and keeps downloads in its cache. ctx is
// checked before starting; a download in progress cannot be interrupted
// other than by ending the process.
func InstallPlugin(ctx context.Context, target string, opts InstallOptions) error {
	plan, err := PlanInstall(target, opts)
	if err != nil {
		return err
	}
	return plan.Install(ctx, opts)
}

// Install runs the plan (see InstallPlugin); opts must be those given to PlanInstall.
func (p *InstallPlan) Install(ctx context.Context, opts InstallOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	verbosity := installer.Normal
	if opts.Verbose {
		verbosity = installer.Verbose
	}
	goxla := filepath.Join(p.LibDir, "go-xla")
	useCache := !opts.NoCache
	var err error
	switch p.Target {
	case "cuda":
		err = cudaInstall(p.plugin, p.Version, goxla, useCache, verbosity)
	case "cpu":
		err = installer.CPUInstall(p.plugin, p.Version, goxla, useCache, verbosity)
	default:
		return fmt.Errorf("unknown install target %q", p.Target)
	}
	if err != nil {
		return fmt.Errorf("installing the %s PJRT plugin into %s: %w", p.Target, goxla, err)
	}
	if _, err := os.Stat(p.PluginFile); err != nil {
		return fmt.Errorf("the installer finished but %s is missing: %w", p.PluginFile, err)
	}
	return nil
}

// WriteNextSteps writes what to run after a successful install: the
// --backend value, and PJRT_PLUGIN_LIBRARY_PATH when the plugin's directory
// is not searched.
func (p *InstallPlan) WriteNextSteps(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Installed %s\n", p.PluginFile)
	if !p.Searched {
		if env, ok := os.LookupEnv(PluginPathEnv); ok && env != "" {
			fmt.Fprintf(&b, "%s is set, so add the plugin's directory to it:\n  export %s=%s:$%s\n", PluginPathEnv, PluginPathEnv, p.Dir, PluginPathEnv)
		} else {
			fmt.Fprintf(&b, "%s is not searched by default, so point go-xla at it:\n  export %s=%s\n", p.Dir, PluginPathEnv, p.Dir)
		}
		fmt.Fprintf(&b, "(or use --backend xla:%s)\n", p.PluginFile)
	}
	b.WriteString("Check it with:\n  rlhf backend list --probe\n")
	fmt.Fprintf(&b, "Then pass --backend %s to the model commands (or set %s=%s), e.g.\n  rlhf sft --backend %s ...\n", p.Spec, BackendEnv, p.Spec, p.Spec)
	_, err := io.WriteString(w, b.String())
	return err
}

// errNoPlugin builds NewBackend's error for a plugin name go-xla cannot
// find; available are the plugin names it can load.
func errNoPlugin(spec, name string, available []string) error {
	return fmt.Errorf("backend %q: %s (usable plugins: %v)", spec, missingPluginHint(name, FindPlugins()), available)
}
