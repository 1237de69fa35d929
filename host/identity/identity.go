// Package identity ties accounts to their DIDs: every user owns one ledger
// topic holding all of their DID profiles (the design's multi-DID single
// topic), a primary DID made at registration and further profiles up to
// the usage limits. It enforces ownership, consumes limits and counts
// did_operations_total; the DID method itself lives in host/did/hederadid.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/hederadid"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/metrics"
	"github.com/ubeu/gateway/host/store"
)

// Errors; test with errors.Is.
var (
	ErrNotOwner    = errors.New("identity: the DID does not belong to this user")
	ErrNoIdentity  = errors.New("identity: the user has no identity yet")
	ErrPrimary     = errors.New("identity: the primary DID cannot be deactivated")
	ErrDeactivated = errors.New("identity: the DID is deactivated")
)

// Profile is one DID of a user.
type Profile struct {
	DID       string    `json:"did"`
	Profile   string    `json:"profile"` // personal | professional | …
	Primary   bool      `json:"primary"`
	Status    string    `json:"status"` // active | deactivated
	CreatedAt time.Time `json:"createdAt"`
}

// Identity is a user's topic and DIDs.
type Identity struct {
	UserID   string    `json:"userId"`
	TopicID  string    `json:"topicId"`
	Profiles []Profile `json:"dids"`
}

// Options configures a Service.
type Options struct {
	KV      store.KV
	DIDs    *hederadid.Service
	Limits  *limits.Service
	Metrics *metrics.Metrics
	// OnChange is called after a DID changed through this gateway (edge
	// cache invalidation).
	OnChange func(ctx context.Context, did string)
	Now      func() time.Time
}

// Service manages users' DIDs.
type Service struct{ o Options }

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnChange == nil {
		o.OnChange = func(context.Context, string) {}
	}
	return &Service{o: o}
}

const ns = "identity"

func (s *Service) count(op string, err error) {
	if s.o.Metrics == nil {
		return
	}
	status := "success"
	if err != nil {
		status = "failure"
	}
	s.o.Metrics.DIDOperations.WithLabelValues(op, status).Inc()
}

func (s *Service) load(ctx context.Context, userID string) (*Identity, uint64, error) {
	v, ver, err := s.o.KV.Get(ctx, ns, "u/"+userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, ErrNoIdentity
	}
	if err != nil {
		return nil, 0, err
	}
	var id Identity
	if err := json.Unmarshal(v, &id); err != nil {
		return nil, 0, fmt.Errorf("identity: damaged record of %s: %w", userID, err)
	}
	return &id, ver, nil
}

func (s *Service) save(ctx context.Context, id *Identity, cond store.KVCond) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	_, err = s.o.KV.Put(ctx, ns, "u/"+id.UserID, b, cond)
	return err
}

// Get returns a user's identity.
func (s *Service) Get(ctx context.Context, userID string) (*Identity, error) {
	id, _, err := s.load(ctx, userID)
	return id, err
}

// Owner returns the user who owns a DID made by this gateway.
func (s *Service) Owner(ctx context.Context, didStr string) (string, error) {
	v, _, err := s.o.KV.Get(ctx, ns, "d/"+didStr)
	if errors.Is(err, store.ErrNotFound) {
		return "", did.Errorf(did.CodeNotFound, "%s is not managed by this gateway", didStr)
	}
	return string(v), err
}

// CreatePrimary creates the user's topic and first DID (registration).
// It consumes a create_did usage.
func (s *Service) CreatePrimary(ctx context.Context, userID, tier string) (p *Profile, doc *did.Document, err error) {
	defer func() { s.count("create", err) }()
	if _, _, err := s.load(ctx, userID); err == nil {
		return nil, nil, fmt.Errorf("identity: %s already has an identity", userID)
	}
	if _, err := s.o.Limits.Consume(ctx, userID, tier, limits.OpCreateDID, s.o.Now()); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = s.o.Limits.Release(context.WithoutCancel(ctx), userID, tier, limits.OpCreateDID)
		}
	}()
	topic, err := s.o.DIDs.CreateTopic(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, doc, err := s.o.DIDs.Create(ctx, topic, hederadid.CreateOptions{})
	if err != nil {
		return nil, nil, err
	}
	p = &Profile{DID: d, Profile: "personal", Primary: true, Status: "active", CreatedAt: s.o.Now()}
	id := &Identity{UserID: userID, TopicID: topic, Profiles: []Profile{*p}}
	if _, err := s.o.KV.Put(ctx, ns, "d/"+d, []byte(userID), store.KVCond{Absent: true}); err != nil {
		return nil, nil, err
	}
	if err := s.save(ctx, id, store.KVCond{Absent: true}); err != nil {
		return nil, nil, err
	}
	return p, doc, nil
}

// ManagedOwnerPrefix marks, in the DID → owner index, a DID held by the
// gateway for an enterprise rather than for a user.
const ManagedOwnerPrefix = "enterprise:"

