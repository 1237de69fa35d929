//go:build wasip1

// Command httpget is a test guest: other methods echo; method 5 passes its
// input, an encoded abiv1.HTTPRequest, to gatewayd_v1_http.request and
// returns the import's result as 4 bytes (little-endian int32) followed by
// what result_read holds.
package main

import (
	"encoding/binary"
	"runtime"
	"unsafe"

	"github.com/ubeu/gateway/host/plugin/wasmrt/testdata/guestabi"
)

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

//go:wasmimport gatewayd_v1_http request
func httpRequest(ptr unsafe.Pointer, n int32) int32

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	in := guestabi.Input(n)
	if method != 5 {
		guestabi.Output(in)
		return 0
	}
	req := append([]byte(nil), in...)
	rn := httpRequest(unsafe.Pointer(unsafe.SliceData(req)), int32(len(req)))
	res := guestabi.Result(guestabi.Len(rn))
	guestabi.Output(append(binary.LittleEndian.AppendUint32(nil, uint32(rn)), res...))
	return 0
}
