//go:build wasip1

// Command badstatus is a test guest: other methods echo, method 9 returns
// status 77, which the ABI does not define, and method 0x0101 (Resolver.
// Resolve) answers status 0 with bytes that do not decode as its response.
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
	if method == 0x0101 {
		// Field 1, length 100, then 2 bytes: truncated.
		guestabi.Output([]byte{0x0a, 100, 'x', 'y'})
		return 0
	}
	guestabi.Output(in)
	return 0
}
