package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/statuslist"
	"github.com/ubeu/gateway/host/vc/vcjwt"
)

// IssueOptions choose how a credential is secured.
type IssueOptions struct {
	// Format is FormatDataIntegrity (default) or FormatJWT.
	Format string
	// Cryptosuite of a Data Integrity proof: eddsa-rdfc-2022 (default,
	// required by Open Badges 3.0 certification) or eddsa-jcs-2022.
	Cryptosuite string
	// Alg of a vc+jwt: EdDSA (default) or ES256, signed with the issuer
	// DID's P-256 assertion key (<did>#key-p256, added to a managed DID
	// the first time; ErrUnsupported if the KeySource cannot).
	Alg string
	// IdempotencyKey makes a retried request answer the first one's
	// credential instead of issuing again. RequestHash identifies the
	// request, so a key reused for another request is refused.
	IdempotencyKey string
	RequestHash    string
	// OpenBadges shapes the credential as the Open Badges 3.0 schema
	// requires: a single credentialStatus object (revocation; no
	// suspension entry) and the proof written as an array of one proof.
	OpenBadges bool
}

// Issued is an issued credential.
type Issued struct {
	Record *Record
	// Secured is the credential with its proof (JSON), or the JWT.
	Secured []byte
	// Replayed is true when an idempotency key answered an earlier issue.
	Replayed bool
}

// BatchItem is one credential of a batch.
type BatchItem struct {
	Credential map[string]any
	Options    IssueOptions
}

// BatchResult answers one item of a batch: Issued or Err.
type BatchResult struct {
	Issued *Issued
	Err    error
}

type cachedKey struct {
	vm      string
	key     ed25519.PrivateKey
	expires time.Time
	// The P-256 key, once asked for.
	esVM string
	es   *ecdsa.PrivateKey
}

// issuerKeys are the keys one batch signs with: Ed25519 always, P-256
// when an item asks for ES256.
type issuerKeys struct {
	vm   string
	key  ed25519.PrivateKey
	esVM string
	es   *ecdsa.PrivateKey
}

type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

// signingKey returns the issuer's key, cached for a minute (signing needs
// the DID's current key; resolving the topic for every credential would
// dominate issuance).
func (s *Service) signingKey(ctx context.Context, did string) (string, ed25519.PrivateKey, error) {
	now := s.now()
	s.keys.mu.Lock()
	k, ok := s.keys.m[did]
	s.keys.mu.Unlock()
	if ok && now.Before(k.expires) {
		return k.vm, k.key, nil
	}
	vm, key, err := s.o.Keys.SigningKey(ctx, did)
	if err != nil {
		return "", nil, fmt.Errorf("credentials: signing key of %s: %w", did, err)
	}
	s.keys.mu.Lock()
	if len(s.keys.m) > 10000 {
		clear(s.keys.m)
	}
	s.keys.m[did] = cachedKey{vm: vm, key: key, expires: now.Add(time.Minute)}
	s.keys.mu.Unlock()
	return vm, key, nil
}

// signingKeyP256 returns the issuer's P-256 key for ES256, cached like
// signingKey.
func (s *Service) signingKeyP256(ctx context.Context, did string) (string, *ecdsa.PrivateKey, error) {
	now := s.now()
	s.keys.mu.Lock()
	k, ok := s.keys.m[did]
	s.keys.mu.Unlock()
	if ok && now.Before(k.expires) && k.es != nil {
		return k.esVM, k.es, nil
	}
	ks, can := s.o.Keys.(P256KeySource)
	if !can {
		return "", nil, fmt.Errorf("%w: this gateway cannot sign ES256 for %s (use EdDSA)", ErrUnsupported, did)
	}
	vm, key, err := ks.SigningKeyP256(ctx, did)
	if err != nil {
		return "", nil, fmt.Errorf("credentials: P-256 signing key of %s: %w", did, err)
	}
	s.keys.mu.Lock()
	if c, ok := s.keys.m[did]; ok {
		c.esVM, c.es = vm, key
		s.keys.m[did] = c
	}
	s.keys.mu.Unlock()
	return vm, key, nil
}

// Issue issues one credential for iss. cred is the unsigned credential
// (VCDM 2.0); a missing issuer, id or validFrom is filled in. Errors:
// *FieldError (ErrInvalid), ErrUnsupported, ErrIdempotencyMismatch,
// ErrInProgress, or a failure of the store, keys or ledger.
func (s *Service) Issue(ctx context.Context, iss Issuer, cred map[string]any, o IssueOptions) (*Issued, error) {
	run := func() (*Issued, error) {
		res, err := s.IssueBatch(ctx, iss, []BatchItem{{Credential: cred, Options: o}})
		if err != nil {
			return nil, err
		}
		return res[0].Issued, res[0].Err
	}
	if o.IdempotencyKey == "" {
		return run()
	}
	return s.idempotent(ctx, iss.EnterpriseID, o, run)
}

