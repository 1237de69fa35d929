//go:build wasip1

// Command badabi is a test guest that claims ABI v1 minor 7, newer than
// the host.
package main

func main() {}

//go:wasmexport gatewayd_abi_v1_7
func abi() {}

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 { return 0 }
