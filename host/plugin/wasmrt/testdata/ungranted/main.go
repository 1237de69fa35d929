//go:build wasip1

// Command ungranted is a test guest that imports the secrets capability;
// the tests load it without granting it.
package main

import "unsafe"

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

//go:wasmimport gatewayd_v1_secrets get
func secretGet(ptr unsafe.Pointer, n int32) int32

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 {
	name := []byte("db-password")
	return secretGet(unsafe.Pointer(&name[0]), int32(len(name)))
}
