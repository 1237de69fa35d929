//go:build wasip1

package lms

// marker is the interface marker export; it is never called.
//
//go:wasmexport gatewayd_iface_lms
func marker() {}
