//go:build wasip1

// Command rawcaps is a test guest that calls the capability imports with
// the bytes the host gives it, without the SDK: other methods echo; methods
// 10 to 15 pass the input as the request of http.request, kv.get, kv.put,
// kv.delete, kv.list and secrets.get and return the import's result as 4
// bytes (little-endian int32) followed by what result_read holds; method 16
// passes it to log.log at level info and returns nothing.
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

//go:wasmimport gatewayd_v1_kv get
func kvGet(ptr unsafe.Pointer, n int32) int32

//go:wasmimport gatewayd_v1_kv put
func kvPut(ptr unsafe.Pointer, n int32) int32

//go:wasmimport gatewayd_v1_kv delete
func kvDelete(ptr unsafe.Pointer, n int32) int32

//go:wasmimport gatewayd_v1_kv list
func kvList(ptr unsafe.Pointer, n int32) int32

//go:wasmimport gatewayd_v1_secrets get
func secretsGet(ptr unsafe.Pointer, n int32) int32

//go:wasmimport gatewayd_v1_log log
func logLog(level int32, ptr unsafe.Pointer, n int32)

var imports = map[int32]func(unsafe.Pointer, int32) int32{
	10: httpRequest, 11: kvGet, 12: kvPut, 13: kvDelete, 14: kvList, 15: secretsGet,
}

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	defer runtime.Gosched()
	in := append([]byte(nil), guestabi.Input(n)...)
	if method == 16 {
		logLog(0, unsafe.Pointer(unsafe.SliceData(in)), int32(len(in)))
		return 0
	}
	f := imports[method]
	if f == nil {
		guestabi.Output(in)
		return 0
	}
	rn := f(unsafe.Pointer(unsafe.SliceData(in)), int32(len(in)))
	res := guestabi.Result(guestabi.Len(rn))
	guestabi.Output(append(binary.LittleEndian.AppendUint32(nil, uint32(rn)), res...))
	return 0
}
