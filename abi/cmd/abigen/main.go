// Command abigen generates the Go code of the gatewayd plugin ABI from the
// .proto IDL: plain structs with reflection-free protobuf encoding
// (MarshalAppend, Size, Unmarshal over encoding/protowire), enum types,
// method ID constants and, per service, a Go interface, a client stub over
// Transport and a Handler dispatcher.
//
// Usage:
//
//	abigen -I proto -out .
//
// reads every *.proto file in the -I directory and writes <name>_abi.go for
// each, plus methods_abi.go, into the -out directory. It is run by
// `go generate ./abi/...`.
//
// IDL rules enforced here: proto3 only; no nested messages, oneofs or
// optional fields; maps only from string to string or bytes; repeated
// fields only of string, bytes or messages. Every rpc carries a leading
// comment line "@id 0xNNNN" with its permanent method ID; every service
// carries "@iface <name>"; IDs are unique and all methods of a service share
// the high byte of the ID (its block).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	in := flag.String("I", "proto", "directory of the .proto files")
	out := flag.String("out", ".", "output directory")
	flag.Parse()
	files, err := Generate(context.Background(), *in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abigen:", err)
		os.Exit(1)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(*out, name), src, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "abigen:", err)
			os.Exit(1)
		}
	}
}
