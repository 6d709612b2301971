//go:build linux && amd64

package model

import "github.com/gomlx/go-xla/installer"

// cudaInstall is go-xla's CUDA installer, which exists on linux/amd64 only.
func cudaInstall(plugin, version, installPath string, useCache bool, verbosity installer.VerbosityLevel) error {
	return installer.CudaInstall(plugin, version, installPath, useCache, verbosity)
}
