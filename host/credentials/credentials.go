// Package credentials issues, keeps, verifies and changes the status of W3C
// Verifiable Credentials (VC Data Model 2.0) for enterprise issuers.
//
// Issuance validates the unsigned credential against the data model's
// MUSTs, gives it an id, its issuer (the enterprise's managed DID) and two
// Bitstring Status List entries (revocation and suspension, at random
// indexes), secures it with a Data Integrity proof (eddsa-rdfc-2022 by
// default, or eddsa-jcs-2022) or as application/vc+jwt, anchors its
// SHA-256 on the ledger (a batch anchors one Merkle root) and stores it,
// sealed, with its record. Verification answers every check it made, like
// the VC-API: proof or signature, issuer binding, validity window, status
// and schema.
package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/statuslist"
)

// Securing formats.
const (
	// FormatDataIntegrity is a credential with an embedded Data Integrity
	// proof (the VC-API's "ldp_vc").
	FormatDataIntegrity = "ldp_vc"
	// FormatJWT is a credential secured as application/vc+jwt
	// (VC-JOSE-COSE § 3.1.1).
	FormatJWT = "vc+jwt"
)

// Credential states of a record.
const (
	StateActive    = "active"
	StateSuspended = "suspended"
	StateRevoked   = "revoked"
)

// ns is the KV namespace of records.
//
//	c/<uuid>                  the record (credential sealed)
//	s/<subject DID>/<uuid>    index of a subject's credentials
//	e/<enterprise>/<uuid>     index of an issuer's credentials
//	k/<enterprise>/<sha256>   idempotency key → uuid
//	anchor-topic              the ledger topic anchors go to
const ns = "credentials"

// Errors. Test them with errors.Is.
var (
	// ErrInvalid means the credential or request breaks a rule of the data
	// model or of this service; the error is a *FieldError.
	ErrInvalid = errors.New("credentials: invalid credential")
	// ErrNotFound means no credential has this ID.
	ErrNotFound = errors.New("credentials: not found")
	// ErrForbidden means the caller is not the credential's issuer.
	ErrForbidden = errors.New("credentials: not the issuer of this credential")
	// ErrState means a status change the credential's state does not
	// allow (a revocation cannot be undone; only a suspended credential
	// can be unsuspended).
	ErrState = errors.New("credentials: status change not allowed")
	// ErrIdempotencyMismatch means an idempotency key reused with a
	// different request.
	ErrIdempotencyMismatch = errors.New("credentials: idempotency key reused with a different request")
	// ErrInProgress means a request with the same idempotency key is still
	// being processed.
	ErrInProgress = errors.New("credentials: a request with this idempotency key is in progress")
	// ErrUnsupported means a securing option this issuer cannot use.
	ErrUnsupported = errors.New("credentials: unsupported securing option")
)

// FieldError is an ErrInvalid naming the offending member by its JSON
// path, e.g. "credentialStatus[0].type".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "credentials: " + e.Reason
	}
	return "credentials: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Issuer is who signs: an enterprise and its managed DID.
type Issuer struct {
	EnterpriseID string
	DID          string
	// Name is the organisation's name, given to an issuer object that has
	// none.
	Name string
}

// KeySource gives the signing key of a DID this gateway holds
// (hederadid.Service does).
type KeySource interface {
	SigningKey(ctx context.Context, did string) (verificationMethod string, key ed25519.PrivateKey, err error)
}

// P256KeySource is implemented by a KeySource that can also sign ES256
// (hederadid.Service does: it adds a P-256 assertion key to a managed DID
// the first time one is asked for). Without it ES256 is ErrUnsupported.
type P256KeySource interface {
	SigningKeyP256(ctx context.Context, did string) (verificationMethod string, key *ecdsa.PrivateKey, err error)
}

// Anchorer writes an anchor message (hashes only, never personal data) to
// the ledger.
type Anchorer interface {
	Anchor(ctx context.Context, msg []byte) (ledger.Receipt, error)
}

// SchemaValidator validates a credential against its credentialSchema
// entries; it returns one result per entry.
type SchemaValidator interface {
	Validate(ctx context.Context, credential []byte) ([]SchemaResult, error)
}

