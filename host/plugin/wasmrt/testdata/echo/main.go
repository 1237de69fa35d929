//go:build wasip1

// Command echo is a well-behaved test guest: method 0xF001 echoes its input,
// method 2 returns its input as an application error, method 3 keeps n×64 KiB
// (n = first input byte) of garbage alive so that linear memory grows.
package main

import (
	"runtime"

	"github.com/ubeu/gateway/host/plugin/wasmrt/testdata/guestabi"
)

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

//go:wasmexport gatewayd_iface_resolver
func iface() {}

// A feature this host does not know: listed, otherwise ignored.
//
//go:wasmexport gatewayd_feature_future_thing
func feature() {}

var hoard [][]byte

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	in := guestabi.Input(n)
	switch method {
	case 0xF001: // echo (outside the ABI's method blocks, so the host does not decode it)
		guestabi.Output(in)
		return 0
	case 2:
		guestabi.Output(in)
		return 1
	case 3:
		if len(in) > 0 {
			hoard = append(hoard, make([]byte, int(in[0])<<16))
		}
		return 0
	}
	return 1
}
