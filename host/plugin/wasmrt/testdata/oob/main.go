//go:build wasip1

// Command oob is a test guest that hands the host pointers and lengths
// outside its linear memory. Method 0xF001 echoes. Methods 2–4 call input_read,
// output_write and result_read with the pointer and length taken from the
// first 8 bytes of the input (little-endian uint32 pointer, int32 length),
// so that a fuzzer can drive the host functions through a real guest.
package main

import (
	"encoding/binary"
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
	var ptr uint32
	var length int32
	if len(in) >= 8 {
		ptr = binary.LittleEndian.Uint32(in)
		length = int32(binary.LittleEndian.Uint32(in[4:]))
	}
	switch method {
	case 0xF001: // echo (outside the ABI's method blocks, so the host does not decode it)
		guestabi.Output(in)
	case 2:
		guestabi.RawInputRead(ptr, length)
	case 3:
		guestabi.RawOutputWrite(ptr, length)
	case 4:
		guestabi.RawResultRead(ptr, length)
	}
	return 0
}
