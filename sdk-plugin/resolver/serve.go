// Package resolver serves the "resolver" plugin interface. Importing it adds the
// interface marker export gatewayd_iface_resolver to a WebAssembly plugin.
package resolver

import (
	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Serve registers impl as the plugin's Resolver. Call it from an init function.
func Serve(impl sdk.Resolver) {
	sdk.Register(abiv1.IfaceResolver, abiv1.DispatchResolver(impl))
}