type prepared struct {
	i     int
	cred  map[string]any
	opts  IssueOptions
	id    string
	types []string
	from  time.Time
	until time.Time
	st    []statuslist.Entry
	out   []byte
	hash  [32]byte
	err   error
}

// IssueBatch issues several credentials for iss: each item is validated
// and answered on its own (a bad item does not sink the batch), status
// entries are allocated in bulk, signing is spread over the workers, one
// ledger anchor (the Merkle root of the credentials' hashes) covers the
// batch, and the records are written in transactions of up to 1 MiB, each
// credential's record and indexes together. The error is for failures of
// the whole batch (ledger, store); after a ledger failure nothing was
// stored.
func (s *Service) IssueBatch(ctx context.Context, iss Issuer, items []BatchItem) ([]BatchResult, error) {
	if iss.DID == "" || iss.EnterpriseID == "" {
		return nil, errors.New("credentials: issuer without DID or enterprise")
	}
	now := s.now().UTC().Truncate(time.Second)
	res := make([]BatchResult, len(items))
	var ok []*prepared
	for i, it := range items {
		p, err := s.prepare(ctx, iss, it, now)
		if err != nil {
			res[i].Err = err
			continue
		}
		p.i = i
		ok = append(ok, p)
	}
	if len(ok) == 0 {
		return res, nil
	}
	var keys issuerKeys
	var err error
	if keys.vm, keys.key, err = s.signingKey(ctx, iss.DID); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(ok, func(p *prepared) bool { return p.opts.Alg == vcjwt.AlgES256 }) {
		if keys.esVM, keys.es, err = s.signingKeyP256(ctx, iss.DID); err != nil {
			return nil, err
		}
	}
	for _, purpose := range []string{statuslist.PurposeRevocation, statuslist.PurposeSuspension} {
		var want []*prepared
		for _, p := range ok {
			if purpose == statuslist.PurposeRevocation || !p.opts.OpenBadges {
				want = append(want, p)
			}
		}
		if len(want) == 0 {
			continue
		}
		es, err := s.o.Status.AllocateN(ctx, iss.EnterpriseID, purpose, len(want))
		if err != nil {
			return nil, fmt.Errorf("credentials: allocate status entries: %w", err)
		}
		for j, p := range want {
			p.st = append(p.st, es[j])
		}
	}
	s.signAll(ctx, ok, keys)
	var signed []*prepared
	for _, p := range ok {
		if p.err != nil {
			res[p.i].Err = p.err
			continue
		}
		signed = append(signed, p)
	}
	if len(signed) == 0 {
		return res, nil
	}
	leaves := make([][]byte, len(signed))
	for j, p := range signed {
		leaves[j] = leafHash(p.hash[:])
	}
	root := merkleRoot(leaves)
	batchID := uuid.NewString()
	var rcpt ledger.Receipt
	if s.o.Anchor != nil {
		msg, _ := json.Marshal(anchorMessage{Type: "gatewayd.vc-anchor", Version: 1, Issuer: iss.DID, Alg: "sha-256",
			Root: hex.EncodeToString(root), Count: len(signed), Batch: batchID, Time: now.Format(time.RFC3339)})
		if rcpt, err = s.o.Anchor.Anchor(ctx, msg); err != nil {
			return nil, fmt.Errorf("credentials: anchor: %w", err)
		}
	}
	var ws [][]store.KVWrite
	for j, p := range signed {
		r := &Record{
			ID: p.id, EnterpriseID: iss.EnterpriseID, IssuerDID: iss.DID, SubjectDID: subjectID(p.cred),
			Types: p.types, Format: p.opts.Format, State: StateActive, IssuedAt: now, ValidFrom: p.from, ValidUntil: p.until,
			Hash: hex.EncodeToString(p.hash[:]), Sealed: s.sealFor(p.id, p.out),
		}
		if r.Format == FormatDataIntegrity {
			r.Cryptosuite = p.opts.Cryptosuite
		} else {
			r.Alg = p.opts.Alg
		}
		for _, e := range p.st {
			r.Status = append(r.Status, Status{Purpose: e.Purpose, ListID: e.ListID, ListURL: e.ListURL, Index: e.Index})
		}
		if s.o.Anchor != nil {
			r.Anchor = &Anchor{TopicID: rcpt.TopicID, Sequence: rcpt.Sequence, TransactionID: rcpt.TransactionID,
				ConsensusTime: rcpt.ConsensusTime, FeeTinybars: rcpt.FeeTinybars, Root: hex.EncodeToString(root),
				Count: len(signed), Leaf: j, Proof: merklePath(j, leaves)}
		}
		v, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		g := []store.KVWrite{{Key: recordKey(p.id), Value: v, Cond: store.KVCond{Absent: true}},
			{Key: "e/" + iss.EnterpriseID + "/" + p.id, Value: []byte(p.id)}}
		if r.SubjectDID != "" && len(r.SubjectDID) < 900 {
			g = append(g, store.KVWrite{Key: "s/" + r.SubjectDID + "/" + p.id, Value: []byte(p.id)})
		}
		ws = append(ws, g)
		res[p.i].Issued = &Issued{Record: r, Secured: p.out}
	}
	if err := s.putAll(ctx, ws); err != nil {
		return nil, fmt.Errorf("credentials: store batch: %w", err)
	}
	s.log.InfoContext(ctx, "credentials issued", "enterprise", iss.EnterpriseID, "count", len(signed),
		"failed", len(items)-len(signed), "batch", batchID, "anchorTx", rcpt.TransactionID)
	return res, nil
}

