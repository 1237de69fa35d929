// Command web3registry is a test resolver plugin for the gateway's
// external-domain tests (host/gateway/web3_test.go): a stand-in for
// plugins/ens and plugins/unstoppable whose "chain" is its own KV
// namespace, so that a test can register and transfer names while the
// gateway runs. It is built to Wasm with sdk-plugin and runs in the real
// runtime; it is not a plugin to install anywhere else.
//
// KV entries: "owner/<name>" → "<CAIP-2 chain> <address>".
// Like a registry it answers NotFound for an unknown name, and like
// ENSIP-15 normalisation it refuses (InvalidArgument) names with ASCII
// other than lower-case letters, digits, '-' and '.', or with non-ASCII
// characters that are neither letters nor symbols (emoji are symbols).
package main

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

type registry struct{}

func (registry) owner(ctx context.Context, name string) (chain, addr string, err error) {
	for _, c := range name {
		ascii := c < utf8.RuneSelf
		if ascii && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' ||
			!ascii && !unicode.IsLetter(c) && !unicode.IsSymbol(c) {
			return "", "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name fails normalisation")
		}
	}
	v, _, ok, err := sdk.KV().Get(ctx, "owner/"+name)
	if err != nil {
		return "", "", abiv1.Errorf(abiv1.ErrorCodeUnavailable, "kv: %v", err)
	}
	if !ok {
		return "", "", abiv1.Errorf(abiv1.ErrorCodeNotFound, "no such name")
	}
	chain, addr, _ = strings.Cut(string(v), " ")
	return chain, addr, nil
}

func (r registry) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	chain, addr, err := r.owner(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	resp := &abiv1.ResolveResponse{ResolverContract: &abiv1.Address{Chain: chain, Address: "0x231b0Ee14048e9dCcD1d247744d114a4EB5E8E63"}}
	for _, n := range req.Networks {
		if n == chain {
			resp.Owners = append(resp.Owners, &abiv1.Address{Chain: chain, Address: addr})
		}
	}
	return resp, nil
}

func (r registry) CheckOwnership(ctx context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	chain, addr, err := r.owner(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if req.Address == nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "address is required")
	}
	owns := req.Address.Chain == chain && strings.EqualFold(req.Address.Address, addr)
	return &abiv1.CheckOwnershipResponse{Owns: owns, Evidence: map[string]string{"registry": "0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e", "source": "kv"}}, nil
}

func init() {
	sdk.SetInfo("web3registry", "0.1.0")
	resolver.Serve(registry{})
}

func main() { sdk.Main() }
