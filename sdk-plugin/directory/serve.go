// Package directory serves the "directory" plugin interface. Importing it adds the
// interface marker export gatewayd_iface_directory to a WebAssembly plugin.
package directory

import (
	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Serve registers impl as the plugin's Directory. Call it from an init function.
func Serve(impl sdk.Directory) {
	sdk.Register(abiv1.IfaceDirectory, abiv1.DispatchDirectory(impl))
}
