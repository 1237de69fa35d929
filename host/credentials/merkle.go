package credentials

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// The Merkle tree of a batch follows RFC 6962 § 2.1 (Certificate
// Transparency): leaf hash SHA-256(0x00 ‖ d), interior node SHA-256(0x01 ‖
// left ‖ right), the left subtree holding the largest power of two
// smaller than n leaves. d is the SHA-256 of the secured credential.

func leafHash(d []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(d)
	return h.Sum(nil)
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// split returns the largest power of two smaller than n (n ≥ 2).
func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// merkleRoot returns the root over leaf hashes.
func merkleRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	}
	k := split(len(leaves))
	return nodeHash(merkleRoot(leaves[:k]), merkleRoot(leaves[k:]))
}

// merklePath returns the audit path of leaf m (RFC 6962 § 2.1.1), each
// sibling prefixed "L:" or "R:" by the side it sits on.
func merklePath(m int, leaves [][]byte) []string {
	if len(leaves) <= 1 {
		return nil
	}
	k := split(len(leaves))
	if m < k {
		return append(merklePath(m, leaves[:k]), "R:"+hex.EncodeToString(merkleRoot(leaves[k:])))
	}
	return append(merklePath(m-k, leaves[k:]), "L:"+hex.EncodeToString(merkleRoot(leaves[:k])))
}

// VerifyAnchorPath recomputes the Merkle root from a credential's secured
// bytes and its record's anchor proof, and compares it with the anchored
// root: the check an auditor makes against the ledger's message.
func VerifyAnchorPath(secured []byte, a *Anchor) error {
	if a == nil {
		return errors.New("credentials: no anchor")
	}
	d := sha256.Sum256(secured)
	h := leafHash(d[:])
	for _, p := range a.Proof {
		side, hx, ok := strings.Cut(p, ":")
		sib, err := hex.DecodeString(hx)
		if !ok || err != nil || len(sib) != sha256.Size {
			return errors.New("credentials: malformed anchor proof")
		}
		switch side {
		case "L":
			h = nodeHash(sib, h)
		case "R":
			h = nodeHash(h, sib)
		default:
			return errors.New("credentials: malformed anchor proof")
		}
	}
	if hex.EncodeToString(h) != a.Root {
		return errors.New("credentials: anchor proof does not lead to the anchored root")
	}
	return nil
}
