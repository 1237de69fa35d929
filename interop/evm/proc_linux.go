package evm

import (
	"os"
	"syscall"
)

// procAttr puts anvil in its own process group, so that kill also stops a
// child the npm wrapper script may have started, and has the kernel kill it
// if the test binary dies without Close (a test timeout).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func kill(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
