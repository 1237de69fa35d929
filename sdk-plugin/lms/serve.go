// Package lms serves the "lms" plugin interface. Importing it adds the
// interface marker export gatewayd_iface_lms to a WebAssembly plugin.
package lms

import (
	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Serve registers impl as the plugin's LMS. Call it from an init function.
func Serve(impl sdk.LMS) {
	sdk.Register(abiv1.IfaceLMS, abiv1.DispatchLMS(impl))
}
