//go:build !wasip1

package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Natively (runtime process) the SDK's go-plugin runner dials the host's
// capability service on the plugin's first capability call, but go-plugin's
// broker keeps the connection info the host sends at start for 5 seconds
// only: a first capability call later than that (the first SAML login,
// minutes after the gateway started) would fail, and every one after it.
// Until the runner dials eagerly, this plugin makes a harmless capability
// call as soon as the host's broker is known (the host's Describe right
// after start), which opens the connection for the life of the process.
func init() {
	// Only in a process gatewayd launched (go-plugin's magic cookie), not
	// in tests that link the plugin.
	if os.Getenv("GATEWAYD_PLUGIN") != "" {
		go dialHostEarly()
	}
}

// dialHostEarly polls a KV read until it reaches the host. It first waits
// for sdk.Main to have installed the host (a fixed delay: the SDK has no
// signal for it), then retries while the host's broker is not yet known.
func dialHostEarly() {
	time.Sleep(300 * time.Millisecond)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		_, _, _, err := sdk.KV().Get(ctx, "connector/"+warmKey)
		cancel()
		if err == nil || !unreachable(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// warmKey names no enterprise (enterprise IDs have no '#').
const warmKey = "#dial"

// unreachable reports whether err means the host's capabilities are not
// reachable yet (no host, or no broker ID yet).
func unreachable(err error) bool {
	if errors.Is(err, sdk.ErrNoHost) {
		return true
	}
	var e *abiv1.Error
	return errors.As(err, &e) && e.Code == abiv1.ErrorCodeUnavailable && strings.Contains(e.Message, "broker ID unknown")
}
