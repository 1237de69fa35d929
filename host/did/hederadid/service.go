package hederadid

import (
	"container/list"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger"
)

// pageSize is the number of messages read per ledger call.
const pageSize = 500

// DefaultMaxCachedDIDs is the default bound of the folded-state cache.
const DefaultMaxCachedDIDs = 100_000

// Options configures a Service.
type Options struct {
	Ledger ledger.Ledger
	Keys   *Keys
	Logger *slog.Logger     // slog.Default() if nil
	Now    func() time.Time // time.Now if nil
	// MaxCachedDIDs bounds the folded-state cache, in DIDs
	// (DefaultMaxCachedDIDs if 0). The cache keeps whole topics: the least
	// recently used topics are dropped when the DIDs of all cached topics
	// exceed the bound, and are read again from the ledger when next
	// needed. A topic in use is never dropped, so a single topic with more
	// DIDs than the bound is kept while it is being used.
	MaxCachedDIDs int
}

// Service is the did:hedera registrar and resolver of one ledger. It
// implements did.Resolver.
//
// Current-version resolution reads from a per-topic cache of the folded
// state, refreshed incrementally from the ledger (messages after the last
// consensus time seen). Messages this gateway wrote are applied to the
// answer as soon as their receipt comes back, so a DID created or updated a
// moment ago resolves even if the ledger's read side lags.
type Service struct {
	l       ledger.Ledger
	keys    *Keys
	log     *slog.Logger
	now     func() time.Time
	maxDIDs int

	mu     sync.Mutex
	topics map[string]*topicCache
	lru    list.List // of *topicCache, most recently used first
	cached int       // sum of the size of the cached topics
}

type topicCache struct {
	id string

	// Guarded by Service.mu.
	elem     *list.Element // in Service.lru
	users    int           // acquired and not yet released
	size     int           // DIDs held, as of the last release
	npending int           // pending writes, as of the last release

	mu      sync.Mutex // serialises refreshes and writes of the topic
	last    time.Time  // consensus time of the last ledger message folded
	dids    map[string]*State
	pending []pendingMsg // own writes not yet seen through Messages
}

// pendingMsg is a message this gateway wrote, parsed once.
type pendingMsg struct {
	m ledger.Message
	p *parsed
}

var _ did.Resolver = (*Service)(nil)

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Ledger == nil || o.Keys == nil {
		return nil, errors.New("hederadid: Options.Ledger and Options.Keys are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxCachedDIDs <= 0 {
		o.MaxCachedDIDs = DefaultMaxCachedDIDs
	}
	return &Service{l: o.Ledger, keys: o.Keys, log: o.Logger, now: o.Now, maxDIDs: o.MaxCachedDIDs, topics: make(map[string]*topicCache)}, nil
}

// CreateTopic creates a DID topic (writable only by the gateway's operator
// key) and returns its ID. Several DIDs may share one topic.
func (s *Service) CreateTopic(ctx context.Context) (string, error) {
	r, err := s.l.CreateTopic(ctx, ledger.TopicOptions{Memo: "did:hedera"})
	if err != nil {
		return "", fmt.Errorf("hederadid: create topic: %w", err)
	}
	return r.TopicID, nil
}

// CreateOptions are optional contents of a new DID document.
type CreateOptions struct {
	Services    []did.Service // IDs may be fragments ("#vcs") or full DID URLs
	AlsoKnownAs []string
}

// Update is a change to a DID document.
type Update struct {
	AddServices      []did.Service
	RemoveServiceIDs []string
	AlsoKnownAs      []string // replaces alsoKnownAs when non-nil
	RotateKey        bool     // a new custodial owner key (DIDOwner update)
}