// anchorMessage is what goes on the ledger for an issuance: hashes, never
// personal data.
type anchorMessage struct {
	Type    string `json:"type"`
	Version int    `json:"v"`
	Issuer  string `json:"issuer"`
	Alg     string `json:"alg"`
	Root    string `json:"root"`
	Count   int    `json:"count"`
	Batch   string `json:"batch"`
	Time    string `json:"time"`
}

// prepare validates an item and fills in its defaults.
func (s *Service) prepare(ctx context.Context, iss Issuer, it BatchItem, now time.Time) (*prepared, error) {
	c, o := it.Credential, it.Options
	if c == nil {
		return nil, invalid("credential", "is required")
	}
	switch o.Format {
	case "", FormatDataIntegrity:
		o.Format = FormatDataIntegrity
		switch o.Cryptosuite {
		case "":
			o.Cryptosuite = dataintegrity.EdDSARDFC2022
		case dataintegrity.EdDSARDFC2022, dataintegrity.EdDSAJCS2022:
		default:
			return nil, invalid("options.cryptosuite", `must be "eddsa-rdfc-2022" or "eddsa-jcs-2022"`)
		}
		if o.Alg != "" {
			return nil, invalid("options.alg", "applies to vc+jwt only")
		}
	case FormatJWT:
		if o.Cryptosuite != "" {
			return nil, invalid("options.cryptosuite", "applies to Data Integrity proofs only")
		}
		switch o.Alg {
		case "", "EdDSA":
			o.Alg = "EdDSA"
		case vcjwt.AlgES256:
			if _, can := s.o.Keys.(P256KeySource); !can {
				return nil, fmt.Errorf("%w: this gateway cannot sign ES256 (use EdDSA)", ErrUnsupported)
			}
		default:
			return nil, invalid("options.alg", `must be "EdDSA" or "ES256"`)
		}
	default:
		return nil, invalid("options.format", `must be %q or %q`, FormatDataIntegrity, FormatJWT)
	}
	if _, has := c["issuer"]; !has {
		c["issuer"] = iss.DID
	}
	if m, isObj := c["issuer"].(map[string]any); isObj {
		if _, named := m["name"]; !named && iss.Name != "" {
			m["name"] = iss.Name
		}
	}
	if _, has := c["validFrom"]; !has {
		c["validFrom"] = now.Format(time.RFC3339)
	}
	if _, has := c["id"]; !has {
		c["id"] = "urn:uuid:" + uuid.NewString()
	}
	if err := CheckUnsigned(c); err != nil {
		return nil, err
	}
	if got := issuerID(c); got != iss.DID {
		return nil, invalid("issuer", "must be the issuer's DID %s, got %q", iss.DID, got)
	}
	id := c["id"].(string)
	if len(id) > 200 {
		return nil, invalid("id", "must be at most 200 characters")
	}
	if _, _, err := s.o.KV.Get(ctx, ns, recordKey(id)); err == nil {
		return nil, invalid("id", "a credential with this id was already issued")
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if _, has := c["credentialSchema"]; has && s.o.Schemas != nil {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, invalid("credential", "does not encode: %v", err)
		}
		rs, err := s.o.Schemas.Validate(ctx, b)
		if err != nil {
			return nil, invalid("credentialSchema", "%v", err)
		}
		for _, r := range rs {
			if !r.Valid {
				return nil, invalid("credentialSchema", "the credential does not satisfy %s: %s", r.ID, strings.Join(r.Errors[:min(len(r.Errors), 5)], "; "))
			}
		}
	}
	p := &prepared{cred: c, opts: o, id: id}
	p.types, _ = types("type", c["type"], true)
	p.from, _ = parseDateTime(c["validFrom"])
	if v, has := c["validUntil"]; has {
		p.until, _ = parseDateTime(v)
		if !p.until.After(now) {
			return nil, invalid("validUntil", "is already past")
		}
	}
	return p, nil
}

