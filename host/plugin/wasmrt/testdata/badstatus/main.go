//go:build wasip1

// Command badstatus is a test guest: method 1 echoes, method 9 returns
// status 77, which the ABI does not define.
package main

import (
	"runtime"

	"github.com/ubeu/gateway/host/plugin/wasmrt/testdata/guestabi"
)

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	in := guestabi.Input(n)
	if method == 9 {
		return 77
	}
	guestabi.Output(in)
	return 0
}