// Create creates a DID on topicID with a new custodial key: a DIDOwner
// create (§3.1.1), the default verification method "#key-1" (the owner key,
// for authentication and assertions), then the options. It returns the DID
// and its document as resolved after the writes.
func (s *Service) Create(ctx context.Context, topicID string, o CreateOptions) (string, *did.Document, error) {
	if !validTopicID(topicID) {
		return "", nil, fmt.Errorf("hederadid: invalid topic ID %q", topicID)
	}
	pub, err := s.keys.Generate(ctx)
	if err != nil {
		return "", nil, err
	}
	priv, err := s.keys.PrivateKey(ctx, pub)
	if err != nil {
		return "", nil, err
	}
	id := ID{Network: s.l.Network(), PublicKey: pub, TopicID: topicID}
	didStr := id.String()
	mb := did.EncodeMultikey(did.CodecEd25519Pub, pub)
	evs := []opEvent{
		{OpCreate, Event{DIDOwner: &OwnerEvent{ID: id.RootKeyID(), Type: TypeEd25519_2020, Controller: didStr, PublicKeyMultibase: mb}}},
		{OpCreate, Event{VerificationMethod: &MethodEvent{ID: didStr + "#key-1", Type: TypeEd25519_2020, Controller: didStr, PublicKeyMultibase: mb}}},
	}
	for _, sv := range o.Services {
		ev, err := serviceEvent(didStr, sv)
		if err != nil {
			return "", nil, err
		}
		evs = append(evs, opEvent{OpCreate, ev})
	}
	if o.AlsoKnownAs != nil {
		evs = append(evs, opEvent{OpCreate, Event{AlsoKnownAs: &AlsoKnownAsEvent{ID: didStr, AlsoKnownAs: o.AlsoKnownAs}}})
	}
	if err := s.keys.SetCurrent(ctx, didStr, pub, s.now()); err != nil {
		return "", nil, err
	}
	tc := s.acquire(topicID)
	defer s.release(tc)
	for _, e := range evs {
		if err := s.submit(ctx, tc, topicID, priv, e.op, didStr, e.ev); err != nil {
			return "", nil, err
		}
	}
	st, err := s.current(ctx, tc, id)
	if err != nil {
		return "", nil, err
	}
	s.log.InfoContext(ctx, "did:hedera created", "did", didStr, "topic", topicID)
	return didStr, st.Document(), nil
}

type opEvent struct {
	op string
	ev Event
}

func serviceEvent(didStr string, sv did.Service) (Event, error) {
	ep, ok := sv.ServiceEndpoint.(string)
	if !ok || ep == "" || sv.Type == "" || sv.ID == "" {
		return Event{}, errors.New("hederadid: a service needs an id, a type and a string serviceEndpoint")
	}
	return Event{Service: &ServiceEvent{ID: absID(didStr, sv.ID), Type: sv.Type, ServiceEndpoint: ep}}, nil
}

func absID(didStr, id string) string {
	if strings.HasPrefix(id, "#") {
		return didStr + id
	}
	return id
}

// ErrNotManaged means the DID's current owner key is not held by this
// gateway, so it cannot write for it.
var ErrNotManaged = errors.New("hederadid: DID is not managed by this gateway")

