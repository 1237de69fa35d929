//go:build wasip1

// Command badmarker is a test guest whose feature marker takes an argument:
// markers are () -> ().
package main

func main() {}

//go:wasmexport gatewayd_abi_v1_0
func abi() {}

//go:wasmexport gatewayd_feature_batch
func feature(n int32) {}

//go:wasmexport gatewayd_call
func call(method int32, n int32) int32 { return 0 }
