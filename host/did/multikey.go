package did

import (
	"encoding/binary"

	"github.com/mr-tron/base58"
)

// Multicodec codes of public key types (multiformats/multicodec table).
const (
	CodecEd25519Pub   = 0xed
	CodecX25519Pub    = 0xec
	CodecSecp256k1Pub = 0xe7
	CodecP256Pub      = 0x1200
)

// EncodeMultikey returns the multibase base58btc ("z") encoding of the
// multicodec-prefixed key: the publicKeyMultibase of a Multikey and of
// Ed25519VerificationKey2020.
func EncodeMultikey(codec uint64, key []byte) string {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(key))
	buf = binary.AppendUvarint(buf, codec)
	buf = append(buf, key...)
	return "z" + base58.Encode(buf)
}

// DecodeMultikey decodes a multibase base58btc multicodec-prefixed key.
// Errors carry the invalidPublicKey code; callers may re-code them.
func DecodeMultikey(s string) (codec uint64, key []byte, err error) {
	if len(s) < 2 || s[0] != 'z' {
		return 0, nil, Errorf(CodeInvalidPublicKey, "publicKeyMultibase must be base58btc (prefix \"z\")")
	}
	b, err := base58.Decode(s[1:])
	if err != nil {
		return 0, nil, Errorf(CodeInvalidPublicKey, "invalid base58btc: %w", err)
	}
	c, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, Errorf(CodeInvalidPublicKey, "invalid multicodec prefix")
	}
	// Multicodec varints must be minimally encoded.
	if n != len(binary.AppendUvarint(nil, c)) {
		return 0, nil, Errorf(CodeInvalidPublicKey, "non-minimal multicodec prefix")
	}
	return c, b[n:], nil
}
