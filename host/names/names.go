// Package names registers .iam names (the design's "Domain Management",
// section 15.2): a name is unique, held by one user (one per user by the
// usage limits), valid for a year and renewable, recorded on the ledger as
// the name's token and resolvable to its owner's DID.
//
// The token: when the ledger implements ledger.NFTLedger (both the local
// and the hedera backends do), every registration mints one NFT of the
// platform's ".iam" collection (a Hedera Token Service NFT on hedera, its
// embedded equivalent on local), held by the treasury, with the metadata
// "iam:<name>"; the name's serial is the NFT's serial number. The
// collection is created on first use and its token ID kept in the KV.
//
// Every registration, renewal or release is also a message on the
// platform's name-registry topic (created on first use), carrying the
// name, its token ID and serial, the owner DID and the expiry: HTS
// metadata cannot change after minting, so renewals and releases are
// recorded there. On a ledger without NFTs the serial comes from a
// counter in the KV and the topic is the only record.
package names

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/store"
)

// Term is how long a registration or renewal lasts.
const Term = 365 * 24 * time.Hour

// RenewWindow is how long before expiry a renewal is accepted.
const RenewWindow = 90 * 24 * time.Hour

// Grace is how long after expiry a name stays reserved for its owner
// (renewable) before anyone may register it.
const Grace = 30 * 24 * time.Hour

// Errors; test with errors.Is.
var (
	ErrInvalid  = errors.New("names: invalid .iam name")
	ErrTaken    = errors.New("names: name already registered")
	ErrNotFound = errors.New("names: name not found")
	ErrNotOwner = errors.New("names: not the owner of the name")
	ErrTooEarly = errors.New("names: renewal not open yet")
)

// labelRE: 3 to 63 characters of a-z, 0-9 and inner hyphens (no leading,
// trailing or double hyphen, which is reserved for IDNA's "xn--").
var labelRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// Normalise validates a name and returns it lower-cased.
func Normalise(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	label, ok := strings.CutSuffix(n, ".iam")
	if !ok || strings.Contains(label, ".") {
		return "", fmt.Errorf("%w: %q must be <label>.iam with a single label", ErrInvalid, name)
	}
	if len(label) < 3 || len(label) > 63 || !labelRE.MatchString(label) {
		return "", fmt.Errorf("%w: %q: the label must be 3 to 63 characters of a-z, 0-9 and single inner hyphens", ErrInvalid, name)
	}
	return n, nil
}

