package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/adraffy/go-ens-normalize/ensip15"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/plugins/internal/evm"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// extendedResolver is the ENSIP-10 interface ID of resolve(bytes,bytes).
var extendedResolver = [4]byte{0x90, 0x61, 0xb9, 0x23}

// maxName bounds the length of a name accepted, in bytes.
const maxName = 8192

type ensResolver struct{}

// normalise applies ENSIP-15 to name; a name that fails it, or is empty,
// is INVALID_ARGUMENT.
func normalise(name string) (string, error) {
	if name == "" {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name is required")
	}
	if len(name) > maxName {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name of %d bytes, at most %d", len(name), maxName)
	}
	// Stricter than ENSIP-15, which drops its "ignored" characters (soft
	// hyphen, zero-width space, word joiner, ...): a name with one is
	// refused, so that the name verified is the name the user saw. U+FE0F,
	// the emoji presentation selector, stays allowed.
	if r, ok := invisible(name); ok {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name %+q contains the invisible character U+%04X", name, r)
	}
	n, err := ensip15.Shared().Normalize(name)
	if err != nil {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name %+q fails ENSIP-15 normalisation: %v", name, err)
	}
	if n == "" {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name %+q is empty once normalised", name)
	}
	return n, nil
}

// invisible returns the first character of name that ENSIP-15 ignores,
// other than U+FE0F.
func invisible(name string) (rune, bool) {
	ignored := ensip15.Shared().Ignored()
	for _, r := range name {
		if r != 0xFE0F && ignored.Contains(r) {
			return r, true
		}
	}
	return 0, false
}

// chain is a sequence of exchanges with the chain at one block.
type chain struct {
	s    *settings
	sess *evm.Session
}

func (c *chain) calls(ctx context.Context, calls []evm.Call) ([]evm.Result, error) {
	if c.sess == nil {
		sess, res, err := c.s.client.Begin(ctx, calls)
		if err != nil {
			return nil, err
		}
		c.sess = sess
		return res, nil
	}
	return c.sess.Calls(ctx, calls)
}

func (c *chain) garbage(what string, err error) error {
	e := abiv1.Errorf(abiv1.ErrorCodeUnavailable, "%s (%s): %s: %v", c.s.client.CAIP2(), c.sess.Endpoint(), what, err)
	e.Retryable = true
	return e
}

func (c *chain) address(r evm.Result, what string) (evm.Address, error) {
	if r.Err != nil {
		return evm.Address{}, c.garbage(what, r.Err)
	}
	a, err := evm.DecodeAddress(r.Ret)
	if err != nil {
		return evm.Address{}, c.garbage(what, err)
	}
	return a, nil
}

// owned is who owns a name, and on whose word.
type owned struct {
	name     string
	node     [32]byte
	owner    evm.Address // zero: nobody
	contract evm.Address // the contract whose answer decided
	kind     string      // "registrant", "wrapped" or "registry"
	is2LD    bool
	expires  uint64 // .eth 2LD: nameExpires
	expired  bool
	resolver evm.Address // the registry's resolver of the name itself
}

