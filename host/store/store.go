// Package store defines gatewayd's system of record as a set of small typed
// repositories. Handlers depend only on these interfaces, so the embedded
// Badger backend (package badgerstore) can be joined later by a PostgreSQL
// backend shared by several gateways without touching them.
//
// Every write method is durable when it returns nil: an operation that was
// acknowledged survives a crash of the process or of the machine.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every backend. Callers test them with errors.Is.
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a uniqueness constraint was violated (an e-mail
	// address or an API-key prefix already taken).
	ErrConflict = errors.New("store: conflict")
	// ErrTokenReused means a refresh token that had already been spent was
	// presented again; its whole family has been revoked.
	ErrTokenReused = errors.New("store: refresh token reused")
	// ErrRevoked means the record exists but was revoked or has expired.
	ErrRevoked = errors.New("store: revoked")
)

// Roles a principal may hold.
const (
	RoleUser       = "user"
	RoleEnterprise = "enterprise"
	RoleAdmin      = "admin"
)

// User is an account of a person (or the bootstrap administrator).
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"` // normalised (lower case); encrypted at rest
	PasswordHash string    `json:"passwordHash"`
	Roles        []string  `json:"roles"`
	Tier         string    `json:"tier"`             // subscription tier, e.g. "individual"
	Tenant       string    `json:"tenant,omitempty"` // enterprise ID for enterprise members
	Status       string    `json:"status"`           // active | suspended | deleted
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	LastLoginAt  time.Time `json:"lastLoginAt,omitzero"`
}

// Users stores accounts. E-mail addresses are unique, compared after
// normalisation by the caller.
type Users interface {
	// Create stores a new user; ErrConflict if the e-mail is taken.
	Create(ctx context.Context, u *User) error
	// Get returns the user with this ID or ErrNotFound.
	Get(ctx context.Context, id string) (*User, error)
	// GetByEmail returns the user with this (normalised) e-mail or ErrNotFound.
	GetByEmail(ctx context.Context, email string) (*User, error)
	// Update replaces a stored user (the e-mail may not change); ErrNotFound
	// if absent.
	Update(ctx context.Context, u *User) error
	// Count returns the number of users.
	Count(ctx context.Context) (int, error)
}

// Enterprise is an organisation that issues credentials.
type Enterprise struct {
	ID               string `json:"id"`
	OrganizationName string `json:"organizationName"`
	ParentDomain     string `json:"parentDomain"`
	ContactEmail     string `json:"contactEmail"` // encrypted at rest
	Tier             string `json:"tier"`         // pro | enterprise
	Status           string `json:"status"`       // pending_verification | active
	// OwnerUserID is the user who registered the enterprise and manages it.
	OwnerUserID string `json:"ownerUserId,omitempty"`
	// ManagedDID is the enterprise's did:hedera DID, held by the gateway.
	ManagedDID string    `json:"managedDid,omitempty"`
	VerifiedAt time.Time `json:"verifiedAt,omitzero"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Enterprises stores organisations. Parent domains are unique.
type Enterprises interface {
	// Create stores a new enterprise; ErrConflict if the domain is taken.
	Create(ctx context.Context, e *Enterprise) error
	// Get returns the enterprise or ErrNotFound.
	Get(ctx context.Context, id string) (*Enterprise, error)
	// Update replaces a stored enterprise (the domain may not change).
	Update(ctx context.Context, e *Enterprise) error
	// Delete removes an enterprise and frees its domain; ErrNotFound if
	// absent. (Used to undo a registration that could not complete.)
	Delete(ctx context.Context, id string) error
	// Each calls f with every enterprise, in ID order, until f returns an
	// error (which Each returns).
	Each(ctx context.Context, f func(*Enterprise) error) error
}

// APIKey is an enterprise API key. Only a hash of its secret is stored; the
// key is found by its public prefix.
type APIKey struct {
	ID           string    `json:"id"`
	Prefix       string    `json:"prefix"` // public, unique lookup handle
	EnterpriseID string    `json:"enterpriseId"`
	Name         string    `json:"name"`
	SecretHash   []byte    `json:"secretHash"` // SHA-256 of the whole key
	Permissions  []string  `json:"permissions"`
	MonthlyLimit int       `json:"monthlyLimit"`
	CreatedAt    time.Time `json:"createdAt"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	LastUsedAt   time.Time `json:"lastUsedAt,omitzero"`
	RevokedAt    time.Time `json:"revokedAt,omitzero"`
}

// APIKeys stores enterprise API keys.
type APIKeys interface {
	// Create stores a key; ErrConflict if the prefix is taken.
	Create(ctx context.Context, k *APIKey) error
	// GetByPrefix returns the key with this prefix or ErrNotFound.
	GetByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// ListByEnterprise returns an enterprise's keys, oldest first.
	ListByEnterprise(ctx context.Context, enterpriseID string) ([]*APIKey, error)
	// Revoke marks the key revoked at the given time; ErrNotFound if absent.
	Revoke(ctx context.Context, enterpriseID, id string, at time.Time) error
	// TouchLastUsed records a use of the key. It may be coalesced and is not
	// required to be durable.
	TouchLastUsed(ctx context.Context, prefix string, at time.Time) error
}

