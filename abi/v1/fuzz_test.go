package abiv1_test

import (
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// fuzzUnmarshal checks that arbitrary bytes never panic the decoder of
// new(T), and that whatever decodes re-encodes to something that decodes.
func fuzzUnmarshal(f *testing.F, newMsg func() msg) {
	for _, m := range samples() {
		f.Add(m.MarshalAppend(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := newMsg()
		if err := m.Unmarshal(b); err != nil {
			return
		}
		enc := m.MarshalAppend(nil)
		if len(enc) != m.Size() {
			t.Fatalf("Size %d, encoded %d bytes", m.Size(), len(enc))
		}
		m2 := newMsg()
		if err := m2.Unmarshal(enc); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if m2.Size() != len(enc) {
			t.Fatalf("second decode has size %d, want %d", m2.Size(), len(enc))
		}
	})
}

func FuzzUnmarshalResolveResponse(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.ResolveResponse) })
}

func FuzzUnmarshalResolveRequest(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.ResolveRequest) })
}

func FuzzUnmarshalError(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.Error) })
}

func FuzzUnmarshalHandleSCIMResponse(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.HandleSCIMResponse) })
}

func FuzzUnmarshalListCompletionsResponse(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.ListCompletionsResponse) })
}

func FuzzUnmarshalConsumeResponseRequest(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.ConsumeResponseRequest) })
}

func FuzzUnmarshalKVListResponse(f *testing.F) {
	fuzzUnmarshal(f, func() msg { return new(abiv1.KVListResponse) })
}
