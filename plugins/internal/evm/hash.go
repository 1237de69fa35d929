// Package evm is what the Ethereum-based first-party resolver plugins
// (plugins/ens, plugins/unstoppable) share: Keccak-256, the EIP-137 namehash,
// EIP-55 addresses, a small Solidity ABI encoder and bounds-checked decoder
// for eth_call data, and an Ethereum JSON-RPC client (eth_chainId,
// eth_blockNumber, eth_call, batched) that goes out through the host's HTTP
// capability, checks the chain ID and caps what it reads.
//
// It imports only the standard library, golang.org/x/crypto/sha3, abi/v1 and
// sdk-plugin, so a plugin built on it is still a plugin written against the
// SDK alone.
package evm

import (
	"errors"
	"strings"

	"golang.org/x/crypto/sha3"
)

// Keccak256 is the legacy Keccak-256 hash (pre-FIPS padding) Ethereum uses.
func Keccak256(parts ...[]byte) [32]byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Labelhash is keccak256 of one label (EIP-137).
func Labelhash(label string) [32]byte { return Keccak256([]byte(label)) }

// Namehash is the EIP-137 namehash of name, which must already be
// normalised (ENSIP-15 for ENS, UNS's own rules for UNS): namehash("") is 32
// zero bytes and namehash(label.rest) = keccak256(namehash(rest) ||
// keccak256(label)).
func Namehash(name string) [32]byte {
	var node [32]byte
	if name == "" {
		return node
	}
	for rest := name; ; {
		i := strings.LastIndexByte(rest, '.')
		l := Labelhash(rest[i+1:])
		node = Keccak256(node[:], l[:])
		if i < 0 {
			return node
		}
		rest = rest[:i]
	}
}

// ErrDNSEncode is returned by DNSEncode for a name with an empty label or a
// label over 255 bytes.
var ErrDNSEncode = errors.New("evm: name cannot be DNS-encoded")

// DNSEncode is the DNS wire format of name (RFC 1035 section 3.1: each
// label as a length byte and its bytes, then a zero byte) that ENSIP-10's
// resolve(bytes name, bytes data) takes.
func DNSEncode(name string) ([]byte, error) {
	out := make([]byte, 0, len(name)+2)
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			if len(l) == 0 || len(l) > 255 {
				return nil, ErrDNSEncode
			}
			out = append(out, byte(len(l)))
			out = append(out, l...)
		}
	}
	return append(out, 0), nil
}
