package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ubeu/gateway/host/fsutil"
	"github.com/ubeu/gateway/host/seal"
)

// KeyringFile is the name of the sealed keyring file in its directory.
const KeyringFile = "jwt-signing-keys.json.sealed"

// keyringAD binds the sealed file to its purpose.
var keyringAD = []byte("gatewayd jwt keyring v1")

// ErrNoKeyring is returned by OpenKeyring when the file is missing and
// KeyringOptions.Create is false.
var ErrNoKeyring = errors.New("auth: JWT signing keyring not found")

// reloadInterval is the least time between two reloads caused by unknown
// key IDs.
const reloadInterval = time.Second

// KeyringOptions configures OpenKeyring.
type KeyringOptions struct {
	// RotateEvery is the age at which MaybeRotate replaces the active key.
	// Default 30 days.
	RotateEvery time.Duration
	// Retain is how long a retired key still verifies tokens. It must be at
	// least the access-token TTL plus the clock skew. Default 1 hour.
	Retain time.Duration
	// Create makes OpenKeyring create the file with a first key if it is
	// missing.
	Create bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives reload failures; default slog.Default().
	Logger *slog.Logger
}

// SigningKey is an Ed25519 key of the keyring.
type SigningKey struct {
	// ID is the key's kid: its RFC 7638 JWK thumbprint.
	ID string
	// Private is the signing key; Public its verification key.
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	// Created is when the key was made; Retired when it stopped signing
	// (zero for the active key).
	Created, Retired time.Time
}

// keyFile is the sealed file's JSON content.
type keyFile struct {
	Version int          `json:"version"`
	Keys    []keyFileKey `json:"keys"` // the active key first
}

type keyFileKey struct {
	Seed    []byte    `json:"seed"` // 32-byte Ed25519 seed
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
}

// keySnapshot is an immutable view of the keyring.
type keySnapshot struct {
	active *SigningKey
	keys   []*SigningKey          // active first, then retired, newest first
	byID   map[string]*SigningKey // all keys of keys
	jwks   []byte                 // set of the keys valid when it was built
	// jwksStale is when a retired key of jwks stops verifying (zero if none).
	jwksStale time.Time
}

// Keyring holds the JWT signing keys, stored sealed in one file. It is safe
// for concurrent use; reads take no lock.
type Keyring struct {
	path   string
	sealer *seal.Sealer
	o      KeyringOptions

	snap atomic.Pointer[keySnapshot]

	mu         sync.Mutex // serialises writes, reloads and JWKS rebuilds
	lastReload time.Time  // guarded by mu; for reloadForKID
}

// OpenKeyring opens the keyring stored in dir, sealed with s. If the file is
// missing it is created with one key when o.Create is set, and an error
// wrapping ErrNoKeyring is returned otherwise.
func OpenKeyring(dir string, s *seal.Sealer, o KeyringOptions) (*Keyring, error) {
	if o.RotateEvery <= 0 {
		o.RotateEvery = 30 * 24 * time.Hour
	}
	if o.Retain <= 0 {
		o.Retain = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	k := &Keyring{path: filepath.Join(dir, KeyringFile), sealer: s, o: o}
	keys, err := k.read()
	if errors.Is(err, fs.ErrNotExist) {
		if !o.Create {
			return nil, fmt.Errorf("%w at %s: run `gatewayd serve` once to create it", ErrNoKeyring, k.path)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("auth: keyring: %w", err)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		return k, k.rotateLocked(nil)
	}
	if err != nil {
		return nil, err
	}
	k.publish(keys)
	return k, nil
}

// Active returns the key that signs new tokens.
func (k *Keyring) Active() *SigningKey { return k.snap.Load().active }

// JWKS returns the RFC 7517 JSON Web Key Set of the public keys that still
// verify tokens. The caller must not modify the slice.
func (k *Keyring) JWKS() []byte {
	s := k.snap.Load()
	if s.jwksStale.IsZero() || k.o.Now().Before(s.jwksStale) {
		return s.jwks
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.publish(k.snap.Load().keys)
	return k.snap.Load().jwks
}

// Rotate makes a new active key. The previous one is retired and keeps
// verifying tokens for Retain; keys retired longer ago are dropped. The file
// is re-read first, so that changes made by another process are kept, then
// rewritten.
func (k *Keyring) Rotate() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.read()
	if err != nil {
		return err
	}
	return k.rotateLocked(keys)
}

// MaybeRotate rotates if the active key is older than RotateEvery and
// reports whether it did.
func (k *Keyring) MaybeRotate() (bool, error) {
	if k.o.Now().Sub(k.Active().Created) < k.o.RotateEvery {
		return false, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.read()
	if err != nil {
		return false, err
	}
	if len(keys) > 0 && k.o.Now().Sub(keys[0].Created) < k.o.RotateEvery {
		k.publish(keys) // another process rotated already
		return false, nil
	}
	return true, k.rotateLocked(keys)
}

// Reload re-reads the file, to see keys written by another process.
func (k *Keyring) Reload() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked()
}

func (k *Keyring) reloadLocked() error {
	keys, err := k.read()
	if err != nil {
		return err
	}
	k.publish(keys)
	return nil
}

// reloadForKID reloads the file because a token names the unknown key kid,
// at most once per reloadInterval, and returns the key if it is now known.
func (k *Keyring) reloadForKID(kid string) *SigningKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key := k.snap.Load().byID[kid]; key != nil {
		return key // loaded while we waited
	}
	now := k.o.Now()
	if d := now.Sub(k.lastReload); !k.lastReload.IsZero() && d >= 0 && d < reloadInterval {
		return nil
	}
	k.lastReload = now
	if err := k.reloadLocked(); err != nil {
		k.o.Logger.Warn("cannot reload the JWT keyring for an unknown kid", "err", err)
		return nil
	}
	return k.snap.Load().byID[kid]
}

// verifier returns the key kid if it still verifies tokens at now.
func (k *Keyring) verifier(kid string, now time.Time) (key *SigningKey, known bool) {
	key = k.snap.Load().byID[kid]
	if key == nil {
		return nil, false
	}
	return key, k.validAt(key, now)
}

func (k *Keyring) validAt(key *SigningKey, now time.Time) bool {
	return key.Retired.IsZero() || now.Before(key.Retired.Add(k.o.Retain))
}

// rotateLocked adds a new active key before keys, retires the old active key,
// drops expired keys, writes the file and publishes. k.mu must be held.
func (k *Keyring) rotateLocked(keys []*SigningKey) error {
	now := k.o.Now().UTC().Truncate(time.Second)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("auth: keyring: %w", err)
	}
	next := []*SigningKey{newSigningKey(priv, now, time.Time{})}
	for i, key := range keys {
		key := *key
		if i == 0 && key.Retired.IsZero() {
			key.Retired = now
		}
		if k.validAt(&key, now) {
			next = append(next, &key)
		}
	}
	if err := k.write(next); err != nil {
		return err
	}
	k.publish(next)
	return nil
}

