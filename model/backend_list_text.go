package model

import (
	"fmt"
	"io"
	"strings"
)

// WriteBackends writes infos (from ListBackends) as the text of
// `rlhf backend list`: each backend, its devices, and for xla the plugin
// search (PJRT_PLUGIN_LIBRARY_PATH, directories, files and their status) and
// hints on what to run.
func WriteBackends(w io.Writer, infos []BackendInfo) error {
	var b strings.Builder
	for i, info := range infos {
		if i > 0 {
			b.WriteString("\n")
		}
		writeBackendInfo(&b, info)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeBackendInfo(b *strings.Builder, info BackendInfo) {
	state := "available"
	if !info.Available {
		state = "not available"
	}
	fmt.Fprintf(b, "%s: %s", info.Name, state)
	if len(info.Specs) > 0 {
		fmt.Fprintf(b, " (--backend %s)", strings.Join(info.Specs, ", "))
	}
	b.WriteString("\n")
	for _, n := range info.Notes {
		fmt.Fprintf(b, "  %s\n", n)
	}
	if info.Description != "" {
		fmt.Fprintf(b, "  %s\n", info.Description)
	}
	writeDevices(b, "  ", info.Devices, info.ProbeError)
	if info.Name == "xla" {
		env := "(unset: default directories)"
		if info.PluginPathEnvSet {
			env = fmt.Sprintf("%q", info.PluginPathEnv)
		}
		fmt.Fprintf(b, "  %s: %s\n", PluginPathEnv, env)
		fmt.Fprintf(b, "  install dir (rlhf backend install): %s\n", info.InstallDir)
		b.WriteString("  searched:\n")
		for _, d := range info.SearchDirs {
			fmt.Fprintf(b, "    %s\n", d)
		}
		if len(info.Plugins) == 0 {
			b.WriteString("  plugins: none found\n")
		} else {
			b.WriteString("  plugins:\n")
		}
		for _, p := range info.Plugins {
			fmt.Fprintf(b, "    %s  %s  [%s", p.Name, p.Path, p.Status)
			if p.Reason != "" {
				fmt.Fprintf(b, ": %s", p.Reason)
			}
			b.WriteString("]\n")
			if p.Description != "" {
				fmt.Fprintf(b, "      %s\n", p.Description)
			}
			writeDevices(b, "      ", p.Devices, p.ProbeError)
		}
	}
	for _, h := range info.Hints {
		fmt.Fprintf(b, "  hint: %s\n", h)
	}
}

func writeDevices(b *strings.Builder, indent string, devices []string, probeErr string) {
	for _, d := range devices {
		fmt.Fprintf(b, "%sdevice %s\n", indent, d)
	}
	if probeErr != "" {
		fmt.Fprintf(b, "%sprobe: %s\n", indent, probeErr)
	}
}

// WriteSummary writes what p installs, from where, to where and its cache.
func (p *InstallPlan) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Installing the %s PJRT plugin:\n", p.Target)
	fmt.Fprintf(&b, "  what:  %s\n", p.Package)
	fmt.Fprintf(&b, "  from:  %s\n", p.Source)
	fmt.Fprintf(&b, "  to:    %s\n", p.Dir)
	fmt.Fprintf(&b, "  file:  %s\n", p.PluginFile)
	if p.CacheDir != "" {
		fmt.Fprintf(&b, "  cache: %s\n", p.CacheDir)
	} else {
		b.WriteString("  cache: off\n")
	}
	for _, warning := range p.Warnings {
		fmt.Fprintf(&b, "  note:  %s\n", warning)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
