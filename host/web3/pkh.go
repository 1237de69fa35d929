package web3

import (
	"context"
	"strconv"
	"strings"

	"github.com/ubeu/gateway/host/did"
)

// CAIP-2 chain IDs of the EVM networks external names live on.
const (
	ChainEthereum = "eip155:1"
	ChainPolygon  = "eip155:137"
)

// ParseCAIP2 splits an eip155 CAIP-2 chain ID ("eip155:137") and returns
// its EIP-155 chain number. Only the eip155 namespace is accepted.
func ParseCAIP2(chain string) (uint64, bool) {
	ref, ok := strings.CutPrefix(chain, "eip155:")
	if !ok || !allDigits(ref) || len(ref) > 19 || (len(ref) > 1 && ref[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(ref, 10, 64)
	return n, err == nil && n > 0
}

// PKH returns the did:pkh of an account: "did:pkh:" + its CAIP-10 account
// ID, "eip155:<chain>:<address>" with the EIP-55 address.
func PKH(chain string, addr [20]byte) string {
	return "did:pkh:" + chain + ":" + ChecksumAddress(addr)
}

// ParsePKH parses an eip155 did:pkh and returns its CAIP-2 chain and
// EIP-55 address.
func ParsePKH(id string) (chain, address string, err error) {
	rest, ok := strings.CutPrefix(id, "did:pkh:")
	if !ok {
		return "", "", did.Errorf(did.CodeInvalidDID, "not a did:pkh")
	}
	parts := strings.Split(rest, ":")
	if len(parts) < 3 {
		return "", "", did.Errorf(did.CodeInvalidDID, "did:pkh needs a CAIP-10 account ID (namespace:reference:address)")
	}
	if parts[0] != "eip155" {
		return "", "", did.Errorf(did.CodeMethodNotSupported, "did:pkh of namespace %q is not supported (eip155 only)", parts[0])
	}
	if len(parts) != 3 {
		return "", "", did.Errorf(did.CodeInvalidDID, "invalid eip155 account ID")
	}
	chain, acct := parts[0]+":"+parts[1], parts[2]
	if _, ok := ParseCAIP2(chain); !ok {
		return "", "", did.Errorf(did.CodeInvalidDID, "invalid eip155 chain reference")
	}
	_, sum, err := ParseAddress(acct)
	if err != nil {
		return "", "", did.Errorf(did.CodeInvalidDID, "invalid account address")
	}
	return chain, sum, nil
}

// PKHResolver resolves eip155 did:pkh DIDs. The document is a pure
// function of the DID (did:pkh method draft, "Read"): one
// EcdsaSecp256k1RecoveryMethod2020 verification method carrying the
// CAIP-10 blockchainAccountId, used for authentication and assertion.
type PKHResolver struct{}

var _ did.Resolver = PKHResolver{}

// pkhContext is the JSON-LD context of the draft's eip155 example.
var pkhContext = did.StringList{
	"https://www.w3.org/ns/did/v1",
	"https://w3id.org/security/suites/secp256k1recovery-2020/v2",
}

// Resolve implements did.Resolver.
func (PKHResolver) Resolve(_ context.Context, id string, opts did.ResolveOptions) (*did.Resolution, error) {
	chain, addr, err := ParsePKH(id)
	if err != nil {
		return nil, err
	}
	if opts.VersionID != "" {
		return nil, did.Errorf(did.CodeNotFound, "did:pkh documents have no versions")
	}
	// The DID as given, case preserved: an address written in lower case is
	// the same account, but the document must carry the DID asked for.
	vmID := id + "#blockchainAccountId"
	doc := &did.Document{
		Context: pkhContext,
		ID:      id,
		VerificationMethod: []did.VerificationMethod{{
			ID: vmID, Type: "EcdsaSecp256k1RecoveryMethod2020", Controller: id,
			BlockchainAccountID: chain + ":" + addr,
		}},
		Authentication:  []did.VerificationRef{{Ref: vmID}},
		AssertionMethod: []did.VerificationRef{{Ref: vmID}},
	}
	return &did.Resolution{Document: doc}, nil
}
