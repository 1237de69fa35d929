// Package abiv1 is version 1 of the gatewayd plugin contract: the messages
// of the IDL in proto/ (generated into *_abi.go by abi/cmd/abigen), the
// method IDs, a Go interface, client stub and dispatcher per plugin
// interface, and the Transport that carries encoded calls.
//
// The wire contract for WebAssembly plugins is described in abi/README.md.
// Everything here is free of reflection so that it can run inside a
// plugin built for GOOS=wasip1.
package abiv1

//go:generate go run ../cmd/abigen -I proto -out .
