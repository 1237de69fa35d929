// Package dnsverify lets an enterprise issuer prove that it controls its
// parent domain with a DNS TXT challenge.
//
// Initiate issues a challenge: the enterprise publishes a TXT record
//
//	_gatewayd-challenge.<domain>.  IN TXT  "gatewayd-verification=<52 base32 characters>"
//
// The record name is stable per domain (so a DNS administrator can keep the
// record and only change its value); the value is fresh for every
// challenge: 32 bytes from crypto/rand, base32 without padding. A challenge
// expires after Options.TTL (72 hours by default). Each enterprise has at
// most one active challenge; initiating again replaces it, so the old value
// no longer verifies.
//
// Verify looks the record up through a real DNS resolver (Options.Server,
// or the system's resolvers from /etc/resolv.conf), as a DNS client built
// on github.com/miekg/dns: UDP with EDNS0, retried over TCP when the answer
// is truncated, following a bounded chain of CNAMEs from the record name.
// Each TXT record's character-strings are concatenated (a value longer than
// 255 octets is split into several strings; RFC 7208 §3.3 practice) and the
// result compared with the expected value in constant time. A successful
// verification is recorded and is single-use: a second Verify of the same
// challenge fails with ErrAlreadyVerified.
//
// Challenges are persisted in a store.KV (namespace Namespace, key the
// enterprise ID) with compare-and-swap writes, so that concurrent
// Initiate/Verify calls cannot resurrect or double-spend a challenge.
package dnsverify

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ubeu/gateway/host/store"
)

// Format of the challenge record.
const (
	// RecordPrefix is the first label of the challenge record name.
	RecordPrefix = "_gatewayd-challenge"
	// ValuePrefix starts every challenge value.
	ValuePrefix = "gatewayd-verification="
	// Namespace is the store.KV namespace of the challenges.
	Namespace = "dnsverify"
	// DefaultTTL is the default lifetime of a challenge.
	DefaultTTL = 72 * time.Hour
	// DefaultTimeout bounds a whole Verify lookup by default.
	DefaultTimeout = 5 * time.Second
	// maxEnterpriseID bounds the KV key.
	maxEnterpriseID = 256
)

// Errors of the Challenger. Lookup failures wrap ErrLookup together with
// the underlying cause (a net.Error timeout, context.DeadlineExceeded, …).
var (
	// ErrNoChallenge means the enterprise has no challenge.
	ErrNoChallenge = errors.New("dnsverify: no challenge initiated")
	// ErrExpired means the challenge has expired; initiate a new one.
	ErrExpired = errors.New("dnsverify: challenge expired")
	// ErrAlreadyVerified means the challenge was already used.
	ErrAlreadyVerified = errors.New("dnsverify: challenge already verified")
	// ErrSuperseded means the challenge was replaced while it was being
	// verified.
	ErrSuperseded = errors.New("dnsverify: challenge replaced during verification")
	// ErrLookup means the DNS lookup failed (timeout, server failure,
	// refused, malformed answer, CNAME loop).
	ErrLookup = errors.New("dnsverify: DNS lookup failed")
	// ErrInvalidEnterprise means the enterprise ID is empty or too long.
	ErrInvalidEnterprise = errors.New("dnsverify: invalid enterprise ID")
)

// Options configures a Challenger. The zero value uses the system resolver.
type Options struct {
	// Server is the DNS server to query, "host:port" (port 53 if omitted).
	// Empty means the nameservers of /etc/resolv.conf, tried in order.
	Server string
	// Timeout bounds a whole Verify lookup, all queries included
	// (DefaultTimeout if zero).
	Timeout time.Duration
	// TTL is the lifetime of a challenge (DefaultTTL if zero).
	TTL time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Rand is the source of challenge values (crypto/rand if nil).
	Rand io.Reader
	// ResolvConf is the resolver configuration file used when Server is
	// empty ("/etc/resolv.conf" if empty).
	ResolvConf string
}

// Challenge is what the enterprise must publish.
type Challenge struct {
	RecordName  string    `json:"recordName"`
	RecordValue string    `json:"recordValue"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// Result is the outcome of a lookup. Found lists the TXT values seen at the
// record name (each record's strings concatenated), at most maxFound of
// them, for the operator's diagnosis.
type Result struct {
	Verified bool
	Found    []string
}

// Record is a stored challenge.
type Record struct {
	Domain      string    `json:"domain"`
	RecordName  string    `json:"recordName"`
	RecordValue string    `json:"recordValue"`
	CreatedAt   time.Time `json:"createdAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
	VerifiedAt  time.Time `json:"verifiedAt,omitzero"`
}

// Challenger issues and verifies DNS challenges. It is safe for concurrent
// use.
type Challenger struct {
	kv  store.KV
	o   Options
	res *resolver
}

