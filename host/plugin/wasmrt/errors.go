package wasmrt

import (
	"errors"
	"fmt"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// Causes carried by a *PluginError that callers may test with errors.Is.
var (
	// ErrCircuitOpen means the plugin failed too often in a row and calls
	// fail fast until its cool-down has passed.
	ErrCircuitOpen = errors.New("wasmrt: circuit open")
	// ErrBusy means every instance stayed busy until the caller's context
	// ended; it wraps the context's error too.
	ErrBusy = errors.New("wasmrt: no free instance")
	// ErrClosed means the plugin or the runtime was closed.
	ErrClosed = errors.New("wasmrt: closed")
	// ErrABI means the module or one of its calls broke the ABI contract
	// (missing or unsupported version marker, ungranted import, out-of-bounds
	// pointer, over-long output, undefined status).
	ErrABI = errors.New("wasmrt: ABI violation")
	// ErrTrap means the guest trapped or ran out of memory or time. The
	// instance it ran in was discarded.
	ErrTrap = errors.New("wasmrt: guest failed")
)

// PluginError reports that a plugin did not serve a call: it trapped, ran out
// of memory or time, broke the ABI, or was not reached (circuit open, no free
// instance, closed). It is never the plugin's answer: application errors
// returned by a plugin are a separate type (see Plugin.Call).
type PluginError struct {
	Plugin string
	Method uint32
	Cause  error
}

func (e *PluginError) Error() string {
	return fmt.Sprintf("plugin %s: method %d: %v", e.Plugin, e.Method, e.Cause)
}

// Unwrap returns the cause.
func (e *PluginError) Unwrap() error { return e.Cause }

// As lets errors.As find an *abiv1.PluginError, the transport-neutral form
// generated clients and other transports use.
func (e *PluginError) As(target any) bool {
	t, ok := target.(**abiv1.PluginError)
	if !ok {
		return false
	}
	*t = &abiv1.PluginError{Method: e.Method, Reason: "plugin " + e.Plugin, Err: e.Cause}
	return true
}