// signAll adds the status entries and secures every prepared item, on
// s.o.Workers goroutines.
func (s *Service) signAll(ctx context.Context, ps []*prepared, keys issuerKeys) {
	work := make(chan *prepared)
	var wg sync.WaitGroup
	for range min(s.o.Workers, len(ps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				p.out, p.err = s.secure(ctx, p, keys)
				if p.err == nil {
					p.hash = sha256.Sum256(p.out)
				}
			}
		}()
	}
	for _, p := range ps {
		work <- p
	}
	close(work)
	wg.Wait()
}

func (s *Service) secure(ctx context.Context, p *prepared, keys issuerKeys) ([]byte, error) {
	st := make([]any, 0, len(p.st)+1)
	switch v := p.cred["credentialStatus"].(type) {
	case nil:
	case []any:
		st = append(st, v...)
	default:
		st = append(st, v)
	}
	for _, e := range p.st {
		st = append(st, e.CredentialStatus())
	}
	if len(st) == 1 {
		p.cred["credentialStatus"] = st[0]
	} else {
		p.cred["credentialStatus"] = st
	}
	if p.opts.Format == FormatJWT {
		b, err := json.Marshal(p.cred)
		if err != nil {
			return nil, invalid("credential", "does not encode: %v", err)
		}
		if len(b) > s.o.MaxCredentialBytes {
			return nil, invalid("credential", "is larger than %d bytes", s.o.MaxCredentialBytes)
		}
		var tok string
		if p.opts.Alg == vcjwt.AlgES256 {
			tok, err = vcjwt.Sign(ctx, b, keys.es, keys.esVM)
		} else {
			tok, err = vcjwt.Sign(ctx, b, keys.key, keys.vm)
		}
		if err != nil {
			return nil, signError(err)
		}
		return []byte(tok), nil
	}
	lim := s.o.Limits
	lim.MaxInputBytes = min(lim.MaxInputBytes, s.o.MaxCredentialBytes)
	out, err := dataintegrity.Sign(ctx, p.cred, keys.key, dataintegrity.ProofOptions{
		Cryptosuite: p.opts.Cryptosuite, VerificationMethod: keys.vm, Created: s.now(), Limits: &lim,
	})
	if err != nil {
		return nil, signError(err)
	}
	if p.opts.OpenBadges {
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			return nil, err
		}
		m["proof"] = []any{m["proof"]}
		return json.Marshal(m)
	}
	return out, nil
}

// signError turns a signer's refusal of the document into ErrInvalid.
func signError(err error) error {
	switch {
	case errors.Is(err, dataintegrity.ErrUnknownTerm):
		return invalid("", "%s (for eddsa-rdfc-2022 every term must be defined by the credential's contexts; add https://www.w3.org/ns/credentials/undefined-terms/v2 to map the rest, or use eddsa-jcs-2022)", strings.TrimPrefix(err.Error(), "dataintegrity: "))
	case errors.Is(err, dataintegrity.ErrLimit), errors.Is(err, dataintegrity.ErrMalformed):
		return invalid("", "%s", strings.TrimPrefix(err.Error(), "dataintegrity: "))
	case errors.Is(err, vcjwt.ErrMalformed), errors.Is(err, vcjwt.ErrPayload):
		return invalid("", "%s", strings.TrimPrefix(err.Error(), "vcjwt: "))
	}
	return err
}

// idemRecord is the state of an idempotency key.
type idemRecord struct {
	State       string    `json:"state"` // pending | done
	RequestHash string    `json:"requestHash"`
	ID          string    `json:"id,omitempty"` // the result of a done key
	At          time.Time `json:"at"`
}