// lookup reads who owns name (normalised) per the owner rules of the
// package doc, and the name's own resolver, in one exchange.
func (c *chain) lookup(ctx context.Context, name string) (*owned, error) {
	s := c.s
	o := &owned{name: name, node: evm.Namehash(name)}
	label, parent, _ := strings.Cut(name, ".")
	o.is2LD = parent == "eth"
	calls := []evm.Call{
		{To: s.registry, Data: evm.Encode("owner(bytes32)", o.node)},
		{To: s.registry, Data: evm.Encode("resolver(bytes32)", o.node)},
	}
	if s.hasWrapper {
		calls = append(calls, evm.Call{To: s.wrapper, Data: evm.Encode("ownerOf(uint256)", o.node)})
	}
	if o.is2LD {
		lh := evm.Labelhash(label)
		calls = append(calls,
			evm.Call{To: s.baseRegistrar, Data: evm.Encode("ownerOf(uint256)", lh)},
			evm.Call{To: s.baseRegistrar, Data: evm.Encode("nameExpires(uint256)", lh)})
	}
	res, err := c.calls(ctx, calls)
	if err != nil {
		return nil, err
	}
	regOwner, err := c.address(res[0], "ENSRegistry.owner")
	if err != nil {
		return nil, err
	}
	if o.resolver, err = c.address(res[1], "ENSRegistry.resolver"); err != nil {
		return nil, err
	}
	var wrapped evm.Address
	if s.hasWrapper {
		// NameWrapper.ownerOf answers zero for a token it does not hold.
		if wrapped, err = c.address(res[2], "NameWrapper.ownerOf"); err != nil {
			return nil, err
		}
		res = res[3:]
	} else {
		res = res[2:]
	}
	owner, contract, kind := regOwner, s.registry, "registry"
	if o.is2LD {
		if res[1].Err != nil {
			return nil, c.garbage("BaseRegistrar.nameExpires", res[1].Err)
		}
		if o.expires, err = evm.DecodeUint64(res[1].Ret); err != nil {
			return nil, c.garbage("BaseRegistrar.nameExpires", err)
		}
		contract, kind = s.baseRegistrar, "registrant"
		switch {
		case errors.Is(res[0].Err, evm.ErrReverted):
			// ownerOf reverts for a name never registered and for one
			// whose registration expired.
			owner = evm.Address{}
			o.expired = o.expires > 0
		default:
			if owner, err = c.address(res[0], "BaseRegistrar.ownerOf"); err != nil {
				return nil, err
			}
		}
	}
	if s.hasWrapper && !owner.IsZero() && owner == s.wrapper {
		owner, contract, kind = wrapped, s.wrapper, "wrapped"
	}
	o.owner, o.contract, o.kind = owner, contract, kind
	return o, nil
}

func (o *owned) expiredError() error {
	return abiv1.Errorf(abiv1.ErrorCodeNotFound, "the registration of %s expired at %s", o.name,
		time.Unix(int64(o.expires), 0).UTC().Format(time.RFC3339))
}

// Resolve implements abiv1.Resolver.
func (ensResolver) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	if len(req.Networks) > 0 && !slices.Contains(req.Networks, s.client.CAIP2()) {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "ENS is served on %s only", s.client.CAIP2())
	}
	c := &chain{s: s}
	if addr, ok, err := reverseName(req.Name); ok {
		if err != nil {
			return nil, err
		}
		return c.reverse(ctx, addr)
	}
	name, err := normalise(req.Name)
	if err != nil {
		return nil, err
	}
	return c.resolve(ctx, name)
}

func (c *chain) caip(a evm.Address) *abiv1.Address {
	return &abiv1.Address{Chain: c.s.client.CAIP2(), Address: a.Hex()}
}

func (c *chain) resolve(ctx context.Context, name string) (*abiv1.ResolveResponse, error) {
	o, err := c.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if o.expired {
		return nil, o.expiredError()
	}
	resolver, wildcard := o.resolver, false
	if resolver.IsZero() {
		if resolver, err = c.ancestorResolver(ctx, name); err != nil {
			return nil, err
		}
		wildcard = !resolver.IsZero()
	}
	if o.owner.IsZero() && resolver.IsZero() {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s is not registered", name)
	}
	out := &abiv1.ResolveResponse{}
	if !o.owner.IsZero() {
		out.Owners = []*abiv1.Address{c.caip(o.owner)}
	}
	if o.is2LD {
		out.ExpiresUnix = int64(o.expires)
	}
	if resolver.IsZero() {
		return out, nil
	}
	records, served, err := c.records(ctx, o, resolver, wildcard)
	if err != nil {
		return nil, err
	}
	if !served {
		// ENSIP-10: an ancestor's resolver that does not implement
		// resolve(bytes,bytes) does not serve its descendants.
		if o.owner.IsZero() {
			return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s has no resolver", name)
		}
		return out, nil
	}
	out.ResolverContract = c.caip(resolver)
	if len(records) > 0 {
		out.Records = records
	}
	return out, nil
}

// ancestorResolver returns the resolver of the nearest ancestor of name
// that has one (ENSIP-10), or zero.
func (c *chain) ancestorResolver(ctx context.Context, name string) (evm.Address, error) {
	var calls []evm.Call
	for rest := name; ; {
		_, parent, ok := strings.Cut(rest, ".")
		if !ok {
			break
		}
		calls = append(calls, evm.Call{To: c.s.registry, Data: evm.Encode("resolver(bytes32)", evm.Namehash(parent))})
		rest = parent
	}
	if len(calls) == 0 {
		return evm.Address{}, nil
	}
	res, err := c.calls(ctx, calls)
	if err != nil {
		return evm.Address{}, err
	}
	for _, r := range res {
		a, err := c.address(r, "ENSRegistry.resolver")
		if err != nil {
			return evm.Address{}, err
		}
		if !a.IsZero() {
			return a, nil
		}
	}
	return evm.Address{}, nil
}

