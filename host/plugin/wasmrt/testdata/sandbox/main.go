//go:build wasip1

// Command sandbox is a test guest that looks for ambient authority: any
// method answers a report of what it could see of the environment, the
// arguments and the filesystem, one "key=value" per line.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/ubeu/gateway/host/plugin/wasmrt/testdata/guestabi"
)

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return "error"
}

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	guestabi.Input(n)
	var b strings.Builder
	fmt.Fprintf(&b, "environ=%d\n", len(os.Environ()))
	fmt.Fprintf(&b, "args=%d\n", len(os.Args))
	_, err := os.ReadFile("/etc/passwd")
	fmt.Fprintf(&b, "read_etc_passwd=%s\n", errText(err))
	_, err = os.ReadDir("/")
	fmt.Fprintf(&b, "read_root=%s\n", errText(err))
	_, err = os.ReadDir(".")
	fmt.Fprintf(&b, "read_cwd=%s\n", errText(err))
	err = os.WriteFile("/tmp/sandbox-escape", []byte("x"), 0o644)
	fmt.Fprintf(&b, "write_tmp=%s\n", errText(err))
	h, _ := os.Hostname()
	fmt.Fprintf(&b, "hostname=%q\n", h)
	guestabi.Output([]byte(b.String()))
	return 0
}