// CreateManaged creates a did:hedera DID on a topic of its own, held by the
// gateway for an enterprise (its managed issuer DID). It consumes no user
// limit; the DID is recorded as owned by "enterprise:<enterpriseID>", so no
// user can update or deactivate it through the identity routes.
func (s *Service) CreateManaged(ctx context.Context, enterpriseID string) (d string, doc *did.Document, err error) {
	defer func() { s.count("create", err) }()
	if enterpriseID == "" {
		return "", nil, errors.New("identity: empty enterprise ID")
	}
	topic, err := s.o.DIDs.CreateTopic(ctx)
	if err != nil {
		return "", nil, err
	}
	d, doc, err = s.o.DIDs.Create(ctx, topic, hederadid.CreateOptions{})
	if err != nil {
		return "", nil, err
	}
	if _, err := s.o.KV.Put(ctx, ns, "d/"+d, []byte(ManagedOwnerPrefix+enterpriseID), store.KVCond{Absent: true}); err != nil {
		return "", nil, err
	}
	return d, doc, nil
}

// CreateProfile adds a DID on the user's topic, within the limits.
func (s *Service) CreateProfile(ctx context.Context, userID, tier, profile string, services []did.Service) (p *Profile, doc *did.Document, err error) {
	defer func() { s.count("create", err) }()
	id, ver, err := s.load(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.o.Limits.Consume(ctx, userID, tier, limits.OpCreateDID, s.o.Now()); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = s.o.Limits.Release(context.WithoutCancel(ctx), userID, tier, limits.OpCreateDID)
		}
	}()
	d, doc, err := s.o.DIDs.Create(ctx, id.TopicID, hederadid.CreateOptions{Services: services})
	if err != nil {
		return nil, nil, err
	}
	p = &Profile{DID: d, Profile: profile, Status: "active", CreatedAt: s.o.Now()}
	if _, err := s.o.KV.Put(ctx, ns, "d/"+d, []byte(userID), store.KVCond{Absent: true}); err != nil {
		return nil, nil, err
	}
	for {
		id.Profiles = append(id.Profiles, *p)
		err = s.save(ctx, id, store.KVCond{Version: ver})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
		if id, ver, err = s.load(ctx, userID); err != nil {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return p, doc, nil
}

// owned checks that userID owns an active didStr.
func (s *Service) owned(ctx context.Context, userID, didStr string) (*Identity, uint64, int, error) {
	owner, err := s.Owner(ctx, didStr)
	if err != nil {
		return nil, 0, 0, err
	}
	if owner != userID {
		return nil, 0, 0, ErrNotOwner
	}
	id, ver, err := s.load(ctx, userID)
	if err != nil {
		return nil, 0, 0, err
	}
	i := slices.IndexFunc(id.Profiles, func(p Profile) bool { return p.DID == didStr })
	if i < 0 {
		return nil, 0, 0, ErrNotOwner
	}
	if id.Profiles[i].Status != "active" {
		return nil, 0, 0, ErrDeactivated
	}
	return id, ver, i, nil
}

// Update changes a DID document the user owns.
func (s *Service) Update(ctx context.Context, userID, didStr string, u hederadid.Update) (doc *did.Document, err error) {
	defer func() { s.count("update", err) }()
	if _, _, _, err := s.owned(ctx, userID, didStr); err != nil {
		return nil, err
	}
	doc, err = s.o.DIDs.Update(ctx, didStr, u)
	if err == nil {
		s.o.OnChange(ctx, didStr)
	}
	return doc, err
}

// AddAlias adds alias to the DID's alsoKnownAs (e.g. its .iam name).
func (s *Service) AddAlias(ctx context.Context, userID, didStr, alias string) (*did.Document, error) {
	res, err := s.o.DIDs.Resolve(ctx, didStr, did.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	aka := []string{}
	if res.Document != nil {
		aka = append(aka, res.Document.AlsoKnownAs...)
	}
	if slices.Contains(aka, alias) {
		return res.Document, nil
	}
	return s.Update(ctx, userID, didStr, hederadid.Update{AlsoKnownAs: append(aka, alias)})
}

// Deactivate deactivates a DID the user owns (not the primary) and gives
// back its profile slot.
func (s *Service) Deactivate(ctx context.Context, userID, tier, didStr string) (err error) {
	defer func() { s.count("deactivate", err) }()
	id, ver, i, err := s.owned(ctx, userID, didStr)
	if err != nil {
		return err
	}
	if id.Profiles[i].Primary {
		return ErrPrimary
	}
	if err := s.o.DIDs.Deactivate(ctx, didStr); err != nil {
		return err
	}
	s.o.OnChange(ctx, didStr)
	for {
		id.Profiles[i].Status = "deactivated"
		err = s.save(ctx, id, store.KVCond{Version: ver})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
		if id, ver, err = s.load(ctx, userID); err != nil {
			return err
		}
		if i = slices.IndexFunc(id.Profiles, func(p Profile) bool { return p.DID == didStr }); i < 0 {
			return ErrNotOwner
		}
	}
	if err != nil {
		return err
	}
	return s.o.Limits.Release(ctx, userID, tier, limits.OpCreateDID)
}