// record is one record read from a resolver: the call and how to format
// its return data.
type record struct {
	key    string
	data   []byte
	format func(ret []byte) (string, error)
}

func (c *chain) wanted(node [32]byte) []record {
	recs := []record{{key: "addr.60", data: evm.Encode("addr(bytes32)", node), format: func(ret []byte) (string, error) {
		a, err := evm.DecodeAddress(ret)
		if err != nil || a.IsZero() {
			return "", err
		}
		return a.Hex(), nil
	}}}
	for _, ct := range c.s.coinTypes {
		recs = append(recs, record{key: "addr." + strconv.FormatUint(ct, 10), data: evm.Encode("addr(bytes32,uint256)", node, evm.Uint(ct)),
			format: func(ret []byte) (string, error) {
				b, err := evm.DecodeBytes(ret)
				if err != nil || len(b) == 0 {
					return "", err
				}
				// ENSIP-11: EVM chains' coin types (60, 0x80000000|chainId)
				// hold 20-byte addresses, shown EIP-55 checksummed.
				if len(b) == 20 && (ct == 60 || ct >= 0x80000000) {
					return evm.Address(b).Hex(), nil
				}
				return "0x" + hex.EncodeToString(b), nil
			}})
	}
	for _, k := range c.s.textKeys {
		recs = append(recs, record{key: "text." + k, data: evm.Encode("text(bytes32,string)", node, evm.String(k)), format: evm.DecodeString})
	}
	return recs
}

// records reads the wanted records of o from resolver, through
// resolve(bytes,bytes) when the resolver supports ENSIP-10 (always for a
// wildcard). served is false for a wildcard resolver that does not.
func (c *chain) records(ctx context.Context, o *owned, resolver evm.Address, wildcard bool) (map[string]string, bool, error) {
	recs := c.wanted(o.node)
	calls := []evm.Call{{To: resolver, Data: evm.Encode("supportsInterface(bytes4)", [32]byte(append(extendedResolver[:], make([]byte, 28)...)))}}
	if !wildcard {
		for _, r := range recs {
			calls = append(calls, evm.Call{To: resolver, Data: r.data})
		}
	}
	res, err := c.calls(ctx, calls)
	if err != nil {
		return nil, false, err
	}
	ext := false
	if res[0].Err == nil {
		ext, _ = evm.DecodeBool(res[0].Ret)
	}
	var rets []evm.Result
	switch {
	case ext:
		dns, err := evm.DNSEncode(o.name)
		if err != nil {
			return nil, false, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%s: %v", o.name, err)
		}
		calls = calls[:0]
		for _, r := range recs {
			calls = append(calls, evm.Call{To: resolver, Data: evm.Encode("resolve(bytes,bytes)", evm.Bytes(dns), evm.Bytes(r.data))})
		}
		if rets, err = c.calls(ctx, calls); err != nil {
			return nil, false, err
		}
		for i := range rets {
			if rets[i].Err == nil {
				// resolve returns the inner call's return data as bytes.
				rets[i].Ret, rets[i].Err = evm.DecodeBytes(rets[i].Ret)
			}
		}
	case wildcard:
		return nil, false, nil
	default:
		rets = res[1:]
	}
	out := map[string]string{}
	for i, r := range recs {
		if rets[i].Err != nil {
			continue // the resolver does not serve this record
		}
		v, err := r.format(rets[i].Ret)
		if err != nil {
			sdk.Log(slog.LevelWarn, "resolver record does not decode", slog.String("name", o.name),
				slog.String("record", r.key), slog.String("resolver", resolver.Hex()), slog.String("error", err.Error()))
			continue
		}
		if v != "" {
			out[r.key] = v
		}
	}
	return out, true, nil
}

