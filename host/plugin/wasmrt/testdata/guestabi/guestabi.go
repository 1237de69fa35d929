//go:build wasip1

// Package guestabi is the raw gatewayd ABI v1 seen from a Go guest, used only
// by the test guests of package wasmrt. It deliberately does not use the
// plugin SDK so that the tests exercise the wire contract directly.
package guestabi

import "unsafe"

//go:wasmimport gatewayd_v1 input_read
func inputRead(ptr unsafe.Pointer, capacity int32) int32

//go:wasmimport gatewayd_v1 output_write
func outputWrite(ptr unsafe.Pointer, n int32) int32

//go:wasmimport gatewayd_v1 result_read
func resultRead(ptr unsafe.Pointer, capacity int32) int32

// RawInputRead calls input_read with arbitrary values.
//
//go:wasmimport gatewayd_v1 input_read
func RawInputRead(ptr uint32, capacity int32) int32

// RawOutputWrite calls output_write with arbitrary values.
//
//go:wasmimport gatewayd_v1 output_write
func RawOutputWrite(ptr uint32, n int32) int32

// RawResultRead calls result_read with arbitrary values.
//
//go:wasmimport gatewayd_v1 result_read
func RawResultRead(ptr uint32, capacity int32) int32

var inBuf = make([]byte, 4096)
var resBuf = make([]byte, 4096)

// Input returns the call input (n bytes), in a buffer reused by later calls.
func Input(n int32) []byte {
	if int(n) > cap(inBuf) {
		inBuf = make([]byte, n)
	}
	b := inBuf[:n]
	if n > 0 {
		inputRead(unsafe.Pointer(&b[0]), n)
	}
	return b
}

// Output sets the call output; it reports false if the host refused it as
// too long.
func Output(b []byte) bool {
	if len(b) == 0 {
		return outputWrite(nil, 0) == 0
	}
	return outputWrite(unsafe.Pointer(&b[0]), int32(len(b))) == 0
}

// Result returns the last capability result, n bytes long.
func Result(n int32) []byte {
	if int(n) > cap(resBuf) {
		resBuf = make([]byte, n)
	}
	b := resBuf[:n]
	if n > 0 {
		resultRead(unsafe.Pointer(&b[0]), n)
	}
	return b
}

// Ptr returns the address of b's first byte (0 if empty).
func Ptr(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

// Len returns the length of the result of a capability import that
// returned r: r itself on success, else what result_read reports (the
// encoded Error).
func Len(r int32) int32 {
	if r >= 0 {
		return r
	}
	return resultRead(nil, 0)
}
