//go:build wasip1

package sso

// marker is the interface marker export; it is never called.
//
//go:wasmexport gatewayd_iface_sso
func marker() {}
