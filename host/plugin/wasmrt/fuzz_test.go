package wasmrt

import (
	"bytes"
	"errors"
	"testing"
)

// fakeMemory is a linear memory of a given size with wazero's bounds rules.
type fakeMemory struct{ b []byte }

func (m *fakeMemory) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m.b)) {
		return nil, false
	}
	return m.b[off : off+n], true
}

func (m *fakeMemory) Write(off uint32, v []byte) bool {
	if uint64(off)+uint64(len(v)) > uint64(len(m.b)) {
		return false
	}
	copy(m.b[off:], v)
	return true
}

// FuzzHostImports drives input_read, result_read and output_write with
// arbitrary pointers, lengths, capacities and memory sizes. They must never
// panic, must fail with ErrABI exactly when the guest range is outside
// memory, and must copy exactly what the ABI says otherwise.
func FuzzHostImports(f *testing.F) {
	f.Add(uint8(0), uint32(0), uint32(16), uint32(65536), []byte("hello"), uint32(16))
	f.Add(uint8(1), uint32(65530), uint32(16), uint32(65536), []byte("hello"), uint32(1<<20))
	f.Add(uint8(2), uint32(0xFFFFFFFF), uint32(0xFFFFFFFF), uint32(1), []byte{}, uint32(0))
	f.Add(uint8(2), uint32(10), uint32(100), uint32(200), []byte("x"), uint32(50))
	f.Fuzz(func(t *testing.T, op uint8, ptr, n, memSize uint32, data []byte, maxOut uint32) {
		mem := &fakeMemory{b: make([]byte, memSize%(1<<20))}
		c := &callState{maxOutput: maxOut}
		c.reset(data)
		c.result = data
		switch op % 3 {
		case 0, 1:
			var got uint32
			var err error
			if op%3 == 0 {
				got, err = c.inputRead(mem, ptr, n)
			} else {
				got, err = c.resultRead(mem, ptr, n)
			}
			k := min(uint64(len(data)), uint64(n))
			fits := uint64(ptr)+k <= uint64(len(mem.b))
			switch {
			case k > 0 && !fits:
				if !errors.Is(err, ErrABI) {
					t.Fatalf("out of bounds copy: err = %v", err)
				}
			case err != nil:
				t.Fatalf("in bounds copy failed: %v", err)
			case got != uint32(len(data)):
				t.Fatalf("returned %d, want the full length %d", got, len(data))
			case k > 0 && !bytes.Equal(mem.b[ptr:uint64(ptr)+k], data[:k]):
				t.Fatal("copied bytes differ")
			}
		case 2:
			got, err := c.outputWrite(mem, ptr, n)
			fits := n == 0 || uint64(ptr)+uint64(n) <= uint64(len(mem.b))
			switch {
			case n > maxOut:
				if err != nil || got != 1 || c.overflow != n {
					t.Fatalf("over the cap: %d, %v, wrote=%v overflow=%d", got, err, c.wrote, c.overflow)
				}
			case !fits:
				if !errors.Is(err, ErrABI) {
					t.Fatalf("out of bounds output: err = %v", err)
				}
			case err != nil || got != 0 || !c.wrote || len(c.output) != int(n):
				t.Fatalf("in bounds output: %d, %v, %d bytes", got, err, len(c.output))
			case n > 0:
				mem.b[ptr] ^= 0xFF // the output must be a copy
				if c.output[0] == mem.b[ptr] {
					t.Fatal("output aliases guest memory")
				}
			}
		}
	})
}
