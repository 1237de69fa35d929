//go:build wasip1

// Command oom is a test guest: other methods echo, method 9 allocates until the
// Go runtime runs out of memory.
package main

import (
	"runtime"

	"github.com/ubeu/gateway/host/plugin/wasmrt/testdata/guestabi"
)

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

var hoard [][]byte

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	in := guestabi.Input(n)
	if method == 9 {
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	}
	guestabi.Output(in)
	return 0
}
