//go:build wasip1

// Command loop is a test guest: other methods echo, method 9 never returns.
package main

import (
	"runtime"

	"github.com/ubeu/gateway/host/plugin/wasmrt/testdata/guestabi"
)

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

var sink int

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	in := guestabi.Input(n)
	if method == 9 {
		for i := 0; ; i++ {
			sink += i
		}
	}
	guestabi.Output(in)
	return 0
}
