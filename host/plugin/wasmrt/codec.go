package wasmrt

import (
	"fmt"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// decodeAppError decodes the output of a call that returned status 1: an
// encoded abiv1.Error, returned as is so that callers test it with
// errors.As. An output that does not decode is an ABI failure.
func decodeAppError(p *Plugin, method uint32, out []byte) error {
	e := new(abiv1.Error)
	if err := e.Unmarshal(out); err != nil {
		return &PluginError{Plugin: p.name, Method: method, Cause: fmt.Errorf("%w: error output does not decode: %w", ErrABI, err)}
	}
	return e
}
