// Package hederadid implements the did:hedera method (Hedera DID Method
// Specification v1.0, github.com/hashgraph/did-method,
// hedera-did-method-specification.md, "the spec" below) over a
// ledger.Ledger: identifiers, signed DID messages, resolution by replaying
// a topic's messages in consensus order, custodial keys and a registrar.
package hederadid

import (
	"crypto/ed25519"
	"strconv"
	"strings"

	"github.com/ubeu/gateway/host/did"
)

// Networks accepted in identifiers. The spec's ABNF (§2.1) lists mainnet and
// testnet; previewnet is a Hedera network too, and "local" names gatewayd's
// embedded ledger.
var networks = map[string]bool{"mainnet": true, "testnet": true, "previewnet": true, "local": true}

// ErrUnsupportedNetwork matches (errors.Is) a DID whose network is
// well-formed but not one of mainnet, testnet, previewnet, local, or not the
// network of the ledger a resolver reads.
var ErrUnsupportedNetwork = &did.ResolutionError{Code: did.CodeUnsupportedNetwork}

// ID is a parsed did:hedera identifier:
// did:hedera:<network>:<idstring>_<shard>.<realm>.<num>.
type ID struct {
	Network string
	// PublicKey is the DID root key the identifier was derived from (§2.1:
	// "a base58 Encoded of a DID root public key").
	PublicKey ed25519.PublicKey
	// TopicID is the HCS topic, "shard.realm.num" (§2.2).
	TopicID string
}

// String formats the identifier. The idstring is the multibase base58btc
// encoding of the multicodec ed25519-pub key ("z6Mk…"), as the reference
// SDK (@hashgraph/did-sdk-js, HcsDid.publicKeyToIdString with
// Hashing.multibase) produces; the ABNF's bare base58 (32*44 characters)
// predates it.
func (id ID) String() string {
	return "did:hedera:" + id.Network + ":" + did.EncodeMultikey(did.CodecEd25519Pub, id.PublicKey) + "_" + id.TopicID
}

// RootKeyID is the DID URL of the root key, "<did>#did-root-key" (§3.2.2).
func (id ID) RootKeyID() string { return id.String() + "#did-root-key" }

// Parse parses a did:hedera DID strictly: lower-case prefix, a known
// network, a "z" multibase Ed25519 multikey of exactly 32 bytes, and a
// canonical topic ID (decimal numbers without leading zeros). Errors are
// *did.ResolutionError with code invalidDid, or unsupportedNetwork
// (ErrUnsupportedNetwork) for a well-formed but unknown network.
func Parse(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, "did:hedera:")
	if !ok {
		return ID{}, did.Errorf(did.CodeInvalidDID, "not a did:hedera DID")
	}
	network, rest, ok := strings.Cut(rest, ":")
	if !ok || network == "" {
		return ID{}, did.Errorf(did.CodeInvalidDID, "did:hedera: missing network")
	}
	for i := 0; i < len(network); i++ {
		if c := network[i]; c < 'a' || c > 'z' {
			return ID{}, did.Errorf(did.CodeInvalidDID, "did:hedera: invalid network name")
		}
	}
	if !networks[network] {
		return ID{}, did.Errorf(did.CodeUnsupportedNetwork, "did:hedera: unsupported network %q", network)
	}
	key, topic, ok := strings.Cut(rest, "_")
	if !ok {
		return ID{}, did.Errorf(did.CodeInvalidDID, "did:hedera: missing _<topic-id>")
	}
	if len(key) > 60 {
		return ID{}, did.Errorf(did.CodeInvalidDID, "did:hedera: key part too long")
	}
	codec, raw, err := did.DecodeMultikey(key)
	if err != nil || codec != did.CodecEd25519Pub || len(raw) != ed25519.PublicKeySize {
		return ID{}, did.Errorf(did.CodeInvalidDID, "did:hedera: key part is not a base58btc multibase Ed25519 public key")
	}
	if !validTopicID(topic) {
		return ID{}, did.Errorf(did.CodeInvalidDID, "did:hedera: invalid topic ID %q", topic)
	}
	return ID{Network: network, PublicKey: ed25519.PublicKey(raw), TopicID: topic}, nil
}

// validTopicID reports whether s is shard.realm.num with canonical decimal
// numbers that fit in 64 bits.
func validTopicID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			return false
		}
	}
	return true
}