// Update applies u to a DID this gateway manages and returns the new
// document. Service changes are Service create/revoke messages (§3.1.3,
// §3.1.4); a key rotation is a DIDOwner update signed by the current owner
// key (§3.2.2) followed by an update of "#key-1", signed by the new key.
func (s *Service) Update(ctx context.Context, didStr string, u Update) (*did.Document, error) {
	id, tc, st, priv, err := s.writable(ctx, didStr)
	if err != nil {
		return nil, err
	}
	defer s.release(tc)
	for _, rid := range u.RemoveServiceIDs {
		rid = absID(didStr, rid)
		if !slices.ContainsFunc(st.services, func(x did.Service) bool { return x.ID == rid }) {
			return nil, did.Errorf(did.CodeNotFound, "no service %q", rid)
		}
		if err := s.submit(ctx, tc, id.TopicID, priv, OpRevoke, didStr, Event{Service: &ServiceEvent{ID: rid}}); err != nil {
			return nil, err
		}
	}
	for _, sv := range u.AddServices {
		ev, err := serviceEvent(didStr, sv)
		if err != nil {
			return nil, err
		}
		op := OpCreate
		if slices.ContainsFunc(st.services, func(x did.Service) bool { return x.ID == ev.Service.ID }) {
			op = OpUpdate
		}
		if err := s.submit(ctx, tc, id.TopicID, priv, op, didStr, ev); err != nil {
			return nil, err
		}
	}
	if u.AlsoKnownAs != nil {
		if err := s.submit(ctx, tc, id.TopicID, priv, OpUpdate, didStr, Event{AlsoKnownAs: &AlsoKnownAsEvent{ID: didStr, AlsoKnownAs: u.AlsoKnownAs}}); err != nil {
			return nil, err
		}
	}
	if u.RotateKey {
		pub, err := s.keys.Generate(ctx)
		if err != nil {
			return nil, err
		}
		npriv, err := s.keys.PrivateKey(ctx, pub)
		if err != nil {
			return nil, err
		}
		mb := did.EncodeMultikey(did.CodecEd25519Pub, pub)
		if err := s.submit(ctx, tc, id.TopicID, priv, OpUpdate, didStr, Event{DIDOwner: &OwnerEvent{ID: id.RootKeyID(), Type: TypeEd25519_2020, Controller: st.owner.Controller, PublicKeyMultibase: mb}}); err != nil {
			return nil, err
		}
		if err := s.keys.SetCurrent(ctx, didStr, pub, s.now()); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(st.methods, func(x did.VerificationMethod) bool { return x.ID == didStr+"#key-1" }) {
			if err := s.submit(ctx, tc, id.TopicID, npriv, OpUpdate, didStr, Event{VerificationMethod: &MethodEvent{ID: didStr + "#key-1", Type: TypeEd25519_2020, Controller: didStr, PublicKeyMultibase: mb}}); err != nil {
				return nil, err
			}
		}
		s.log.InfoContext(ctx, "did:hedera key rotated", "did", didStr)
	}
	st, err = s.current(ctx, tc, id)
	if err != nil {
		return nil, err
	}
	return st.Document(), nil
}

// Deactivate deletes a DID (§3.1.5): a delete message; the document
// resolves empty with deactivated metadata from then on.
func (s *Service) Deactivate(ctx context.Context, didStr string) error {
	id, tc, _, priv, err := s.writable(ctx, didStr)
	if err != nil {
		return err
	}
	defer s.release(tc)
	if err := s.submit(ctx, tc, id.TopicID, priv, OpDelete, didStr, Event{DIDDeactivate: &DeactivateEvent{ID: didStr}}); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "did:hedera deactivated", "did", didStr)
	return nil
}

// SigningKey returns the verification method ID (<did>#did-root-key) and
// the private key of a DID this gateway holds the key of, for signing as
// the DID (credentials issued by an enterprise's managed DID). The root key
// is in the document's assertionMethod (§3.2.2). ErrNotManaged if the key
// is not held here.
func (s *Service) SigningKey(ctx context.Context, didStr string) (string, ed25519.PrivateKey, error) {
	_, tc, _, priv, err := s.writable(ctx, didStr)
	if err != nil {
		return "", nil, err
	}
	s.release(tc)
	return didStr + "#did-root-key", priv, nil
}

// P256KeyFragment names the P-256 assertion key of a managed DID.
const P256KeyFragment = "#key-p256"

