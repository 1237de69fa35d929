package wasmrt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/plugin/caps"
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

// fakeDoer checks URLs against a netguard policy that allows nothing
// private, then answers without touching the network.
type fakeDoer struct{ pol *netguard.Policy }

func (d fakeDoer) Do(r *http.Request) (*http.Response, error) {
	if err := d.pol.CheckURL(r.URL); err != nil {
		return nil, err
	}
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"X-Fake": {"1"}}, Body: io.NopCloser(strings.NewReader("fake body"))}, nil
}

type fuzzFunc struct {
	module string
	def    hostFuncDef
	resp   func() message // nil for functions without a result message
}

// fuzzFuncs lists every capability host function, in a fixed order.
func fuzzFuncs() []fuzzFunc {
	resp := map[string]func() message{
		ModuleHTTP + ".request": func() message { return new(abiv1.HTTPResponse) },
		ModuleKV + ".get":       func() message { return new(abiv1.KVGetResponse) },
		ModuleKV + ".put":       func() message { return new(abiv1.KVPutResponse) },
		ModuleKV + ".delete":    func() message { return new(abiv1.KVDeleteResponse) },
		ModuleKV + ".list":      func() message { return new(abiv1.KVListResponse) },
		ModuleSecrets + ".get":  func() message { return new(abiv1.SecretGetResponse) },
	}
	var mods []string
	for m := range hostModules {
		if m != ModuleCore {
			mods = append(mods, m)
		}
	}
	sort.Strings(mods)
	var out []fuzzFunc
	for _, m := range mods {
		for _, d := range hostModules[m] {
			out = append(out, fuzzFunc{m, d, resp[m+"."+d.name]})
		}
	}
	return out
}

func fuzzPlugin() *Plugin {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &Plugin{
		name: "fuzz", rt: &Runtime{log: discard},
		host: &caps.Host{
			Plugin:           "fuzz",
			HTTPClient:       fakeDoer{&netguard.Policy{Allow: []netguard.Rule{{Host: "example.com"}}}},
			HTTPMaxBodyBytes: 64,
			KV:               newMemKV(),
			KVQuota:          KVQuota{MaxEntries: 4, MaxBytes: 256},
			Secrets:          secretMap{"a": "b"},
			Logger:           discard,
			HostLog:          discard,
			Metrics:          &recSink{},
			Clock:            time.Now,
			Rand:             rand.NewChaCha8([32]byte{}),
			Config:           []byte(`{"k": 1}`),
		},
	}
}

