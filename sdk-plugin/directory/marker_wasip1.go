//go:build wasip1

package directory

// marker is the interface marker export; it is never called.
//
//go:wasmexport gatewayd_iface_directory
func marker() {}
