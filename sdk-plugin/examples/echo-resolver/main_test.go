//go:build !wasip1

package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// fakeHost serves the configuration and records logs; the native build of
// the plugin runs against it.
type fakeHost struct {
	sdk.Host // other capabilities are not granted: calling them panics
	config   []byte
	logs     []string
}

func (h *fakeHost) Config() []byte                         { return h.config }
func (h *fakeHost) Log(_ slog.Level, rec *abiv1.LogRecord) { h.logs = append(h.logs, rec.Message) }

func TestNative(t *testing.T) {
	host := &fakeHost{config: []byte(`{"names": {"bob.eth": {"owners": [{"chain": "eip155:1", "address": "0xB0B"}], "did": "did:example:bob"}}}`)}
	sdk.SetHost(host)
	defer sdk.SetHost(nil)
	ctx := context.Background()
	tr := abiv1.HandlerTransport(sdk.Handler())

	d, err := abiv1.NewPluginClient(tr).Describe(ctx, &abiv1.DescribeRequest{})
	if err != nil || d.Name != "echo-resolver" || len(d.Interfaces) != 1 || d.Interfaces[0] != "resolver" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	r := abiv1.NewResolverClient(tr)
	got, err := r.Resolve(ctx, &abiv1.ResolveRequest{Name: "bob.eth"})
	if err != nil || got.DID != "did:example:bob" || len(got.Owners) != 1 || got.Owners[0].Address != "0xB0B" {
		t.Errorf("Resolve = %+v, %v", got, err)
	}
	var e *abiv1.Error
	if _, err := r.Resolve(ctx, &abiv1.ResolveRequest{Name: "carol.eth"}); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeNotFound {
		t.Errorf("Resolve(carol.eth) = %v, want NOT_FOUND", err)
	}
	own, err := r.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xdead"}})
	if err != nil || own.Owns || len(host.logs) != 1 {
		t.Errorf("CheckOwnership = %+v, %v; logs %v", own, err, host.logs)
	}
}