// reverseName recognises "<40 hex>.addr.reverse" and "0x<40 hex>". ok is
// false for any other name; err is set for a reverse name whose address is
// malformed.
func reverseName(name string) (addr evm.Address, ok bool, err error) {
	lower := strings.ToLower(name)
	if h, found := strings.CutSuffix(lower, ".addr.reverse"); found {
		a, err := evm.ParseAddress("0x" + h)
		if err != nil || strings.Contains(h, ".") {
			return evm.Address{}, true, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q is not <address>.addr.reverse", name)
		}
		return a, true, nil
	}
	if strings.HasPrefix(lower, "0x") && len(name) == 42 && !strings.Contains(name, ".") {
		a, err := evm.ParseAddress(name)
		if err != nil {
			return evm.Address{}, true, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%+q: %v", name, err)
		}
		return a, true, nil
	}
	return evm.Address{}, false, nil
}

// reverse resolves the primary name of addr (ENSIP-3): the name record of
// <addr>.addr.reverse, kept only if it resolves forward to addr.
func (c *chain) reverse(ctx context.Context, addr evm.Address) (*abiv1.ResolveResponse, error) {
	rev := strings.TrimPrefix(strings.ToLower(addr.Hex()), "0x") + ".addr.reverse"
	node := evm.Namehash(rev)
	res, err := c.calls(ctx, []evm.Call{{To: c.s.registry, Data: evm.Encode("resolver(bytes32)", node)}})
	if err != nil {
		return nil, err
	}
	resolver, err := c.address(res[0], "ENSRegistry.resolver")
	if err != nil {
		return nil, err
	}
	if resolver.IsZero() {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s has no reverse record", addr.Hex())
	}
	if res, err = c.calls(ctx, []evm.Call{{To: resolver, Data: evm.Encode("name(bytes32)", node)}}); err != nil {
		return nil, err
	}
	var primary string
	if res[0].Err == nil {
		primary, err = evm.DecodeString(res[0].Ret)
	}
	if res[0].Err != nil || err != nil || primary == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s has no primary name", addr.Hex())
	}
	if n, err := normalise(primary); err != nil || n != primary {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "the primary name of %s, %+q, is not normalised", addr.Hex(), primary)
	}
	fwd, err := c.resolve(ctx, primary)
	if err != nil {
		if e := abiv1.AsError(err); e.Code == abiv1.ErrorCodeNotFound {
			return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "the primary name of %s, %s, does not resolve: %s", addr.Hex(), primary, e.Message)
		}
		return nil, err
	}
	if fwd.Records["addr.60"] != addr.Hex() {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "the primary name of %s, %s, resolves to %q, not back to it", addr.Hex(), primary, fwd.Records["addr.60"])
	}
	return &abiv1.ResolveResponse{
		Owners:           []*abiv1.Address{c.caip(addr)},
		Records:          map[string]string{"name": primary},
		ResolverContract: c.caip(resolver),
	}, nil
}

// CheckOwnership implements abiv1.Resolver: whether req.Address owns
// req.Name now, per the owner rules of the package doc. A name nobody owns
// (unregistered, expired) is Owns false, not an error. Evidence: chain,
// block, registry, contract (whose answer decided), kind, owner, name (as
// normalised), expires (.eth second-level names) and, when Owns is false,
// reason.
func (ensResolver) CheckOwnership(ctx context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
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
	name, err := normalise(req.Name)
	if err != nil {
		return nil, err
	}
	c := &chain{s: s}
	o, err := c.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	ev := map[string]string{
		"chain":    s.client.CAIP2(),
		"block":    strconv.FormatUint(c.sess.Block, 10),
		"registry": s.registry.Hex(),
		"contract": o.contract.Hex(),
		"kind":     o.kind,
		"name":     name,
	}
	if !o.owner.IsZero() {
		ev["owner"] = o.owner.Hex()
	}
	if o.is2LD && o.expires > 0 {
		ev["expires"] = strconv.FormatUint(o.expires, 10)
	}
	owns := false
	switch {
	case req.Address.Chain != "" && !evm.IsChain(req.Address.Chain):
		ev["reason"] = fmt.Sprintf("%s is not an EVM chain", req.Address.Chain)
	case o.expired:
		ev["reason"] = "expired"
	case o.owner.IsZero():
		ev["reason"] = "not registered"
	case o.owner != addr:
		ev["reason"] = "owned by another address"
	default:
		owns = true
	}
	return &abiv1.CheckOwnershipResponse{Owns: owns, Evidence: ev}, nil
}