// New returns a Challenger over kv.
func New(kv store.KV, o Options) (*Challenger, error) {
	if kv == nil {
		return nil, errors.New("dnsverify: nil KV")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.ResolvConf == "" {
		o.ResolvConf = "/etc/resolv.conf"
	}
	res, err := newResolver(o.Server, o.ResolvConf)
	if err != nil {
		return nil, err
	}
	return &Challenger{kv: kv, o: o, res: res}, nil
}

// RecordName returns the challenge record name of a normalised domain.
func RecordName(domain string) string { return RecordPrefix + "." + domain }

var valueEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func checkEnterprise(id string) error {
	if id == "" || len(id) > maxEnterpriseID {
		return ErrInvalidEnterprise
	}
	return nil
}

// Initiate issues a fresh challenge for the enterprise's domain, replacing
// any previous one (verified or not).
func (c *Challenger) Initiate(ctx context.Context, enterpriseID, domain string) (Challenge, error) {
	if err := checkEnterprise(enterpriseID); err != nil {
		return Challenge{}, err
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return Challenge{}, err
	}
	var raw [32]byte
	if _, err := io.ReadFull(c.o.Rand, raw[:]); err != nil {
		return Challenge{}, fmt.Errorf("dnsverify: random value: %w", err)
	}
	now := c.o.Now()
	r := Record{
		Domain:      d,
		RecordName:  RecordName(d),
		RecordValue: ValuePrefix + valueEncoding.EncodeToString(raw[:]),
		CreatedAt:   now.UTC(),
		ExpiresAt:   now.Add(c.o.TTL).UTC(),
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return Challenge{}, err
	}
	if _, err := c.kv.Put(ctx, Namespace, enterpriseID, b, store.KVCond{}); err != nil {
		return Challenge{}, fmt.Errorf("dnsverify: store challenge: %w", err)
	}
	return Challenge{RecordName: r.RecordName, RecordValue: r.RecordValue, ExpiresAt: r.ExpiresAt}, nil
}

// Get returns the enterprise's stored challenge, or ErrNoChallenge.
func (c *Challenger) Get(ctx context.Context, enterpriseID string) (Record, error) {
	r, _, err := c.load(ctx, enterpriseID)
	return r, err
}

func (c *Challenger) load(ctx context.Context, enterpriseID string) (Record, uint64, error) {
	if err := checkEnterprise(enterpriseID); err != nil {
		return Record{}, 0, err
	}
	b, ver, err := c.kv.Get(ctx, Namespace, enterpriseID)
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, 0, ErrNoChallenge
	}
	if err != nil {
		return Record{}, 0, fmt.Errorf("dnsverify: load challenge: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, 0, fmt.Errorf("dnsverify: corrupt challenge record: %w", err)
	}
	return r, ver, nil
}

// Verify looks the enterprise's challenge record up and reports whether it
// holds the expected value. A record that is absent (NXDOMAIN, or no TXT
// data) or holds other values is not an error: Verified is false and Found
// says what was seen. A success is recorded, and the challenge cannot be
// verified again (ErrAlreadyVerified). ErrNoChallenge, ErrExpired,
// ErrSuperseded and ErrLookup (wrapped) report the failures.
func (c *Challenger) Verify(ctx context.Context, enterpriseID string) (Result, error) {
	r, ver, err := c.load(ctx, enterpriseID)
	if err != nil {
		return Result{}, err
	}
	if !r.VerifiedAt.IsZero() {
		return Result{}, ErrAlreadyVerified
	}
	if !c.o.Now().Before(r.ExpiresAt) {
		return Result{}, ErrExpired
	}
	lctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	found, err := c.res.lookupTXT(lctx, r.RecordName)
	cancel()
	if err != nil {
		return Result{}, err
	}
	res := Result{Found: found[:min(len(found), maxFound)]}
	want := []byte(r.RecordValue)
	match := 0
	for _, v := range found {
		match |= subtle.ConstantTimeCompare([]byte(v), want)
	}
	if match == 0 {
		return res, nil
	}
	now := c.o.Now()
	if !now.Before(r.ExpiresAt) { // expired while we were looking
		return Result{}, ErrExpired
	}
	r.VerifiedAt = now.UTC()
	b, err := json.Marshal(&r)
	if err != nil {
		return Result{}, err
	}
	if _, err := c.kv.Put(ctx, Namespace, enterpriseID, b, store.KVCond{Version: ver}); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			// Someone verified or replaced it meanwhile.
			if cur, _, lerr := c.load(ctx, enterpriseID); lerr == nil &&
				cur.RecordValue == r.RecordValue && !cur.VerifiedAt.IsZero() {
				return Result{}, ErrAlreadyVerified
			}
			return Result{}, ErrSuperseded
		}
		return Result{}, fmt.Errorf("dnsverify: store verification: %w", err)
	}
	res.Verified = true
	return res, nil
}