// RefreshFamily is one login session: the chain of refresh tokens that
// descend from one login. Re-use of a spent token revokes the family.
type RefreshFamily struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// RefreshToken is one refresh token of a family, stored by the hash of its
// secret.
type RefreshToken struct {
	Hash      string    `json:"hash"` // hex SHA-256 of the token
	FamilyID  string    `json:"familyId"`
	UserID    string    `json:"userId"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	UsedAt    time.Time `json:"usedAt,omitzero"`
}

// Sessions stores refresh-token families.
type Sessions interface {
	// Start creates a family with its first token.
	Start(ctx context.Context, f *RefreshFamily, first *RefreshToken) error
	// Rotate atomically spends the token with hash oldHash and stores next in
	// the same family. If the token was already spent, the whole family is
	// revoked and ErrTokenReused returned (with the family, so the caller can
	// revoke its access tokens). ErrRevoked if the family is revoked or the
	// token expired at now; ErrNotFound if unknown.
	Rotate(ctx context.Context, oldHash string, next *RefreshToken, now time.Time) (*RefreshFamily, error)
	// Lookup returns a token and its family without spending it.
	Lookup(ctx context.Context, hash string) (*RefreshToken, *RefreshFamily, error)
	// RevokeFamily revokes a family at the given time.
	RevokeFamily(ctx context.Context, familyID string, at time.Time) error
	// RevokeUser revokes every family of a user and returns their IDs.
	RevokeUser(ctx context.Context, userID string, at time.Time) ([]string, error)
}

// Revocation is an entry of the access-token deny list: a token ID (jti) or
// a session (family) ID that must be refused until it would have expired.
type Revocation struct {
	ID    string    `json:"id"`
	Until time.Time `json:"until"`
}

// Revocations persists the deny list so that it survives restarts. Entries
// disappear by themselves after Until.
type Revocations interface {
	Add(ctx context.Context, r Revocation) error
	// List returns the entries still in force at now.
	List(ctx context.Context, now time.Time) ([]Revocation, error)
}

// Counters is a keyed, atomic read-modify-write store of small JSON-able
// values, used by usage limits. Update loads the value stored under key (nil
// if none), calls fn, and stores what fn returns, all in one transaction; it
// retries fn on a write conflict, so fn must be free of side effects. If fn
// returns an error nothing is written and the error is returned.
type Counters interface {
	Update(ctx context.Context, key string, fn func(old []byte) (new []byte, err error)) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// Cache is a namespace for derived data with a time to live, kept apart from
// records. A miss is not an error.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Store is a whole backend.
type Store interface {
	Users() Users
	Enterprises() Enterprises
	APIKeys() APIKeys
	Sessions() Sessions
	Revocations() Revocations
	Counters() Counters
	Cache() Cache
	KV() KV
	// Ping reports whether the backend can serve.
	Ping(ctx context.Context) error
	// Close flushes and closes the backend.
	Close() error
}

// KVItem is one entry of a KV listing.
type KVItem struct {
	Key     string
	Value   []byte
	Version uint64
}

// KVCond makes a KV write conditional (compare-and-swap).
type KVCond struct {
	// Version, when non-zero, requires the stored entry to have this
	// version.
	Version uint64
	// Absent requires that no entry exists.
	Absent bool
}

// KV is a namespaced key-value store for components that own their records
// (custodial DID keys, DID registries, plugin data). Each write gets a new
// version, usable as a compare-and-swap token. Values are stored as given:
// callers seal what is secret.
type KV interface {
	// Get returns the value and version or ErrNotFound.
	Get(ctx context.Context, ns, key string) ([]byte, uint64, error)
	// Put writes the value if cond holds (else ErrConflict) and returns the
	// new version.
	Put(ctx context.Context, ns, key string, value []byte, cond KVCond) (uint64, error)
	// Delete removes the entry if cond holds (else ErrConflict);
	// ErrNotFound if absent.
	Delete(ctx context.Context, ns, key string, cond KVCond) error
	// List returns up to limit entries of ns whose key starts with prefix
	// and sorts after `after`, in key order.
	List(ctx context.Context, ns, prefix, after string, limit int) ([]KVItem, error)
	// Usage returns the number of entries and bytes (keys and values) in ns,
	// for quotas.
	Usage(ctx context.Context, ns string) (entries int, bytes int64, err error)
}

// KVWrite is one entry of a KVBatch write.
type KVWrite struct {
	Key   string
	Value []byte
	Cond  KVCond
}

// KVBatch is implemented by KV backends that can write several entries of
// one namespace in a single atomic, durable transaction: either every
// write happens or none does (ErrConflict if a condition fails). Callers
// fall back to one Put per entry when the backend lacks it.
type KVBatch interface {
	PutBatch(ctx context.Context, ns string, writes []KVWrite) error
}
