//go:build !wasip1

package sdk_test

import (
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/internal/benchdata"
)

// BenchmarkResolveResponseCodec encodes and decodes a realistic
// ResolveResponse natively (compare with the wasm guest's figures in
// sdk-plugin).
func BenchmarkResolveResponseCodec(b *testing.B) {
	m := benchdata.ResolveResponse("vitalik.eth")
	buf := make([]byte, 0, 1024)
	var out abiv1.ResolveResponse
	b.SetBytes(int64(m.Size()))
	for b.Loop() {
		buf = m.MarshalAppend(buf[:0])
		if err := out.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveResponseMarshal(b *testing.B) {
	m := benchdata.ResolveResponse("vitalik.eth")
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = m.MarshalAppend(buf[:0])
	}
}

func BenchmarkResolveResponseUnmarshal(b *testing.B) {
	buf := benchdata.ResolveResponse("vitalik.eth").MarshalAppend(nil)
	var out abiv1.ResolveResponse
	for b.Loop() {
		if err := out.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}