// Name is a registered name.
type Name struct {
	Name          string    `json:"domainName"`
	Owner         string    `json:"ownerUserId"`
	DID           string    `json:"did"`
	Serial        uint64    `json:"tokenSerial"` // NFT serial number (a KV counter on a ledger without NFTs)
	TokenID       string    `json:"tokenId"`     // the .iam NFT collection; "" on a ledger without NFTs
	TopicID       string    `json:"registryTopicId"`
	TransactionID string    `json:"transactionId"`
	Status        string    `json:"status"` // active | expired
	RegisteredAt  time.Time `json:"registeredAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
}

// Registry stores names in the KV namespace "iam" and records them on the
// ledger.
type Registry struct {
	kv     store.KV
	ledger ledger.Ledger
	now    func() time.Time
}

// New returns a registry.
func New(kv store.KV, l ledger.Ledger, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{kv: kv, ledger: l, now: now}
}

const ns = "iam"

type event struct {
	Type    string    `json:"type"` // register | renew | release
	Name    string    `json:"name"`
	Serial  uint64    `json:"serial"`
	TokenID string    `json:"tokenId,omitempty"`
	Owner   string    `json:"ownerDid"`
	Expires time.Time `json:"expires"`
}

// entity returns the ledger entity ID stored under key, creating the
// entity once with create. Two registries racing may both create one; the
// first stored wins and the other is left unused.
func (r *Registry) entity(ctx context.Context, key string, create func() (string, error)) (string, error) {
	v, _, err := r.kv.Get(ctx, ns, key)
	if err == nil {
		return string(v), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	id, err := create()
	if err != nil {
		return "", err
	}
	if _, err := r.kv.Put(ctx, ns, key, []byte(id), store.KVCond{Absent: true}); err != nil {
		if errors.Is(err, store.ErrConflict) { // created concurrently: use the winner's
			v, _, err := r.kv.Get(ctx, ns, key)
			return string(v), err
		}
		return "", err
	}
	return id, nil
}

// topic returns the registry topic, creating it once.
func (r *Registry) topic(ctx context.Context) (string, error) {
	return r.entity(ctx, "_topic", func() (string, error) {
		rc, err := r.ledger.CreateTopic(ctx, ledger.TopicOptions{Memo: "gatewayd .iam name registry"})
		if err != nil {
			return "", fmt.Errorf("names: create registry topic: %w", err)
		}
		return rc.TopicID, nil
	})
}

// collection is the NFT collection the registry mints names in.
var collection = ledger.NFTCollectionOptions{Name: "gatewayd .iam names", Symbol: "IAM", Memo: "gatewayd .iam name tokens"}

// mint mints the NFT of a name in the .iam collection, creating the
// collection once, and returns the collection's token ID and the serial.
func (r *Registry) mint(ctx context.Context, nl ledger.NFTLedger, name string) (string, uint64, error) {
	tokenID, err := r.entity(ctx, "_token", func() (string, error) {
		id, _, err := nl.CreateNFTCollection(ctx, collection)
		if err != nil {
			return "", fmt.Errorf("names: create .iam token: %w", err)
		}
		return id, nil
	})
	if err != nil {
		return "", 0, err
	}
	serial, _, err := nl.MintNFT(ctx, tokenID, []byte("iam:"+name))
	if err != nil {
		return "", 0, fmt.Errorf("names: mint %s: %w", name, err)
	}
	return tokenID, uint64(serial), nil
}

func (r *Registry) record(ctx context.Context, e event) (ledger.Receipt, string, error) {
	topic, err := r.topic(ctx)
	if err != nil {
		return ledger.Receipt{}, "", err
	}
	b, _ := json.Marshal(e)
	rc, err := r.ledger.Submit(ctx, topic, b)
	return rc, topic, err
}

func (r *Registry) nextSerial(ctx context.Context) (uint64, error) {
	for {
		v, ver, err := r.kv.Get(ctx, ns, "_serial")
		var n uint64
		cond := store.KVCond{Absent: true}
		switch {
		case err == nil:
			if err := json.Unmarshal(v, &n); err != nil {
				return 0, err
			}
			cond = store.KVCond{Version: ver}
		case !errors.Is(err, store.ErrNotFound):
			return 0, err
		}
		n++
		b, _ := json.Marshal(n)
		if _, err := r.kv.Put(ctx, ns, "_serial", b, cond); err == nil {
			return n, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return 0, err
		}
	}
}

func (r *Registry) load(ctx context.Context, name string) (*Name, uint64, error) {
	v, ver, err := r.kv.Get(ctx, ns, "n/"+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	var n Name
	if err := json.Unmarshal(v, &n); err != nil {
		return nil, 0, fmt.Errorf("names: damaged record %s: %w", name, err)
	}
	n.Status = "active"
	if !r.now().Before(n.ExpiresAt) {
		n.Status = "expired"
	}
	return &n, ver, nil
}

// Register gives name to the user whose DID is did. The caller checks and
// consumes the user's usage limit first and releases it on error.
func (r *Registry) Register(ctx context.Context, name, userID, did string) (*Name, error) {
	name, err := Normalise(name)
	if err != nil {
		return nil, err
	}
	now := r.now()
	cond := store.KVCond{Absent: true}
	old, ver, err := r.load(ctx, name)
	switch {
	case err == nil && now.Before(old.ExpiresAt.Add(Grace)):
		return nil, ErrTaken
	case err == nil:
		cond = store.KVCond{Version: ver} // lapsed past its grace: free again
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	nl, nfts := r.ledger.(ledger.NFTLedger)
	var serial uint64 // with NFTs, known once minted
	if !nfts {
		if serial, err = r.nextSerial(ctx); err != nil {
			return nil, err
		}
	}
	n := &Name{Name: name, Owner: userID, DID: did, Serial: serial, RegisteredAt: now, ExpiresAt: now.Add(Term), Status: "active"}
	// Reserve first, so that two registrations of one name cannot both
	// reach the ledger; then mint, record on the registry topic and store
	// the result. If the ledger fails, give the name back. (An NFT minted
	// before the topic message failed stays in the treasury, unused.)
	b, _ := json.Marshal(n)
	ver, err = r.kv.Put(ctx, ns, "n/"+name, b, cond)
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrTaken
	}
	if err != nil {
		return nil, err
	}
	release := func() {
		_ = r.kv.Delete(context.WithoutCancel(ctx), ns, "n/"+name, store.KVCond{Version: ver})
	}
	if nfts {
		if n.TokenID, n.Serial, err = r.mint(ctx, nl, name); err != nil {
			release()
			return nil, err
		}
	}
	rc, topic, err := r.record(ctx, event{Type: "register", Name: name, Serial: n.Serial, TokenID: n.TokenID, Owner: did, Expires: n.ExpiresAt})
	if err != nil {
		release()
		return nil, err
	}
	n.TopicID, n.TransactionID = topic, rc.TransactionID
	b, _ = json.Marshal(n)
	if _, err := r.kv.Put(ctx, ns, "n/"+name, b, store.KVCond{Version: ver}); err != nil {
		return nil, err
	}
	if _, err := r.kv.Put(ctx, ns, "o/"+userID+"/"+name, nil, store.KVCond{}); err != nil {
		return nil, err
	}
	return n, nil
}

// Renew extends a name the user owns by one Term from its current expiry,
// within RenewWindow before expiry or Grace after it.
func (r *Registry) Renew(ctx context.Context, name, userID string) (*Name, error) {
	name, err := Normalise(name)
	if err != nil {
		return nil, err
	}
	n, ver, err := r.load(ctx, name)
	if err != nil {
		return nil, err
	}
	now := r.now()
	if n.Owner != userID {
		return nil, ErrNotOwner
	}
	if now.Before(n.ExpiresAt.Add(-RenewWindow)) {
		return nil, fmt.Errorf("%w: renewals open %s", ErrTooEarly, n.ExpiresAt.Add(-RenewWindow).Format(time.RFC3339))
	}
	if !now.Before(n.ExpiresAt.Add(Grace)) {
		return nil, ErrNotFound
	}
	n.ExpiresAt = n.ExpiresAt.Add(Term)
	rc, _, err := r.record(ctx, event{Type: "renew", Name: name, Serial: n.Serial, TokenID: n.TokenID, Owner: n.DID, Expires: n.ExpiresAt})
	if err != nil {
		return nil, err
	}
	n.TransactionID = rc.TransactionID
	n.Status = "active"
	b, _ := json.Marshal(n)
	if _, err := r.kv.Put(ctx, ns, "n/"+name, b, store.KVCond{Version: ver}); err != nil {
		return nil, err
	}
	return n, nil
}

// Get returns a name, active or expired.
func (r *Registry) Get(ctx context.Context, name string) (*Name, error) {
	name, err := Normalise(name)
	if err != nil {
		return nil, err
	}
	n, _, err := r.load(ctx, name)
	return n, err
}

// ResolveName answers the DID of an active name's owner, for DID
// resolution: its errors are DID Resolution errors (invalidDid, notFound).
func (r *Registry) ResolveName(ctx context.Context, name string) (string, error) {
	n, err := r.Get(ctx, name)
	switch {
	case errors.Is(err, ErrInvalid):
		return "", did.Errorf(did.CodeInvalidDID, "%v", err)
	case errors.Is(err, ErrNotFound):
		return "", did.Errorf(did.CodeNotFound, "%s is not registered", name)
	case err != nil:
		return "", err
	}
	if n.Status != "active" {
		return "", did.Errorf(did.CodeNotFound, "%s has expired", name)
	}
	return n.DID, nil
}

// ByOwner lists the names a user holds.
func (r *Registry) ByOwner(ctx context.Context, userID string) ([]*Name, error) {
	items, err := r.kv.List(ctx, ns, "o/"+userID+"/", "", 100)
	if err != nil {
		return nil, err
	}
	var out []*Name
	for _, it := range items {
		n, _, err := r.load(ctx, strings.TrimPrefix(it.Key, "o/"+userID+"/"))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n.Owner == userID {
			out = append(out, n)
		}
	}
	return out, nil
}