// SigningKeyP256 returns the verification method ID (<did>#key-p256) and
// the private key of a managed DID's P-256 assertion key, for ES256
// (VC-JOSE-COSE). The first call creates it: a custodial key sealed at
// rest, published as a Multikey in the document's assertionMethod by one
// VerificationRelationship message signed by the owner key (§3.2.4). The
// topic is held meanwhile, so concurrent first calls make one key.
// ErrNotManaged if the gateway does not hold the DID's keys.
func (s *Service) SigningKeyP256(ctx context.Context, didStr string) (string, *ecdsa.PrivateKey, error) {
	id, tc, st, priv, err := s.writable(ctx, didStr)
	if err != nil {
		return "", nil, err
	}
	defer s.release(tc)
	vmID := didStr + P256KeyFragment
	if i := slices.IndexFunc(st.methods, func(x did.VerificationMethod) bool { return x.ID == vmID }); i >= 0 {
		key, err := s.keys.PrivateKeyP256(ctx, st.methods[i].PublicKeyMultibase)
		if errors.Is(err, ErrNoKey) {
			err = ErrNotManaged
		}
		if err != nil {
			return "", nil, err
		}
		return vmID, key, nil
	}
	key, mb, err := s.keys.GenerateP256(ctx)
	if err != nil {
		return "", nil, err
	}
	ev := Event{VerificationRelationship: &RelationshipEvent{ID: vmID, RelationshipType: "assertionMethod", Type: "Multikey",
		Controller: didStr, PublicKeyMultibase: mb}}
	if err := s.submit(ctx, tc, id.TopicID, priv, OpCreate, didStr, ev); err != nil {
		return "", nil, err
	}
	s.log.InfoContext(ctx, "did:hedera P-256 assertion key added", "did", didStr)
	return vmID, key, nil
}

// writable resolves a DID for writing: it returns with the topic acquired
// (the caller releases it) and the private key of the current owner.
func (s *Service) writable(ctx context.Context, didStr string) (ID, *topicCache, *State, ed25519.PrivateKey, error) {
	id, err := s.parse(didStr)
	if err != nil {
		return ID{}, nil, nil, nil, err
	}
	tc := s.acquire(id.TopicID)
	st, err := s.current(ctx, tc, id)
	if err == nil && (!st.Exists() || st.Deactivated()) {
		err = did.Errorf(did.CodeNotFound, "%s does not exist or is deactivated", didStr)
	}
	var priv ed25519.PrivateKey
	if err == nil {
		priv, err = s.keys.PrivateKey(ctx, st.OwnerKey())
		if errors.Is(err, ErrNoKey) {
			err = ErrNotManaged
		}
	}
	if err != nil {
		s.release(tc)
		return ID{}, nil, nil, nil, err
	}
	return id, tc, st, priv, nil
}

// submit signs and submits one message and records it as pending, so that
// it is part of the answer before the ledger's read side shows it.
func (s *Service) submit(ctx context.Context, tc *topicCache, topicID string, priv ed25519.PrivateKey, op, didStr string, ev Event) error {
	b, err := Sign(priv, op, didStr, ev, s.now())
	if err != nil {
		return err
	}
	r, err := s.l.Submit(ctx, topicID, b)
	if err != nil {
		return fmt.Errorf("hederadid: submit %s: %w", op, err)
	}
	p, err := parseEnvelope(b)
	if err != nil {
		return fmt.Errorf("hederadid: own message: %w", err)
	}
	tc.pending = append(tc.pending, pendingMsg{
		m: ledger.Message{TopicID: topicID, Sequence: r.Sequence, ConsensusTime: r.ConsensusTime, RunningHash: r.RunningHash, Contents: b, TransactionID: r.TransactionID},
		p: p,
	})
	return nil
}

// acquire returns the cache of a topic, locked; the caller must release
// it.
func (s *Service) acquire(topicID string) *topicCache {
	s.mu.Lock()
	tc := s.topics[topicID]
	if tc == nil {
		tc = &topicCache{id: topicID, dids: make(map[string]*State)}
		s.topics[topicID] = tc
		tc.elem = s.lru.PushFront(tc)
	} else {
		s.lru.MoveToFront(tc.elem)
	}
	tc.users++
	s.mu.Unlock()
	tc.mu.Lock()
	return tc
}

// release unlocks a topic cache from acquire, records its size and drops
// least recently used topics while the cache holds more than its bound.
// Topics in use or with pending writes are kept.
func (s *Service) release(tc *topicCache) {
	// Lock order: topicCache.mu, then Service.mu (acquire never holds both).
	s.mu.Lock()
	tc.users--
	s.cached += len(tc.dids) - tc.size
	tc.size, tc.npending = len(tc.dids), len(tc.pending)
	for e := s.lru.Back(); e != nil && s.cached > s.maxDIDs; {
		old := e.Value.(*topicCache)
		e = e.Prev()
		if old.users > 0 || old.npending > 0 {
			continue
		}
		s.lru.Remove(old.elem)
		delete(s.topics, old.id)
		s.cached -= old.size
	}
	s.mu.Unlock()
	tc.mu.Unlock()
}