// SchemaResult is the outcome of one credentialSchema entry.
type SchemaResult struct {
	ID     string
	Type   string
	Valid  bool
	Errors []string
}

// Options configures a Service.
type Options struct {
	// KV keeps the records. Required.
	KV store.KV
	// Sealer seals stored credentials (they hold personal data); nil keeps
	// them in clear (tests).
	Sealer *seal.Sealer
	// Keys signs as issuers' DIDs. Required.
	Keys KeySource
	// Status allocates status entries and keeps the lists. Required.
	Status *statuslist.Registry
	// Anchor anchors issuance hashes; nil skips anchoring (tests).
	Anchor Anchorer
	// Resolve resolves DIDs for verification. Required for Verify.
	Resolve DocumentResolver
	// Fetch dereferences remote URLs during verification (status lists of
	// other issuers, related resources); it must apply the SSRF guard.
	// Nil fails such checks.
	Fetch func(ctx context.Context, url string) ([]byte, error)
	// Schemas validates credentialSchema entries; nil reports them skipped.
	Schemas SchemaValidator
	// StatusTTL is the longest a fetched status list of another issuer is
	// reused. Default 5 minutes.
	StatusTTL time.Duration
	// MaxCredentialBytes caps one credential. Default 256 KiB.
	MaxCredentialBytes int
	// Limits bound RDF canonicalisation; zero means dataintegrity's
	// defaults.
	Limits dataintegrity.Limits
	// Workers signs a batch in parallel. Default GOMAXPROCS.
	Workers int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service issues and verifies credentials. It is safe for concurrent use.
type Service struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	own     *statuslist.Checker // our own lists: always re-read (in memory)
	foreign *statuslist.Checker // other issuers' lists: cached for StatusTTL
	keys    keyCache
	proofs  proofCache
	// noProofCache makes every verification check the proof (benchmarks
	// of the full path).
	noProofCache bool
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.KV == nil || o.Keys == nil || o.Status == nil {
		return nil, errors.New("credentials: KV, Keys and Status are required")
	}
	if o.MaxCredentialBytes <= 0 {
		o.MaxCredentialBytes = 256 << 10
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.StatusTTL <= 0 {
		o.StatusTTL = 5 * time.Minute
	}
	if o.Limits == (dataintegrity.Limits{}) {
		o.Limits = dataintegrity.DefaultLimits
	}
	s := &Service{o: o, log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.own = statuslist.NewChecker(statuslist.CheckerOptions{TTL: time.Nanosecond, Now: s.now})
	s.foreign = statuslist.NewChecker(statuslist.CheckerOptions{TTL: o.StatusTTL, Now: s.now})
	s.keys.m = map[string]cachedKey{}
	return s, nil
}

// Record is what the gateway keeps of an issued credential.
type Record struct {
	ID           string    `json:"id"` // the credential's id, urn:uuid:…
	EnterpriseID string    `json:"enterpriseId"`
	IssuerDID    string    `json:"issuerDid"`
	SubjectDID   string    `json:"subjectDid,omitempty"`
	Types        []string  `json:"types"`
	Format       string    `json:"format"`
	Cryptosuite  string    `json:"cryptosuite,omitempty"`
	Alg          string    `json:"alg,omitempty"`
	Status       []Status  `json:"status"`
	State        string    `json:"state"`
	IssuedAt     time.Time `json:"issuedAt"`
	ValidFrom    time.Time `json:"validFrom,omitzero"`
	ValidUntil   time.Time `json:"validUntil,omitzero"`
	UpdatedAt    time.Time `json:"updatedAt,omitzero"`
	// Hash is the hex SHA-256 of the secured credential as issued (the
	// JSON bytes, or the JWT's ASCII).
	Hash string `json:"hash"`
	// Anchor is where Hash (or the Merkle root of its batch) is anchored.
	Anchor *Anchor `json:"anchor,omitempty"`
	// HolderDeleted is set when the subject deleted their copy from their
	// wallet; the issuer's record stays.
	HolderDeleted bool `json:"holderDeleted,omitempty"`
	// Sealed is the secured credential, sealed with the record ID as
	// associated data (or in clear without a Sealer).
	Sealed []byte `json:"sealed"`
}

// Status is one credentialStatus entry of a record.
type Status struct {
	Purpose string `json:"purpose"`
	ListID  string `json:"listId"`
	ListURL string `json:"listUrl"`
	Index   int    `json:"index"`
}

// Anchor locates an issuance hash on the ledger.
type Anchor struct {
	TopicID       string    `json:"topicId"`
	Sequence      uint64    `json:"sequence"`
	TransactionID string    `json:"transactionId"`
	ConsensusTime time.Time `json:"consensusTime"`
	FeeTinybars   int64     `json:"feeTinybars"`
	// Root is the hex Merkle root anchored; for a credential issued alone
	// it is the leaf of its hash.
	Root string `json:"root"`
	// Count is the number of credentials under Root.
	Count int `json:"count"`
	// Proof is the audit path from the credential's leaf to Root (hex
	// hashes, leaf side first; "L:" or "R:" says where the sibling sits).
	Proof []string `json:"proof,omitempty"`
	// Leaf is the credential's position under Root.
	Leaf int `json:"leaf"`
}

func (s *Service) open(r *Record) ([]byte, error) {
	if s.o.Sealer == nil {
		return r.Sealed, nil
	}
	b, err := s.o.Sealer.Open(r.Sealed, []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("credentials: unseal %s: %w", r.ID, err)
	}
	return b, nil
}

func (s *Service) sealFor(id string, b []byte) []byte {
	if s.o.Sealer == nil {
		return b
	}
	return s.o.Sealer.Seal(b, []byte(id))
}

// Get returns a record and its secured credential.
func (s *Service) Get(ctx context.Context, id string) (*Record, []byte, error) {
	r, _, err := s.load(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.open(r)
	if err != nil {
		return nil, nil, err
	}
	return r, b, nil
}

func recordKey(id string) string { return "c/" + id }

func (s *Service) load(ctx context.Context, id string) (*Record, uint64, error) {
	if id == "" || len(id) > 200 {
		return nil, 0, ErrNotFound
	}
	v, ver, err := s.o.KV.Get(ctx, ns, recordKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("credentials: load %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, 0, fmt.Errorf("credentials: decode %s: %w", id, err)
	}
	return &r, ver, nil
}

// List returns records by subject DID (subject true) or by enterprise,
// in ID order after `after`, at most limit.
func (s *Service) List(ctx context.Context, subject bool, owner, after string, limit int) ([]*Record, error) {
	prefix := "e/" + owner + "/"
	if subject {
		prefix = "s/" + owner + "/"
	}
	a := ""
	if after != "" {
		a = prefix + after
	}
	items, err := s.o.KV.List(ctx, ns, prefix, a, limit)
	if err != nil {
		return nil, fmt.Errorf("credentials: list: %w", err)
	}
	out := make([]*Record, 0, len(items))
	for _, it := range items {
		r, _, err := s.load(ctx, string(it.Value))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// maxBatchBytes bounds one store transaction of a batch (Badger refuses
// transactions larger than a share of its memtable).
const maxBatchBytes = 1 << 20

// putAll writes groups of entries (each group one credential's record and
// indexes). Where the store can, each group is atomic and groups are
// written in transactions of up to maxBatchBytes; otherwise one Put at a
// time, the record of a group last so an index never points at nothing.
func (s *Service) putAll(ctx context.Context, groups [][]store.KVWrite) error {
	b, ok := s.o.KV.(store.KVBatch)
	if !ok {
		for _, g := range groups {
			for i := len(g) - 1; i >= 0; i-- {
				if _, err := s.o.KV.Put(ctx, ns, g[i].Key, g[i].Value, g[i].Cond); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var txn []store.KVWrite
	size := 0
	for _, g := range groups {
		n := 0
		for _, w := range g {
			n += len(w.Key) + len(w.Value)
		}
		if len(txn) > 0 && size+n > maxBatchBytes {
			if err := b.PutBatch(ctx, ns, txn); err != nil {
				return err
			}
			txn, size = nil, 0
		}
		txn = append(txn, g...)
		size += n
	}
	if len(txn) > 0 {
		return b.PutBatch(ctx, ns, txn)
	}
	return nil
}
