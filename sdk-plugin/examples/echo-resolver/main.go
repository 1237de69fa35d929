// Command echo-resolver is an example gatewayd plugin: a resolver that
// answers from its configuration.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm ./sdk-plugin/examples/echo-resolver
//
// Its configuration maps names to answers:
//
//	{"names": {"alice.eth": {"owners": [{"chain": "eip155:1", "address": "0xA11CE"}],
//	                         "records": {"email": "alice@example.com"},
//	                         "did": "did:example:alice", "expires_unix": 1900000000}}}
package main

import (
	"context"
	"log/slog"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

type address struct {
	Chain   string `json:"chain"`
	Address string `json:"address"`
}

type entry struct {
	Owners      []address         `json:"owners"`
	Records     map[string]string `json:"records"`
	DID         string            `json:"did"`
	ExpiresUnix int64             `json:"expires_unix"`
}

type config struct {
	Names map[string]entry `json:"names"`
}

// echo is the Resolver. It loads the configuration on first use.
type echo struct {
	cfg *config
}

func (e *echo) lookup(name string) (entry, error) {
	if name == "" {
		return entry{}, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name is required")
	}
	if e.cfg == nil {
		var c config
		if err := sdk.Config(&c); err != nil {
			return entry{}, abiv1.Errorf(abiv1.ErrorCodeInternal, "config: %v", err)
		}
		e.cfg = &c
	}
	en, ok := e.cfg.Names[strings.ToLower(name)]
	if !ok {
		return entry{}, abiv1.Errorf(abiv1.ErrorCodeNotFound, "name %q not configured", name)
	}
	return en, nil
}

func (e *echo) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	en, err := e.lookup(req.Name)
	if err != nil {
		return nil, err
	}
	resp := &abiv1.ResolveResponse{Records: en.Records, DID: en.DID, ExpiresUnix: en.ExpiresUnix}
	for _, o := range en.Owners {
		if len(req.Networks) == 0 || contains(req.Networks, o.Chain) {
			resp.Owners = append(resp.Owners, &abiv1.Address{Chain: o.Chain, Address: o.Address})
		}
	}
	return resp, nil
}

func (e *echo) CheckOwnership(ctx context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	en, err := e.lookup(req.Name)
	if err != nil {
		return nil, err
	}
	if req.Address == nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "address is required")
	}
	for _, o := range en.Owners {
		if o.Chain == req.Address.Chain && strings.EqualFold(o.Address, req.Address.Address) {
			return &abiv1.CheckOwnershipResponse{Owns: true, Evidence: map[string]string{"source": "config"}}, nil
		}
	}
	sdk.Log(slog.LevelDebug, "ownership denied", slog.String("name", req.Name))
	return &abiv1.CheckOwnershipResponse{Owns: false}, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func init() {
	sdk.SetInfo("echo-resolver", "0.1.0")
	resolver.Serve(&echo{})
}

func main() { sdk.Main() }