func (s *Service) parse(didStr string) (ID, error) {
	id, err := Parse(didStr)
	if err != nil {
		return ID{}, err
	}
	if id.Network != s.l.Network() {
		return ID{}, did.Errorf(did.CodeUnsupportedNetwork, "this resolver reads the %s network, not %s", s.l.Network(), id.Network)
	}
	return id, nil
}

// current refreshes the topic cache (tc locked) and returns the DID's
// state including this gateway's pending writes. The returned state must
// not be modified.
func (s *Service) current(ctx context.Context, tc *topicCache, id ID) (*State, error) {
	for {
		msgs, err := s.l.Messages(ctx, id.TopicID, tc.last, pageSize)
		if err != nil {
			return nil, ledgerError(err)
		}
		tc.foldAll(msgs)
		if len(msgs) < pageSize {
			break
		}
	}
	// Drop pending writes the ledger has now shown (consensus order is
	// total, so everything at or before tc.last has been read).
	tc.pending = slices.DeleteFunc(tc.pending, func(pm pendingMsg) bool { return !pm.m.ConsensusTime.After(tc.last) })
	didStr := id.String()
	st := tc.dids[didStr]
	if st == nil {
		st = newState(id)
	}
	if len(tc.pending) > 0 {
		st = st.clone()
		for i := range tc.pending {
			st.apply(&tc.pending[i].m, tc.pending[i].p)
		}
	}
	return st, nil
}

// foldAll folds ledger messages, in consensus order, into the topic's
// states. Signatures are checked in parallel first, each against the owner
// key its DID has when the batch starts; after a DIDOwner update the DID's
// later messages are checked again against the new key (see prepare).
func (tc *topicCache) foldAll(msgs []ledger.Message) {
	if len(msgs) == 0 {
		return
	}
	ps := prepare(msgs, func(m *ledger.Message, p *parsed) ed25519.PublicKey {
		if st := tc.dids[p.msg.DID]; st != nil {
			if st.deactivated {
				return nil
			}
			return st.ownerKey
		}
		id, err := Parse(p.msg.DID)
		if err != nil || id.TopicID != m.TopicID {
			return nil
		}
		return id.PublicKey
	})
	for i := range msgs {
		if st := tc.fold(&msgs[i], ps[i]); st != nil {
			reverify(ps, i+1, st.DID, st.ownerKey)
		}
	}
	tc.last = msgs[len(msgs)-1].ConsensusTime
}

// fold applies a parsed ledger message (nil if malformed) to the state of
// the DID it names, creating the state on a valid DIDOwner create for a DID
// of this topic. It returns the state if the message changed its owner key.
func (tc *topicCache) fold(m *ledger.Message, p *parsed) (rotated *State) {
	if p == nil {
		return nil
	}
	st := tc.dids[p.msg.DID]
	if st == nil {
		id, err := Parse(p.msg.DID)
		if err != nil || id.TopicID != m.TopicID {
			return
		}
		st = newState(id)
		if !st.apply(m, p) {
			return nil // keep no state for DIDs that never validly started
		}
		tc.dids[p.msg.DID] = st
		return nil // the create sets the key the DID was derived from
	}
	key := st.ownerKey
	if st.apply(m, p) && !st.ownerKey.Equal(key) {
		return st
	}
	return nil
}

func ledgerError(err error) error {
	switch {
	case errors.Is(err, ledger.ErrTopicNotFound):
		return did.Wrap(did.CodeNotFound, "the DID's topic does not exist", err)
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return did.Wrap(did.CodeUnavailable, "the ledger is unavailable", err)
	default:
		return did.Wrap(did.CodeInternalError, "reading the ledger failed", err)
	}
}

