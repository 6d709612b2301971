//go:build !(linux && amd64)

package model

import (
	"fmt"
	"runtime"

	"github.com/gomlx/go-xla/installer"
)

// cudaInstall: go-xla publishes CUDA PJRT plugins for linux/amd64 only
// (PlanInstall refuses cuda elsewhere before this is reached).
func cudaInstall(string, string, string, bool, installer.VerbosityLevel) error {
	return fmt.Errorf("no CUDA PJRT plugin is published for %s/%s", runtime.GOOS, runtime.GOARCH)
}
