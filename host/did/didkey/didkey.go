// Package didkey resolves did:key identifiers (W3C CCG "The did:key Method"
// v0.7): the DID is a multibase base58btc, multicodec-prefixed public key and
// the document is derived from it without any I/O.
//
// Supported key types: Ed25519 (multicodec 0xed), P-256 (0x1200, compressed
// SEC1 point) and secp256k1 (0xe7, compressed SEC1 point). An Ed25519 key also
// yields an X25519 keyAgreement key (§3.1.1 "Create", step "Encryption Method
// Creation Algorithm").
package didkey

import (
	"context"
	"crypto/elliptic"
	"strings"

	"filippo.io/edwards25519"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/ubeu/gateway/host/did"
)

const prefix = "did:key:"

// TypeMultikey is the verification method type used for every key (did:key
// v0.7 §3.1.2 with publicKeyFormat Multikey).
const TypeMultikey = "Multikey"

var contexts = did.StringList{did.ContextDIDv1, did.ContextMultikey}

// Resolver resolves did:key DIDs. The zero value is ready to use.
type Resolver struct {
	// NoKeyAgreement leaves out the X25519 key derived from an Ed25519 key.
	NoKeyAgreement bool
}

// Key is a decoded did:key public key.
type Key struct {
	Codec uint64 // did.CodecEd25519Pub, did.CodecP256Pub or did.CodecSecp256k1Pub
	Bytes []byte // raw Ed25519 key or compressed SEC1 point
}

// Parse decodes and validates the key of a did:key DID (did:key v0.7 §3.1.1
// "Decode Public Key Algorithm"): the multibase value must be base58btc, the
// multicodec a supported type, the length right and the point on its curve.
// Errors are *did.ResolutionError with code invalidDid.
func Parse(s string) (Key, error) {
	k, _, err := parse(s)
	return k, err
}

// parse is Parse that also returns the decoded Ed25519 point, so that
// Document does not decode it twice.
func parse(s string) (Key, *edwards25519.Point, error) {
	mb, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return Key{}, nil, did.Errorf(did.CodeInvalidDID, "not a did:key DID")
	}
	if i := strings.IndexAny(mb, ":/?#;"); i >= 0 {
		// DID URLs and the optional version segment ("did:key:1:…") are
		// not accepted by a DID resolver.
		return Key{}, nil, did.Errorf(did.CodeInvalidDID, "did:key with version, path, query or fragment")
	}
	codec, raw, err := did.DecodeMultikey(mb)
	if err != nil {
		return Key{}, nil, did.Errorf(did.CodeInvalidDID, "invalid did:key multibase value: %w", err)
	}
	switch codec {
	case did.CodecEd25519Pub:
		if len(raw) != 32 {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "Ed25519 key must be 32 bytes, got %d", len(raw))
		}
		if !canonicalY(raw) {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "Ed25519 key is not canonically encoded")
		}
		p, err := new(edwards25519.Point).SetBytes(raw)
		if err != nil {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "Ed25519 key is not a point on the curve")
		}
		return Key{Codec: codec, Bytes: raw}, p, nil
	case did.CodecP256Pub:
		if len(raw) != 33 {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "P-256 key must be a 33-byte compressed point, got %d bytes", len(raw))
		}
		if x, _ := elliptic.UnmarshalCompressed(elliptic.P256(), raw); x == nil {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "P-256 key is not a point on the curve")
		}
	case did.CodecSecp256k1Pub:
		if len(raw) != 33 {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "secp256k1 key must be a 33-byte compressed point, got %d bytes", len(raw))
		}
		if _, err := secp256k1.ParsePubKey(raw); err != nil {
			return Key{}, nil, did.Errorf(did.CodeInvalidDID, "secp256k1 key is not a point on the curve")
		}
	default:
		return Key{}, nil, did.Errorf(did.CodeInvalidDID, "unsupported did:key multicodec 0x%x", codec)
	}
	return Key{Codec: codec, Bytes: raw}, nil, nil
}

// Format returns the did:key DID of a key (no validation).
func Format(codec uint64, key []byte) string {
	return prefix + did.EncodeMultikey(codec, key)
}

// Resolve implements did.Resolver. Version options are refused
// (did:key documents have no versions).
func (r *Resolver) Resolve(_ context.Context, s string, opts did.ResolveOptions) (*did.Resolution, error) {
	if opts.VersionTime != nil || opts.VersionID != "" {
		return nil, did.Errorf(did.CodeInvalidOptions, "did:key has no versions")
	}
	doc, err := r.Document(s)
	if err != nil {
		return nil, err
	}
	return &did.Resolution{
		Document:           doc,
		ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON},
	}, nil
}

// Document derives the DID document of a did:key DID (did:key v0.7 §3.1.1
// "Document Creation Algorithm").
func (r *Resolver) Document(s string) (*did.Document, error) {
	k, p, err := parse(s)
	if err != nil {
		return nil, err
	}
	mb := s[len(prefix):]
	vmID := s + "#" + mb
	ref := []did.VerificationRef{{Ref: vmID}}
	doc := &did.Document{
		Context: contexts,
		ID:      s,
		VerificationMethod: []did.VerificationMethod{{
			ID: vmID, Type: TypeMultikey, Controller: s, PublicKeyMultibase: mb,
		}},
		Authentication:       ref,
		AssertionMethod:      ref,
		CapabilityInvocation: ref,
		CapabilityDelegation: ref,
	}
	if k.Codec == did.CodecEd25519Pub && !r.NoKeyAgreement {
		xmb := did.EncodeMultikey(did.CodecX25519Pub, p.BytesMontgomery())
		xid := s + "#" + xmb
		doc.VerificationMethod = append(doc.VerificationMethod, did.VerificationMethod{
			ID: xid, Type: TypeMultikey, Controller: s, PublicKeyMultibase: xmb,
		})
		doc.KeyAgreement = []did.VerificationRef{{Ref: xid}}
	}
	return doc, nil
}

// canonicalY reports whether the 255-bit y coordinate of an encoded Ed25519
// point is below p = 2^255 - 19 (RFC 8032 §5.1.3 step 1); edwards25519
// accepts non-canonical encodings.
func canonicalY(b []byte) bool {
	if b[31]&0x7f != 0x7f {
		return true
	}
	for i := 30; i > 0; i-- {
		if b[i] != 0xff {
			return true
		}
	}
	return b[0] < 0xed
}