// Resolve implements did.Resolver (§3.1.2 Read). Without version options it
// answers from the topic cache; with versionTime or versionId it replays
// the topic from the ledger up to that version. versionId is the consensus
// timestamp ("seconds.nanos") of the last message applied.
func (s *Service) Resolve(ctx context.Context, didStr string, opts did.ResolveOptions) (*did.Resolution, error) {
	id, err := s.parse(didStr)
	if err != nil {
		return nil, err
	}
	var st *State
	if opts.VersionTime == nil && opts.VersionID == "" {
		tc := s.acquire(id.TopicID)
		st, err = s.current(ctx, tc, id)
		if err != nil {
			s.release(tc)
			return nil, err
		}
		res := resolution(st, s.now())
		s.release(tc)
		if res.Document == nil {
			return nil, did.Errorf(did.CodeNotFound, "%s not found", didStr)
		}
		return res, nil
	}
	msgs, err := s.readAll(ctx, id.TopicID)
	if err != nil {
		return nil, err
	}
	st, found := Replay(id, msgs, Cut{VersionTime: opts.VersionTime, VersionID: opts.VersionID})
	if !found || !st.Exists() {
		return nil, did.Errorf(did.CodeNotFound, "%s: no such version", didStr)
	}
	return resolution(st, s.now()), nil
}

// ResolveUncached resolves the current version by reading and replaying the
// whole topic, bypassing the cache.
func (s *Service) ResolveUncached(ctx context.Context, didStr string) (*did.Resolution, error) {
	id, err := s.parse(didStr)
	if err != nil {
		return nil, err
	}
	var st *State
	if sl, ok := s.l.(streamingLedger); ok {
		// Check signatures while the ledger is still being read.
		st, err = replayStreamed(id, func(add func(ledger.Message)) error {
			return eachAll(ctx, sl, id.TopicID, add)
		})
		if err != nil {
			return nil, err
		}
	} else {
		msgs, err := s.readAll(ctx, id.TopicID)
		if err != nil {
			return nil, err
		}
		st, _ = Replay(id, msgs, Cut{})
	}
	if !st.Exists() {
		return nil, did.Errorf(did.CodeNotFound, "%s not found", didStr)
	}
	return resolution(st, s.now()), nil
}

func (s *Service) readAll(ctx context.Context, topicID string) ([]ledger.Message, error) {
	var all []ledger.Message
	var after time.Time
	for {
		msgs, err := s.l.Messages(ctx, topicID, after, pageSize)
		if err != nil {
			return nil, ledgerError(err)
		}
		all = append(all, msgs...)
		if len(msgs) < pageSize {
			return all, nil
		}
		after = msgs[len(msgs)-1].ConsensusTime
	}
}

// streamingLedger is a ledger that can stream a page of messages to a
// callback as it reads them (local.Ledger's EachMessage): the checks and
// the result are those of Messages, but the caller sees the first messages
// before the page has been read, and on error discards what it saw.
type streamingLedger interface {
	EachMessage(ctx context.Context, topicID string, after time.Time, limit int, f func(ledger.Message) error) (int, error)
}

// eachAll is readAll streamed: it calls add with every message of the
// topic, page by page.
func eachAll(ctx context.Context, sl streamingLedger, topicID string, add func(ledger.Message)) error {
	var after time.Time
	for {
		var last time.Time
		n, err := sl.EachMessage(ctx, topicID, after, pageSize, func(m ledger.Message) error {
			add(m)
			last = m.ConsensusTime
			return nil
		})
		if err != nil {
			return ledgerError(err)
		}
		if n < pageSize {
			return nil
		}
		after = last
	}
}

func resolution(st *State, now time.Time) *did.Resolution {
	if !st.Exists() {
		return &did.Resolution{}
	}
	return &did.Resolution{
		Document:           st.Document(),
		DocumentMetadata:   st.Metadata(),
		ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDLDJSON, Retrieved: now},
	}
}
