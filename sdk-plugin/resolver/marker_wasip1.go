//go:build wasip1

package resolver

// marker is the interface marker export; it is never called.
//
//go:wasmexport gatewayd_iface_resolver
func marker() {}
