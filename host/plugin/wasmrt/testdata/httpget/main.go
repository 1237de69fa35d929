//go:build wasip1

// Command httpget is a test guest: method 1 echoes; method 5 fetches the URL
// given as input through gatewayd_v1_http.request and returns the encoded
// response as is.
package main

import (
	"runtime"
	"strconv"
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
	req := []byte(`{"method":"GET","url":` + strconv.Quote(string(in)) + `}`)
	rn := httpRequest(unsafe.Pointer(&req[0]), int32(len(req)))
	guestabi.Output(guestabi.Result(rn))
	return 0
}
