//go:build !wasip1

package sdk

import (
	"context"
	"fmt"
	"os"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

var (
	host   Host
	runner func(info *abiv1.DescribeResponse, h abiv1.Handler) error
)

// SetHost sets the capabilities of a native plugin. The go-plugin transport
// calls it with a Host that forwards to gatewayd; tests call it with a fake.
func SetHost(h Host) { host = h }

// SetRunner sets the function Main hands the plugin to in a native build:
// the go-plugin transport registers one that serves h until gatewayd stops
// the process.
func SetRunner(run func(info *abiv1.DescribeResponse, h abiv1.Handler) error) { runner = run }

// Main runs the plugin. In the WebAssembly build it returns at once (a
// reactor's main is not called). Natively it calls the runner given to
// SetRunner and exits when it returns; without one it exits with an error.
func Main() {
	if runner == nil {
		fmt.Fprintln(os.Stderr, "this is a gatewayd plugin: no native transport is linked (sdk.SetRunner); build it with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared or run it under gatewayd")
		os.Exit(1)
	}
	info, _ := describer{}.Describe(context.Background(), nil)
	if err := runner(info, Handler()); err != nil {
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
