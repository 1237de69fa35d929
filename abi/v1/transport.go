package abiv1

import (
	"context"
	"errors"
	"fmt"
)

// Transport carries one encoded call to a plugin and returns its encoded
// response. Implementations (the wazero runtime, the go-plugin transport,
// HandlerTransport) return a *Error when the plugin answered with an
// application error and a *PluginError when the call failed at the ABI level.
type Transport interface {
	Call(ctx context.Context, method uint32, req []byte) ([]byte, error)
}

// Handler is the plugin side of a Transport: it decodes a request for
// method, runs it and returns the encoded response. An error is reported to
// the caller as an Error message (see AsError).
type Handler func(ctx context.Context, method uint32, req []byte) (resp []byte, err error)

// Error returns a one-line description of the error.
func (e *Error) Error() string {
	if e.Message == "" {
		return "plugin: " + e.Code.String()
	}
	return "plugin: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &abiv1.Error{Code: abiv1.ErrorCodeNotFound}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unimplemented returns the error a Handler gives for a method it does not
// serve.
func Unimplemented(method uint32) *Error {
	return &Error{Code: ErrorCodeUnimplemented, Message: fmt.Sprintf("method %#04x (%s) not implemented", method, MethodName(method))}
}

// AsError converts err to the *Error sent over the wire: an *Error found
// with errors.As is returned as is; any other error becomes code UNKNOWN
// with err's text. AsError(nil) is nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Code: ErrorCodeUnknown, Message: err.Error()}
}

// PluginError is an ABI-level failure of a call: a trap, a deadline, an
// invalid status, an output too large or that does not decode. The host
// discards the plugin instance after one.
type PluginError struct {
	Method uint32 // the method called
	Reason string // short description, e.g. "output too large"
	Err    error  // underlying cause, may be nil
}

func (e *PluginError) Error() string {
	s := "plugin_error: " + MethodName(e.Method) + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *PluginError) Unwrap() error { return e.Err }

// HandlerTransport returns a Transport that calls h in process. Errors go
// through their wire encoding, as they would across a real transport.
func HandlerTransport(h Handler) Transport { return handlerTransport{h} }

type handlerTransport struct{ h Handler }

func (t handlerTransport) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	resp, err := t.h(ctx, method, req)
	if err != nil {
		b := AsError(err).MarshalAppend(nil)
		e := new(Error)
		if err := e.Unmarshal(b); err != nil {
			return nil, &PluginError{Method: method, Reason: "error does not decode", Err: err}
		}
		return nil, e
	}
	return resp, nil
}

type message interface {
	MarshalAppend([]byte) []byte
	Size() int
	Unmarshal([]byte) error
}

// invoke is the body of every generated client method.
func invoke(ctx context.Context, t Transport, method uint32, req, resp message) error {
	out, err := t.Call(ctx, method, req.MarshalAppend(make([]byte, 0, req.Size())))
	if err != nil {
		return err
	}
	if err := resp.Unmarshal(out); err != nil {
		return &PluginError{Method: method, Reason: "output does not decode", Err: err}
	}
	return nil
}

// serve is the body of every generated dispatcher case.
func serve[Req any, Resp any, PReq interface {
	*Req
	message
}, PResp interface {
	*Resp
	message
}](ctx context.Context, in []byte, fn func(context.Context, PReq) (PResp, error)) ([]byte, error) {
	req := PReq(new(Req))
	if err := req.Unmarshal(in); err != nil {
		return nil, &Error{Code: ErrorCodeInvalidArgument, Message: "request does not decode: " + err.Error()}
	}
	resp, err := fn(ctx, req)
	if err != nil {
		return nil, err
	}
	if p, ok := ctx.Value(outputBufferKey{}).(*[]byte); ok {
		*p = resp.MarshalAppend((*p)[:0])
		return *p, nil
	}
	return resp.MarshalAppend(make([]byte, 0, resp.Size())), nil
}

type outputBufferKey struct{}

// WithOutputBuffer returns a context under which generated dispatchers
// encode responses into *buf, reusing its capacity and storing the grown
// buffer back, instead of allocating. The response returned by the Handler
// then aliases *buf and is valid only until the next call using it. A
// WebAssembly guest, which copies the response out at once, uses this to
// keep one output buffer.
func WithOutputBuffer(ctx context.Context, buf *[]byte) context.Context {
	return context.WithValue(ctx, outputBufferKey{}, buf)
}
