// Package didweb resolves did:web identifiers (W3C CCG "did:web Method
// Specification"): the DID names an HTTPS URL whose DID document is fetched
// through netguard, so that outsiders cannot point the gateway at private
// addresses.
package didweb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/netguard"
)

// Defaults of Options.
const (
	DefaultMaxBytes = 256 << 10
	DefaultTimeout  = 5 * time.Second
)

// Options configures a Resolver.
type Options struct {
	// Policy bounds the destinations; its Client is used unless Client is
	// set. Private addresses are refused unless the policy grants them.
	Policy *netguard.Policy
	// Client, if set, replaces Policy.Client() (tests that must trust a
	// local certificate); it should enforce the policy itself.
	Client *http.Client
	// MaxBytes caps the document size (default 256 KiB).
	MaxBytes int64
	// Timeout caps one resolution (default 5 s).
	Timeout time.Duration
}

// Resolver resolves did:web DIDs. It is safe for concurrent use.
type Resolver struct {
	policy   netguard.Policy
	client   *http.Client
	timeout  time.Duration
	maxBytes int64
}

var _ did.Resolver = (*Resolver)(nil)

// New returns a Resolver.
func New(o Options) *Resolver {
	var p netguard.Policy
	if o.Policy != nil {
		p = *o.Policy
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	p.MaxBodyBytes = o.MaxBytes
	if p.Timeout <= 0 || p.Timeout > o.Timeout {
		p.Timeout = o.Timeout
	}
	r := &Resolver{policy: p, client: o.Client, timeout: o.Timeout, maxBytes: o.MaxBytes}
	if r.client == nil {
		r.client = r.policy.Client()
	}
	return r
}

// URL returns the HTTPS URL of a did:web DID's document (did:web spec §3.2
// "Read (Resolve)"): "did:web:example.com" → https://example.com/.well-known/did.json,
// "did:web:example.com:user:alice" → https://example.com/user/alice/did.json,
// "did:web:example.com%3A8443" → https://example.com:8443/.well-known/did.json.
func URL(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "did:web:")
	if !ok || rest == "" {
		return "", did.Errorf(did.CodeInvalidDID, "not a did:web DID")
	}
	if strings.ContainsAny(rest, "/?#") {
		return "", did.Errorf(did.CodeInvalidDID, "did:web DID URLs (path, query, fragment) are not DIDs")
	}
	parts := strings.Split(rest, ":")
	host, err := url.PathUnescape(parts[0])
	if err != nil {
		return "", did.Errorf(did.CodeInvalidDID, "did:web: bad percent-encoding in host")
	}
	// Only the port separator may be percent-encoded in the host.
	if strings.Count(parts[0], "%") > 1 || (strings.Contains(parts[0], "%") && !strings.Contains(strings.ToUpper(parts[0]), "%3A")) {
		return "", did.Errorf(did.CodeInvalidDID, "did:web: only the port colon may be percent-encoded")
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, ""
	}
	if !validHost(h) {
		return "", did.Errorf(did.CodeInvalidDID, "did:web: invalid host %q", h)
	}
	if port != "" {
		if len(port) > 5 || strings.Trim(port, "0123456789") != "" || port[0] == '0' {
			return "", did.Errorf(did.CodeInvalidDID, "did:web: invalid port %q", port)
		}
	}
	path, raw := "/.well-known", "/.well-known"
	if len(parts) > 1 {
		var segs, rawSegs []string
		for _, p := range parts[1:] {
			seg, err := url.PathUnescape(p)
			if err != nil || seg == "" || seg == "." || seg == ".." || strings.Contains(seg, "/") {
				return "", did.Errorf(did.CodeInvalidDID, "did:web: invalid path segment %q", p)
			}
			segs = append(segs, seg)
			rawSegs = append(rawSegs, url.PathEscape(seg))
		}
		path, raw = "/"+strings.Join(segs, "/"), "/"+strings.Join(rawSegs, "/")
	}
	u := url.URL{Scheme: "https", Host: host, Path: path + "/did.json", RawPath: raw + "/did.json"}
	return u.String(), nil
}

// validHost accepts a DNS name (letters, digits, hyphens, dots) or an IP
// literal; the address checks are netguard's.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Resolve implements did.Resolver. The document must be strict JSON (one
// object, no trailing data) whose id equals the DID. Version options are
// not supported by did:web.
func (r *Resolver) Resolve(ctx context.Context, s string, opts did.ResolveOptions) (*did.Resolution, error) {
	if opts.VersionTime != nil || opts.VersionID != "" {
		return nil, did.Errorf(did.CodeInvalidOptions, "did:web has no versions")
	}
	u, err := URL(s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	pu, _ := url.Parse(u)
	if err := r.policy.CheckURL(pu); err != nil {
		return nil, did.Wrap(did.CodeNotFound, "did:web: this resolver may not fetch from the DID's host", err)
	}
	status, _, body, err := r.policy.Get(ctx, r.client, u, http.Header{"Accept": {"application/did+json, application/json;q=0.9"}})
	switch {
	// The causes (addresses a name resolved to, dial errors) stay out of
	// the messages: they would tell anyone what this resolver's network
	// looks like.
	case errors.Is(err, netguard.ErrDenied):
		return nil, did.Wrap(did.CodeNotFound, "did:web: this resolver may not fetch from the DID's host", err)
	case errors.Is(err, netguard.ErrTooLarge):
		return nil, did.Wrap(did.CodeInternalError, fmt.Sprintf("did:web: document larger than %d bytes", r.maxBytes), err)
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		return nil, did.Wrap(did.CodeUnavailable, "did:web: fetching the document timed out", err)
	case err != nil:
		return nil, did.Wrap(did.CodeUnavailable, "did:web: fetching the document failed", err)
	case status == http.StatusNotFound || status == http.StatusGone:
		return nil, did.Errorf(did.CodeNotFound, "did:web: %s answered %d", u, status)
	case status != http.StatusOK:
		return nil, did.Errorf(did.CodeUnavailable, "did:web: %s answered %d", u, status)
	}
	doc, err := decode(body)
	if err != nil {
		return nil, did.Errorf(did.CodeInternalError, "did:web: invalid DID document: %w", err)
	}
	if doc.ID != s {
		return nil, did.Errorf(did.CodeInternalError, "did:web: document id %q does not match the DID", doc.ID)
	}
	return &did.Resolution{
		Document:           doc,
		ResolutionMetadata: did.ResolutionMetadata{ContentType: did.MediaTypeDIDJSON, Retrieved: time.Now().UTC()},
	}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// decode parses exactly one JSON object and nothing after it.
func decode(b []byte) (*did.Document, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var doc did.Document
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the document")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("trailing data after the document")
	}
	return &doc, nil
}