// idempotent runs issue once per (enterprise, key): a retry with the same
// request answers the first credential (Replayed).
func (s *Service) idempotent(ctx context.Context, enterprise string, o IssueOptions, issue func() (*Issued, error)) (*Issued, error) {
	var out *Issued
	id, replayed, err := s.Once(ctx, enterprise, o.IdempotencyKey, o.RequestHash, func() (string, error) {
		var err error
		if out, err = issue(); err != nil {
			return "", err
		}
		return out.Record.ID, nil
	})
	if err != nil || !replayed {
		return out, err
	}
	r, b, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Issued{Record: r, Secured: b, Replayed: true}, nil
}

// Once runs run at most once per (enterprise, idempotency key) and keeps
// the result it returns: a retry with the same request hash gets that
// result back with replayed true, a different request with the same key
// ErrIdempotencyMismatch, a concurrent one ErrInProgress. A pending key
// older than a minute (its request died) is taken over; a run that fails
// releases the key.
func (s *Service) Once(ctx context.Context, enterprise, idemKey, requestHash string, run func() (string, error)) (result string, replayed bool, err error) {
	if idemKey == "" {
		return "", false, invalid("Idempotency-Key", "must not be empty")
	}
	if len(idemKey) > 255 {
		return "", false, invalid("Idempotency-Key", "must be at most 255 characters")
	}
	kh := sha256.Sum256([]byte(idemKey))
	key := "k/" + enterprise + "/" + hex.EncodeToString(kh[:])
	pending, _ := json.Marshal(idemRecord{State: "pending", RequestHash: requestHash, At: s.now()})
	ver, err := s.o.KV.Put(ctx, ns, key, pending, store.KVCond{Absent: true})
	if errors.Is(err, store.ErrConflict) {
		v, oldVer, gerr := s.o.KV.Get(ctx, ns, key)
		if gerr != nil {
			return "", false, fmt.Errorf("credentials: idempotency key: %w", gerr)
		}
		var ir idemRecord
		if err := json.Unmarshal(v, &ir); err != nil {
			return "", false, fmt.Errorf("credentials: idempotency key: %w", err)
		}
		if ir.RequestHash != requestHash {
			return "", false, ErrIdempotencyMismatch
		}
		if ir.State == "done" {
			return ir.ID, true, nil
		}
		if s.now().Sub(ir.At) < time.Minute {
			return "", false, ErrInProgress
		}
		if ver, err = s.o.KV.Put(ctx, ns, key, pending, store.KVCond{Version: oldVer}); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return "", false, ErrInProgress
			}
			return "", false, fmt.Errorf("credentials: idempotency key: %w", err)
		}
	} else if err != nil {
		return "", false, fmt.Errorf("credentials: idempotency key: %w", err)
	}
	result, err = run()
	if err != nil {
		if derr := s.o.KV.Delete(context.WithoutCancel(ctx), ns, key, store.KVCond{Version: ver}); derr != nil {
			s.log.WarnContext(ctx, "credentials: release idempotency key", "err", derr)
		}
		return "", false, err
	}
	done, _ := json.Marshal(idemRecord{State: "done", RequestHash: requestHash, ID: result, At: s.now()})
	if _, err := s.o.KV.Put(context.WithoutCancel(ctx), ns, key, done, store.KVCond{Version: ver}); err != nil {
		s.log.WarnContext(ctx, "credentials: record idempotency key", "err", err)
	}
	return result, false, nil
}

// LedgerAnchor anchors on a ledger topic of its own, created on first use
// and remembered in the KV store.
type LedgerAnchor struct {
	Ledger ledger.Ledger
	KV     store.KV

	mu    sync.Mutex
	topic string
}

// Anchor submits msg to the anchor topic.
func (a *LedgerAnchor) Anchor(ctx context.Context, msg []byte) (ledger.Receipt, error) {
	topic, err := a.topicID(ctx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	return a.Ledger.Submit(ctx, topic, msg)
}

func (a *LedgerAnchor) topicID(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.topic != "" {
		return a.topic, nil
	}
	v, _, err := a.KV.Get(ctx, ns, "anchor-topic")
	if err == nil {
		a.topic = string(v)
		return a.topic, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	r, err := a.Ledger.CreateTopic(ctx, ledger.TopicOptions{Memo: "gatewayd credential anchors"})
	if err != nil {
		return "", fmt.Errorf("create anchor topic: %w", err)
	}
	if _, err := a.KV.Put(ctx, ns, "anchor-topic", []byte(r.TopicID), store.KVCond{Absent: true}); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return "", err
		}
		v, _, err := a.KV.Get(ctx, ns, "anchor-topic")
		if err != nil {
			return "", err
		}
		a.topic = string(v)
		return a.topic, nil
	}
	a.topic = r.TopicID
	return a.topic, nil
}
