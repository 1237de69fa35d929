package hederadid

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
)

// KeysNamespace is the store.KV namespace of custodial DID keys.
const KeysNamespace = "didkeys"

// ErrNoKey means the gateway does not hold the private key asked for.
var ErrNoKey = errors.New("hederadid: custodial key not found")

// Keys keeps custodial Ed25519 keys, sealed at rest, in the KV namespace
// "didkeys":
//
//	key:<multibase public key> → sealed 32-byte seed (associated data: the record key)
//	did:<did>                  → JSON KeyRecord (public keys only)
//
// Which key signs a DID's next message is decided by the ledger (the
// current DIDOwner key), so a crash between a rotation message and the
// KeyRecord update cannot leave a DID signed with the wrong key.
type Keys struct {
	kv     store.KV
	sealer *seal.Sealer
}

// KeyRecord lists the keys of one DID.
type KeyRecord struct {
	Current string       `json:"current"` // multibase public key
	Retired []RetiredKey `json:"retired,omitempty"`
}

// RetiredKey is a former owner key, kept for history; it no longer signs.
type RetiredKey struct {
	Key       string    `json:"key"`
	RetiredAt time.Time `json:"retiredAt"`
}

// NewKeys returns custodial key storage over kv, sealing with s.
func NewKeys(kv store.KV, s *seal.Sealer) *Keys { return &Keys{kv: kv, sealer: s} }

func keyRecordKey(pub ed25519.PublicKey) string {
	return "key:" + did.EncodeMultikey(did.CodecEd25519Pub, pub)
}

// Generate creates and stores a new key and returns its public half.
func (k *Keys) Generate(ctx context.Context) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("hederadid: generate key: %w", err)
	}
	rk := keyRecordKey(pub)
	if _, err := k.kv.Put(ctx, KeysNamespace, rk, k.sealer.Seal(priv.Seed(), []byte(rk)), store.KVCond{Absent: true}); err != nil {
		return nil, fmt.Errorf("hederadid: store key: %w", err)
	}
	return pub, nil
}

// PrivateKey loads and unseals the private key of pub; ErrNoKey if the
// gateway does not hold it.
func (k *Keys) PrivateKey(ctx context.Context, pub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	rk := keyRecordKey(pub)
	b, _, err := k.kv.Get(ctx, KeysNamespace, rk)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("hederadid: load key: %w", err)
	}
	seed, err := k.sealer.Open(b, []byte(rk))
	if err != nil {
		return nil, fmt.Errorf("hederadid: unseal key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("hederadid: stored key has %d bytes", len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !priv.Public().(ed25519.PublicKey).Equal(pub) {
		return nil, fmt.Errorf("hederadid: stored key does not match its public key")
	}
	return priv, nil
}

// Record returns the key record of a DID; store.ErrNotFound if the gateway
// does not manage it.
func (k *Keys) Record(ctx context.Context, didStr string) (KeyRecord, error) {
	b, _, err := k.kv.Get(ctx, KeysNamespace, "did:"+didStr)
	if err != nil {
		return KeyRecord{}, err
	}
	var r KeyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return KeyRecord{}, fmt.Errorf("hederadid: key record of %s: %w", didStr, err)
	}
	return r, nil
}

// SetCurrent records pub as the current key of the DID, retiring the
// previous one (compare-and-swap on the record).
func (k *Keys) SetCurrent(ctx context.Context, didStr string, pub ed25519.PublicKey, now time.Time) error {
	mb := did.EncodeMultikey(did.CodecEd25519Pub, pub)
	for range 10 {
		b, ver, err := k.kv.Get(ctx, KeysNamespace, "did:"+didStr)
		var r KeyRecord
		cond := store.KVCond{Version: ver}
		switch {
		case errors.Is(err, store.ErrNotFound):
			cond = store.KVCond{Absent: true}
		case err != nil:
			return fmt.Errorf("hederadid: key record: %w", err)
		default:
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("hederadid: key record of %s: %w", didStr, err)
			}
		}
		if r.Current == mb {
			return nil
		}
		if r.Current != "" {
			r.Retired = append(r.Retired, RetiredKey{Key: r.Current, RetiredAt: now})
		}
		r.Current = mb
		nb, _ := json.Marshal(r)
		_, err = k.kv.Put(ctx, KeysNamespace, "did:"+didStr, nb, cond)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hederadid: store key record: %w", err)
		}
		return nil
	}
	return fmt.Errorf("hederadid: key record of %s: %w", didStr, store.ErrConflict)
}

// p256Multikey is the multibase of a P-256 public key (compressed point).
func p256Multikey(pub *ecdsa.PublicKey) (string, error) {
	u, err := pub.Bytes()
	if err != nil {
		return "", fmt.Errorf("hederadid: P-256 key: %w", err)
	}
	if len(u) != 65 || u[0] != 4 {
		return "", fmt.Errorf("hederadid: P-256 key has an unexpected encoding")
	}
	// SEC 1 §2.3.3 compression: 0x02 or 0x03 (the parity of y), then x.
	c := make([]byte, 33)
	c[0] = 2 | u[64]&1
	copy(c[1:], u[1:33])
	return did.EncodeMultikey(did.CodecP256Pub, c), nil
}

// GenerateP256 creates and stores a new P-256 key (for ES256) and returns
// it with the multibase of its public key.
func (k *Keys) GenerateP256(ctx context.Context) (*ecdsa.PrivateKey, string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("hederadid: generate P-256 key: %w", err)
	}
	mb, err := p256Multikey(&priv.PublicKey)
	if err != nil {
		return nil, "", err
	}
	raw, err := priv.Bytes()
	if err != nil {
		return nil, "", fmt.Errorf("hederadid: P-256 key: %w", err)
	}
	rk := "key:" + mb
	if _, err := k.kv.Put(ctx, KeysNamespace, rk, k.sealer.Seal(raw, []byte(rk)), store.KVCond{Absent: true}); err != nil {
		return nil, "", fmt.Errorf("hederadid: store key: %w", err)
	}
	return priv, mb, nil
}

// PrivateKeyP256 loads and unseals the P-256 key whose public key has the
// multibase mb; ErrNoKey if the gateway does not hold it.
func (k *Keys) PrivateKeyP256(ctx context.Context, mb string) (*ecdsa.PrivateKey, error) {
	rk := "key:" + mb
	b, _, err := k.kv.Get(ctx, KeysNamespace, rk)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("hederadid: load key: %w", err)
	}
	raw, err := k.sealer.Open(b, []byte(rk))
	if err != nil {
		return nil, fmt.Errorf("hederadid: unseal key: %w", err)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("hederadid: stored P-256 key: %w", err)
	}
	if got, err := p256Multikey(&priv.PublicKey); err != nil || got != mb {
		return nil, fmt.Errorf("hederadid: stored key does not match its public key")
	}
	return priv, nil
}
