package credentials

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/ubeu/gateway/host/did"
)

// DocumentResolver resolves a DID to its document (through the edge
// cache). Documents may be shared between callers: treat them as
// read-only.
type DocumentResolver func(ctx context.Context, did string) (*did.Document, error)

// errKey is wrapped by every failure to find an acceptable key.
var errKey = errors.New("verification method not usable")

// methodKey finds the verification method vm (an absolute DID URL) in its
// DID's document, checks that it is listed under relationship
// ("assertionMethod" for credentials, "authentication" for presentations)
// and returns its public key: Ed25519 (Multikey, Ed25519VerificationKey2020
// or a JWK) or P-256 (Multikey or a JWK).
func (s *Service) methodKey(ctx context.Context, vm, relationship string) (crypto.PublicKey, error) {
	if s.o.Resolve == nil {
		return nil, fmt.Errorf("%w: no DID resolver", errKey)
	}
	didStr, frag, ok := strings.Cut(vm, "#")
	if !ok || frag == "" || !strings.HasPrefix(didStr, "did:") {
		return nil, fmt.Errorf("%w: %q is not a DID URL with a fragment", errKey, vm)
	}
	doc, err := s.o.Resolve(ctx, didStr)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %w", errKey, didStr, err)
	}
	abs := func(id string) string {
		if strings.HasPrefix(id, "#") {
			return doc.ID + id
		}
		return id
	}
	var rel []did.VerificationRef
	switch relationship {
	case "assertionMethod":
		rel = doc.AssertionMethod
	case "authentication":
		rel = doc.Authentication
	default:
		return nil, fmt.Errorf("%w: proof purpose %q", errKey, relationship)
	}
	var m *did.VerificationMethod
	for i := range rel {
		if abs(rel[i].ID()) != vm {
			continue
		}
		if rel[i].Method != nil {
			m = rel[i].Method
		} else {
			for j := range doc.VerificationMethod {
				if abs(doc.VerificationMethod[j].ID) == vm {
					m = &doc.VerificationMethod[j]
				}
			}
		}
		break
	}
	if m == nil {
		return nil, fmt.Errorf("%w: %s is not an %s of %s", errKey, vm, relationship, didStr)
	}
	if m.Controller != "" && m.Controller != doc.ID {
		return nil, fmt.Errorf("%w: %s is controlled by %s, not %s", errKey, vm, m.Controller, doc.ID)
	}
	return publicKey(m)
}

// publicKey decodes a verification method's key.
func publicKey(m *did.VerificationMethod) (crypto.PublicKey, error) {
	if m.PublicKeyMultibase != "" {
		codec, raw, err := did.DecodeMultikey(m.PublicKeyMultibase)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errKey, err)
		}
		switch {
		case codec == did.CodecEd25519Pub && len(raw) == ed25519.PublicKeySize:
			return ed25519.PublicKey(raw), nil
		case codec == did.CodecP256Pub && m.Type == "Multikey":
			x, y := elliptic.UnmarshalCompressed(elliptic.P256(), raw)
			if x == nil {
				return nil, fmt.Errorf("%w: invalid compressed P-256 key", errKey)
			}
			u := make([]byte, 65)
			u[0] = 4
			x.FillBytes(u[1:33])
			y.FillBytes(u[33:])
			k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), u)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errKey, err)
			}
			return k, nil
		}
		return nil, fmt.Errorf("%w: unsupported key (multicodec 0x%x, type %s)", errKey, codec, m.Type)
	}
	if j := m.PublicKeyJwk; j != nil {
		str := func(k string) []byte {
			s, _ := j[k].(string)
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil {
				return nil
			}
			return b
		}
		if _, private := j["d"]; private {
			return nil, fmt.Errorf("%w: JWK holds a private key", errKey)
		}
		switch {
		case j["kty"] == "OKP" && j["crv"] == "Ed25519":
			if x := str("x"); len(x) == ed25519.PublicKeySize {
				return ed25519.PublicKey(x), nil
			}
		case j["kty"] == "EC" && j["crv"] == "P-256":
			x, y := str("x"), str("y")
			if len(x) == 32 && len(y) == 32 {
				k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
				if err == nil {
					return k, nil
				}
			}
		}
		return nil, fmt.Errorf("%w: unsupported or invalid JWK", errKey)
	}
	return nil, fmt.Errorf("%w: no publicKeyMultibase or publicKeyJwk", errKey)
}
