//go:build wasip1

//lint:file-ignore U1000 go:wasmexport functions are called by the host, not by Go code

package sso

// marker is the interface marker export; it is never called.
//
//go:wasmexport gatewayd_iface_sso
func marker() {}
