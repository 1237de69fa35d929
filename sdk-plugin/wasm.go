//go:build wasip1

//lint:file-ignore U1000 go:wasmexport functions are called by the host, not by Go code

package sdk

import (
	"context"
	"log/slog"
	"runtime"
	"unsafe"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// host is the Host made of the imports; SetHost does not exist in this
// build.
var host Host = wasmHost{}

// Main does nothing: a reactor module's main is never called. It exists so
// that the same main function builds natively and for wasip1.
func Main() {}

// abiVersion is the version marker, checked by the host before
// instantiation and never called.
//
//go:wasmexport gatewayd_abi_v1_0
func abiVersion() {}

//go:wasmimport gatewayd_v1 input_read
func inputRead(ptr unsafe.Pointer, cap uint32) uint32

//go:wasmimport gatewayd_v1 output_write
func outputWrite(ptr unsafe.Pointer, len uint32) uint32

//go:wasmimport gatewayd_v1 result_read
func resultRead(ptr unsafe.Pointer, cap uint32) uint32

// Buffers reused by every call: the generated decoders copy what they keep,
// and the host copies the output during output_write.
var (
	inBuf     = make([]byte, 4096)
	outBuf    = make([]byte, 0, 4096)
	reqBuf    = make([]byte, 0, 1024) // capability requests
	resultBuf = make([]byte, 4096)    // capability results
	callCtx   = abiv1.WithOutputBuffer(context.Background(), &outBuf)
)

// call is the entry point of every plugin method. A panic in the plugin is
// not recovered: the Go runtime exits, which the host sees as a trap.
//
//go:wasmexport gatewayd_call
func call(method, inputLen uint32) uint32 {
	status := uint32(abiv1.StatusOK)
	out, err := dispatch(callCtx, method, readInput(inputLen))
	if err != nil {
		status = abiv1.StatusError
		outBuf = abiv1.AsError(err).MarshalAppend(outBuf[:0])
		out = outBuf
	}
	if outputWrite(unsafe.Pointer(unsafe.SliceData(out)), uint32(len(out))) != 0 {
		status = 2 // output too large: the call fails on the host anyway
	}
	// Let the Go scheduler run before returning: without it the guest's
	// heap (and linear memory) grows on every call.
	runtime.Gosched()
	return status
}

func readInput(n uint32) []byte {
	if uint32(len(inBuf)) < n {
		inBuf = make([]byte, n)
	}
	for {
		full := inputRead(unsafe.Pointer(unsafe.SliceData(inBuf)), uint32(len(inBuf)))
		if full <= uint32(len(inBuf)) {
			return inBuf[:full]
		}
		inBuf = make([]byte, full)
	}
}

// readResult returns the result of the last capability call, whose length
// is n (or unknown, if n is 0).
func readResult(n uint32) []byte {
	if uint32(len(resultBuf)) < n {
		resultBuf = make([]byte, n)
	}
	for {
		full := resultRead(unsafe.Pointer(unsafe.SliceData(resultBuf)), uint32(len(resultBuf)))
		if full <= uint32(len(resultBuf)) {
			return resultBuf[:full]
		}
		resultBuf = make([]byte, full)
	}
}

type message interface {
	MarshalAppend([]byte) []byte
	Unmarshal([]byte) error
}

// capCall runs one request/result capability import: fn gets the encoded
// req and returns the result length, or minus an ErrorCode with an Error
// message as result.
func capCall(fn func(ptr unsafe.Pointer, len uint32) int32, req, resp message) error {
	reqBuf = req.MarshalAppend(reqBuf[:0])
	r := fn(unsafe.Pointer(unsafe.SliceData(reqBuf)), uint32(len(reqBuf)))
	if r < 0 {
		e := new(abiv1.Error)
		if err := e.Unmarshal(readResult(0)); err != nil {
			e = &abiv1.Error{Message: "host error does not decode"}
		}
		if e.Code == abiv1.ErrorCodeUnknown {
			e.Code = abiv1.ErrorCode(-r)
		}
		return e
	}
	if err := resp.Unmarshal(readResult(uint32(r))); err != nil {
		return &abiv1.Error{Code: abiv1.ErrorCodeInternal, Message: "host result does not decode: " + err.Error()}
	}
	return nil
}

//go:wasmimport gatewayd_v1_http request
func httpRequest(ptr unsafe.Pointer, len uint32) int32

//go:wasmimport gatewayd_v1_kv get
func kvGet(ptr unsafe.Pointer, len uint32) int32

//go:wasmimport gatewayd_v1_kv put
func kvPut(ptr unsafe.Pointer, len uint32) int32

//go:wasmimport gatewayd_v1_kv delete
func kvDelete(ptr unsafe.Pointer, len uint32) int32

//go:wasmimport gatewayd_v1_kv list
func kvList(ptr unsafe.Pointer, len uint32) int32

//go:wasmimport gatewayd_v1_secrets get
func secretsGet(ptr unsafe.Pointer, len uint32) int32

//go:wasmimport gatewayd_v1_log log
func logLog(level int32, ptr unsafe.Pointer, len uint32)

//go:wasmimport gatewayd_v1_metrics counter_add
func metricsCounterAdd(ptr unsafe.Pointer, len uint32, value float64)

//go:wasmimport gatewayd_v1_metrics histogram_observe
func metricsHistogramObserve(ptr unsafe.Pointer, len uint32, value float64)

//go:wasmimport gatewayd_v1_clock now_unix_nano
func clockNowUnixNano() int64

//go:wasmimport gatewayd_v1_random fill
func randomFill(ptr unsafe.Pointer, len uint32)

//go:wasmimport gatewayd_v1_config read
func configRead(ptr unsafe.Pointer, cap uint32) uint32

// wasmHost implements Host with the imports. The Go linker only keeps the
// imports of methods the plugin can reach, so a plugin that never calls,
// say, HTTP does not import gatewayd_v1_http.
type wasmHost struct{}

func (wasmHost) HTTP(_ context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	resp := new(abiv1.HTTPResponse)
	return resp, capCall(httpRequest, req, resp)
}

func (wasmHost) KVGet(_ context.Context, req *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error) {
	resp := new(abiv1.KVGetResponse)
	return resp, capCall(kvGet, req, resp)
}

func (wasmHost) KVPut(_ context.Context, req *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error) {
	resp := new(abiv1.KVPutResponse)
	return resp, capCall(kvPut, req, resp)
}

func (wasmHost) KVDelete(_ context.Context, req *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error) {
	resp := new(abiv1.KVDeleteResponse)
	return resp, capCall(kvDelete, req, resp)
}

func (wasmHost) KVList(_ context.Context, req *abiv1.KVListRequest) (*abiv1.KVListResponse, error) {
	resp := new(abiv1.KVListResponse)
	return resp, capCall(kvList, req, resp)
}

func (wasmHost) SecretGet(_ context.Context, req *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error) {
	resp := new(abiv1.SecretGetResponse)
	return resp, capCall(secretsGet, req, resp)
}

func (wasmHost) Log(level slog.Level, rec *abiv1.LogRecord) {
	reqBuf = rec.MarshalAppend(reqBuf[:0])
	logLog(int32(level), unsafe.Pointer(unsafe.SliceData(reqBuf)), uint32(len(reqBuf)))
}

func (wasmHost) CounterAdd(name string, value float64) {
	metricsCounterAdd(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), value)
}

func (wasmHost) HistogramObserve(name string, value float64) {
	metricsHistogramObserve(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), value)
}

func (wasmHost) NowUnixNano() int64 { return clockNowUnixNano() }

func (wasmHost) RandomFill(p []byte) {
	if len(p) > 0 {
		randomFill(unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p)))
	}
}

func (wasmHost) Config() []byte {
	b := make([]byte, 1024)
	for {
		n := configRead(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
		if n <= uint32(len(b)) {
			return b[:n]
		}
		b = make([]byte, n)
	}
}
