// Package sso serves the "sso" plugin interface. Importing it adds the
// interface marker export gatewayd_iface_sso to a WebAssembly plugin.
package sso

import (
	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Serve registers impl as the plugin's SSO. Call it from an init function.
func Serve(impl sdk.SSO) {
	sdk.Register(abiv1.IfaceSSO, abiv1.DispatchSSO(impl))
}
