//go:build unix && !linux

package evm

import (
	"os"
	"syscall"
)

// procAttr puts anvil in its own process group, so that kill also stops a
// child the npm wrapper script may have started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func kill(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