// FuzzCapabilities drives every capability host function with arbitrary
// encoded requests, pointers, lengths and memory sizes. They must never
// panic; a failure must be an ErrABI fault (range outside memory, random
// fill over its cap); and a request/result function must return r >= 0
// with a result of length r that decodes as its response, or r < 0 with an
// encoded Error of code -r.
func FuzzCapabilities(f *testing.F) {
	seed := func(fn uint8, m interface{ MarshalAppend([]byte) []byte }) {
		f.Add(fn, uint32(0), uint32(0), uint16(16), m.MarshalAppend(nil))
	}
	funcs := fuzzFuncs()
	for i, ff := range funcs {
		switch ff.module + "." + ff.def.name {
		case ModuleHTTP + ".request":
			seed(uint8(i), &abiv1.HTTPRequest{URL: "https://example.com/x", Method: "POST", Body: []byte("b"), Headers: []*abiv1.Header{{Name: "A", Values: []string{"1"}}}})
			seed(uint8(i), &abiv1.HTTPRequest{URL: "http://169.254.169.254/"})
		case ModuleKV + ".put":
			seed(uint8(i), &abiv1.KVPutRequest{Key: "k", Value: []byte("v"), IfAbsent: true})
			seed(uint8(i), &abiv1.KVPutRequest{Key: "k", Value: []byte("v"), IfVersion: 1})
		case ModuleKV + ".get":
			seed(uint8(i), &abiv1.KVGetRequest{Key: "k"})
		case ModuleKV + ".delete":
			seed(uint8(i), &abiv1.KVDeleteRequest{Key: "k", IfVersion: 1})
		case ModuleKV + ".list":
			seed(uint8(i), &abiv1.KVListRequest{Prefix: "k", Limit: 2})
		case ModuleSecrets + ".get":
			seed(uint8(i), &abiv1.SecretGetRequest{Name: "a"})
			seed(uint8(i), &abiv1.SecretGetRequest{Name: "nope"})
		case ModuleLog + ".log":
			seed(uint8(i), &abiv1.LogRecord{Message: "m", Attrs: map[string]string{"plugin": "x"}})
		default:
			f.Add(uint8(i), uint32(0), uint32(8), uint16(16), []byte("name"))
		}
	}
	f.Add(uint8(0x80), uint32(0xFFFFFFF0), uint32(64), uint16(0), []byte{0xff})
	f.Add(uint8(0x81), uint32(10), uint32(1<<20), uint16(100), []byte{})
	p := fuzzPlugin()
	f.Fuzz(func(t *testing.T, fn uint8, ptr, n uint32, memSize uint16, req []byte) {
		ff := funcs[int(fn&0x7F)%len(funcs)]
		// By default the request lies at memSize in memory; with the high
		// bit of fn, ptr and n are taken as given.
		mem := &fakeMemory{b: make([]byte, int(memSize)+len(req))}
		copy(mem.b[memSize:], req)
		if fn&0x80 == 0 {
			ptr, n = uint32(memSize), uint32(len(req))
		}
		s := make([]uint64, 3)
		switch ff.module {
		case ModuleLog:
			s[0], s[1], s[2] = api.EncodeI32(int32(memSize)-8), api.EncodeU32(ptr), api.EncodeU32(n)
		case ModuleMetrics:
			s[0], s[1], s[2] = api.EncodeU32(ptr), api.EncodeU32(n), api.EncodeF64(float64(int32(memSize)-100))
		default:
			s[0], s[1] = api.EncodeU32(ptr), api.EncodeU32(n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c := &callState{plugin: p}
		err := ff.def.fn(ctx, c, mem, s)
		if err != nil {
			if !errors.Is(err, ErrABI) {
				t.Fatalf("%s.%s: error %v is not an ABI fault", ff.module, ff.def.name, err)
			}
			return
		}
		if ff.resp == nil {
			return
		}
		r := api.DecodeI32(s[0])
		if r >= 0 {
			if int(r) != len(c.result) {
				t.Fatalf("%s.%s: r = %d, result of %d bytes", ff.module, ff.def.name, r, len(c.result))
			}
			if err := ff.resp().Unmarshal(c.result); err != nil {
				t.Fatalf("%s.%s: response does not decode: %v", ff.module, ff.def.name, err)
			}
			return
		}
		var e abiv1.Error
		if err := e.Unmarshal(c.result); err != nil || int32(e.Code) != -r {
			t.Fatalf("%s.%s: r = %d, Error %+v, %v", ff.module, ff.def.name, r, &e, err)
		}
	})
}

// FuzzGuestPointers drives the host functions through a real Go guest
// (testdata/oob) in the real runtime: the guest hands input_read,
// output_write and result_read the pointer and length the fuzzer chose.
// Every call must either succeed or fail as a *PluginError (an ABI
// violation or a trap) — never a panic, never another kind of error — and
// the plugin must keep serving afterwards.
func FuzzGuestPointers(f *testing.F) {
	for _, s := range []struct {
		method   uint8
		ptr, len uint32
	}{
		{2, 0, 8}, {2, 0xFFFFFFF0, 64}, {2, 200 << 16, 8}, {3, 0x7FFFFFFF, 16}, {3, 1024, 0xFFFFFFFF},
		{4, 0, 0}, {4, 0xFFFFFFFF, 1}, {3, 0, 1 << 20},
	} {
		f.Add(s.method, s.ptr, s.len)
	}
	r := newTestRuntime(f, nil)
	p := load(f, r, Spec{Name: "oob", MaxInstances: 1, BreakerFailures: -1, MaxOutputBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, method uint8, ptr, n uint32) {
		m := uint32(2 + method%3)
		_, err := p.Call(context.Background(), m, le(ptr, n))
		var pe *PluginError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("method %d ptr %#x len %#x: %T %v, want success or *PluginError", m, ptr, n, err, err)
		}
		if err != nil && !errors.Is(err, ErrABI) && !errors.Is(err, ErrTrap) {
			t.Fatalf("method %d ptr %#x len %#x: %v, want an ABI violation or a trap", m, ptr, n, err)
		}
		mustEcho(t, p)
	})
}