func newSigningKey(priv ed25519.PrivateKey, created, retired time.Time) *SigningKey {
	pub := priv.Public().(ed25519.PublicKey)
	return &SigningKey{ID: thumbprint(pub), Private: priv, Public: pub, Created: created, Retired: retired}
}

// thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key.
func thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + b64url.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64url.EncodeToString(sum[:])
}

// read loads and unseals the file.
func (k *Keyring) read() ([]*SigningKey, error) {
	sealed, err := os.ReadFile(k.path)
	if err != nil {
		return nil, fmt.Errorf("auth: keyring: %w", err)
	}
	plain, err := k.sealer.Open(sealed, keyringAD)
	if err != nil {
		return nil, fmt.Errorf("auth: keyring %s (wrong master key or damaged file): %w", k.path, err)
	}
	var f keyFile
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("auth: keyring %s: %w", k.path, err)
	}
	if f.Version != 1 || len(f.Keys) == 0 || !f.Keys[0].Retired.IsZero() {
		return nil, fmt.Errorf("auth: keyring %s: unsupported version or no active key", k.path)
	}
	keys := make([]*SigningKey, 0, len(f.Keys))
	for _, fk := range f.Keys {
		if len(fk.Seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("auth: keyring %s: bad key seed", k.path)
		}
		keys = append(keys, newSigningKey(ed25519.NewKeyFromSeed(fk.Seed), fk.Created, fk.Retired))
	}
	return keys, nil
}

// write seals keys into the file, mode 0600.
func (k *Keyring) write(keys []*SigningKey) error {
	f := keyFile{Version: 1}
	for _, key := range keys {
		f.Keys = append(f.Keys, keyFileKey{Seed: key.Private.Seed(), Created: key.Created, Retired: key.Retired})
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("auth: keyring: %w", err)
	}
	defer clear(plain)
	if err := fsutil.WriteFileAtomic(k.path, k.sealer.Seal(plain, keyringAD), 0o600); err != nil {
		return fmt.Errorf("auth: keyring: %w", err)
	}
	return nil
}

// publicJWK is one entry of the published key set.
type publicJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// publish installs a new snapshot of keys with a fresh JWKS.
func (k *Keyring) publish(keys []*SigningKey) {
	now := k.o.Now()
	s := &keySnapshot{active: keys[0], keys: slices.Clone(keys), byID: make(map[string]*SigningKey, len(keys))}
	set := struct {
		Keys []publicJWK `json:"keys"`
	}{Keys: []publicJWK{}}
	for _, key := range keys {
		s.byID[key.ID] = key
		if !k.validAt(key, now) {
			continue
		}
		set.Keys = append(set.Keys, publicJWK{Kty: "OKP", Crv: "Ed25519", X: b64url.EncodeToString(key.Public), Kid: key.ID, Alg: "EdDSA", Use: "sig"})
		if !key.Retired.IsZero() {
			if end := key.Retired.Add(k.o.Retain); s.jwksStale.IsZero() || end.Before(s.jwksStale) {
				s.jwksStale = end
			}
		}
	}
	s.jwks, _ = json.Marshal(set) // cannot fail: only strings
	k.snap.Store(s)
}
