package main

import (
	"context"
	"slices"
	"strconv"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/plugins/internal/evm"
)

const maxName = 253

type unsResolver struct{}

// normalise lowercases name and checks it: labels of ASCII letters,
// digits and '-', at least two, the last a configured UNS TLD.
func (s *settings) normalise(name string) (string, error) {
	if name == "" {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name is required")
	}
	if len(name) > maxName {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name of %d bytes, at most %d", len(name), maxName)
	}
	// ASCII only, checked before lowercasing: strings.ToLower would turn
	// the Kelvin sign U+212A into "k".
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q: UNS labels are ASCII letters, digits and '-'", name)
		}
	}
	n := strings.ToLower(name)
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q has no TLD", name)
	}
	for _, l := range labels {
		if l == "" {
			return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q has an empty label", name)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q: UNS labels are ASCII letters, digits and '-'", name)
			}
		}
	}
	if tld := labels[len(labels)-1]; !s.tlds[tld] {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q: .%s is not an Unstoppable Domains TLD", name, tld)
	}
	return n, nil
}

// found is what one network says about a name.
type found struct {
	net      *chainSettings
	block    uint64
	owner    evm.Address
	registry evm.Address
	resolver evm.Address
	values   []string
}

// find reads name on each network in turn (only those in only, if any) and
// returns the first that holds it; nil if none does. withRecords adds
// getMany of the record keys.
func (s *settings) find(ctx context.Context, name string, only []string, withRecords bool) (*found, error) {
	token := evm.Namehash(name)
	var unavailable error
	for i := range s.networks {
		n := &s.networks[i]
		if len(only) > 0 && !slices.Contains(only, n.client.CAIP2()) {
			continue
		}
		calls := []evm.Call{
			{To: n.proxyReader, Data: evm.Encode("ownerOf(uint256)", token)},
			{To: n.proxyReader, Data: evm.Encode("registryOf(uint256)", token)},
			{To: n.proxyReader, Data: evm.Encode("resolverOf(uint256)", token)},
		}
		if withRecords {
			calls = append(calls, evm.Call{To: n.proxyReader, Data: evm.Encode("getMany(string[],uint256)", evm.Strings(s.recordKeys), token)})
		}
		sess, res, err := n.client.Begin(ctx, calls)
		if err != nil {
			if e := abiv1.AsError(err); e.Code == abiv1.ErrorCodePermissionDenied {
				return nil, err
			}
			unavailable = err
			continue
		}
		f := &found{net: n, block: sess.Block}
		bad := func(what string, err error) error {
			e := abiv1.Errorf(abiv1.ErrorCodeUnavailable, "%s (%s): ProxyReader.%s: %v", n.client.CAIP2(), sess.Endpoint(), what, err)
			e.Retryable = true
			return e
		}
		addr := func(r evm.Result, what string) (evm.Address, error) {
			if r.Err != nil {
				return evm.Address{}, bad(what, r.Err)
			}
			a, err := evm.DecodeAddress(r.Ret)
			if err != nil {
				return evm.Address{}, bad(what, err)
			}
			return a, nil
		}
		if f.owner, err = addr(res[0], "ownerOf"); err != nil {
			unavailable = err
			continue
		}
		if f.owner.IsZero() || (!n.bridge.IsZero() && f.owner == n.bridge) {
			continue // not here (or held by the bridge while it lives elsewhere)
		}
		if f.registry, err = addr(res[1], "registryOf"); err != nil {
			return nil, err
		}
		if f.resolver, err = addr(res[2], "resolverOf"); err != nil {
			return nil, err
		}
		if withRecords {
			if res[3].Err != nil {
				return nil, bad("getMany", res[3].Err)
			}
			if f.values, err = evm.DecodeStrings(res[3].Ret, len(s.recordKeys)); err != nil {
				return nil, bad("getMany", err)
			}
			if len(f.values) != len(s.recordKeys) {
				return nil, bad("getMany", evm.ErrABI)
			}
		}
		return f, nil
	}
	return nil, unavailable
}

// Resolve implements abiv1.Resolver.
func (unsResolver) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	name, err := s.normalise(req.Name)
	if err != nil {
		return nil, err
	}
	f, err := s.find(ctx, name, req.Networks, true)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s is not registered", name)
	}
	chain := f.net.client.CAIP2()
	out := &abiv1.ResolveResponse{Owners: []*abiv1.Address{{Chain: chain, Address: f.owner.Hex()}}}
	if !f.resolver.IsZero() {
		out.ResolverContract = &abiv1.Address{Chain: chain, Address: f.resolver.Hex()}
	}
	for i, v := range f.values {
		if v == "" {
			continue
		}
		if out.Records == nil {
			out.Records = map[string]string{}
		}
		out.Records[s.recordKeys[i]] = v
	}
	return out, nil
}

// CheckOwnership implements abiv1.Resolver: whether req.Address owns
// req.Name now. A name no network holds is Owns false with reason "not
// registered". Evidence: chain, block, contract (the ProxyReader), registry
// (UNSRegistry or CNSRegistry, per registryOf), owner, name and, when Owns
// is false, reason.
func (unsResolver) CheckOwnership(ctx context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	if req.Address == nil || req.Address.Address == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "address is required")
	}
	addr, err := evm.ParseAddress(req.Address.Address)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "address %+q: %v", req.Address.Address, err)
	}
	name, err := s.normalise(req.Name)
	if err != nil {
		return nil, err
	}
	f, err := s.find(ctx, name, nil, false)
	if err != nil {
		return nil, err
	}
	ev := map[string]string{"name": name}
	if f == nil {
		ev["reason"] = "not registered"
		return &abiv1.CheckOwnershipResponse{Evidence: ev}, nil
	}
	chain := f.net.client.CAIP2()
	ev["chain"] = chain
	ev["block"] = strconv.FormatUint(f.block, 10)
	ev["contract"] = f.net.proxyReader.Hex()
	ev["registry"] = f.registry.Hex()
	ev["owner"] = f.owner.Hex()
	owns := false
	switch {
	case req.Address.Chain != "" && req.Address.Chain != chain && !evm.IsChain(req.Address.Chain):
		ev["reason"] = "the address is not an EVM address"
	case f.owner != addr:
		ev["reason"] = "owned by another address"
	default:
		owns = true
	}
	return &abiv1.CheckOwnershipResponse{Owns: owns, Evidence: ev}, nil
}
