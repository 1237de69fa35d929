package credentials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ubeu/gateway/host/vc/contexts"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/statuslist"
	"github.com/ubeu/gateway/host/vc/vcjwt"
)

// Check outcomes.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
)

// Check is one check of a verification.
type Check struct {
	Check   string `json:"check"`
	Status  string `json:"status"` // passed | failed | skipped
	Message string `json:"message,omitempty"`
}

// Verification is the answer of Verify: every check made, in order.
type Verification struct {
	Verified bool     `json:"verified"`
	Format   string   `json:"format,omitempty"`
	ID       string   `json:"id,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	Checks   []Check  `json:"checks"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	// Credential is the verified credential's JSON (the JWT payload for a
	// vc+jwt), nil when it could not be read.
	Credential json.RawMessage `json:"-"`
}

func (v *Verification) add(check, status, msg string) {
	v.Checks = append(v.Checks, Check{Check: check, Status: status, Message: msg})
	if status == Failed {
		v.Errors = append(v.Errors, check+": "+msg)
	}
}

func (v *Verification) done() *Verification {
	v.Verified = len(v.Errors) == 0 && len(v.Checks) > 0
	if v.Errors == nil {
		v.Errors = []string{}
	}
	if v.Warnings == nil {
		v.Warnings = []string{}
	}
	return v
}

// VerifyOptions adjust Verify.
type VerifyOptions struct {
	// Now is the time validity is checked at; zero means now.
	Now time.Time
}

// Verify checks a secured credential: a JSON object with a Data Integrity
// proof, a vc+jwt (raw or as a JSON string), or an
// EnvelopedVerifiableCredential whose id is a data: URL of a vc+jwt
// (VCDM 2.0 § 4.13). It never returns a "verified" for anything it could
// not check; the error is only for a cancelled context.
func (s *Service) Verify(ctx context.Context, input []byte, o VerifyOptions) (*Verification, error) {
	v := &Verification{}
	now := o.Now
	if now.IsZero() {
		now = s.now()
	}
	if len(input) > s.o.MaxCredentialBytes {
		v.add("format", Failed, fmt.Sprintf("credential of %d bytes exceeds %d", len(input), s.o.MaxCredentialBytes))
		return v.done(), nil
	}
	input = bytes.TrimSpace(input)
	sum := sha256.Sum256(input)
	if hit := s.proofs.get(sum, now); hit != nil && !s.noProofCache && s.stillValid(ctx, hit) {
		v.Format = hit.format
		v.add("format", Passed, "")
		v.add("proof", Passed, hit.proofMsg)
		v.Credential = hit.raw
		return s.checkClaims(ctx, v, hit.claims, now), ctx.Err()
	}
	var vmUsed string
	var pub crypto.PublicKey
	tok, problem := joseToken(input, "EnvelopedVerifiableCredential", "vc+jwt", "credential")
	if problem != "" {
		v.add("format", Failed, problem)
		return v.done(), nil
	}
	var cred map[string]any
	if tok != "" {
		v.Format = FormatJWT
		payload, _, err := vcjwt.Verify(ctx, tok, func(ctx context.Context, kid string) (crypto.PublicKey, error) {
			k, err := s.methodKey(ctx, kid, "assertionMethod")
			vmUsed, pub = kid, k
			return k, err
		})
		if err != nil {
			if errors.Is(err, vcjwt.ErrMalformed) || errors.Is(err, vcjwt.ErrPayload) || errors.Is(err, vcjwt.ErrType) {
				v.add("format", Failed, trimPkg(err))
			} else {
				v.add("format", Passed, "")
				v.add("proof", Failed, trimPkg(err))
			}
			return v.done(), ctx.Err()
		}
		v.add("format", Passed, "")
		v.add("proof", Passed, "vc+jwt signature")
		v.Credential = payload
		if err := json.Unmarshal(payload, &cred); err != nil {
			v.add("format", Failed, "payload is not a JSON object")
			return v.done(), nil
		}
	} else {
		v.Format = FormatDataIntegrity
		if err := json.Unmarshal(input, &cred); err != nil {
			v.add("format", Failed, "not a JSON object: "+err.Error())
			return v.done(), nil
		}
		if !hasType(cred["type"], "VerifiableCredential") {
			v.add("format", Failed, "type does not include VerifiableCredential")
			return v.done(), nil
		}
		v.add("format", Passed, "")
		iss := issuerID(cred)
		res, err := dataintegrity.VerifyWithLimits(ctx, s.limits(), input, func(ctx context.Context, vm string) (ed25519.PublicKey, error) {
			vmUsed = vm
			if d, _, _ := strings.Cut(vm, "#"); d != iss {
				return nil, fmt.Errorf("%w: %s does not belong to the issuer %s", errKey, vm, iss)
			}
			k, err := s.methodKey(ctx, vm, "assertionMethod")
			if err != nil {
				return nil, err
			}
			ek, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("%w: %s is not an Ed25519 key", errKey, vm)
			}
			pub = ek
			return ek, nil
		})
		switch {
		case err != nil:
			v.add("proof", Failed, trimPkg(err))
			return v.done(), ctx.Err()
		case res.ProofPurpose != "assertionMethod":
			v.add("proof", Failed, fmt.Sprintf("proof purpose %q, want assertionMethod", res.ProofPurpose))
			return v.done(), nil
		case !res.Expires.IsZero() && !now.Before(res.Expires):
			v.add("proof", Failed, "the proof expired at "+res.Expires.UTC().Format(time.RFC3339))
			return v.done(), nil
		}
		v.add("proof", Passed, res.Cryptosuite+" by "+vmUsed)
		v.Credential = input
		if !res.Expires.IsZero() {
			// A proof with an expiry is re-verified each time.
			return s.checkClaims(ctx, v, s.prepareClaims(cred), now), ctx.Err()
		}
	}
	msg := v.Checks[len(v.Checks)-1].Message
	cl := s.prepareClaims(cred)
	s.proofs.put(sum, &provenProof{format: v.Format, claims: cl, raw: v.Credential, vm: vmUsed, pub: pub, proofMsg: msg}, now)
	return s.checkClaims(ctx, v, cl, now), ctx.Err()
}

// checkClaims runs the checks that do not depend on the proof: validity
// window, status, schema and related resources. claims is the credential's
// prepared form (prepareClaims), kept with a proven proof so that a repeat
// verification does not read the credential again.
func (s *Service) checkClaims(ctx context.Context, v *Verification, cl *claims, now time.Time) *Verification {
	v.ID, v.Issuer = cl.id, cl.issuer
	s.checkValidity(v, cl, now)
	s.checkStatus(ctx, v, cl)
	s.checkSchema(ctx, v, cl.cred)
	s.checkRelated(ctx, v, cl.cred)
	return v.done()
}

// claims is what the checks of checkClaims read from a credential, parsed
// once: the validity dates and the status entries. Read-only.
type claims struct {
	cred     map[string]any
	id       string
	issuer   string
	validity []validityBound
	// statusErr is a credentialStatus that is not one or more objects.
	statusErr error
	status    []statusEntry
}

type validityBound struct {
	name string // validFrom or validUntil
	t    time.Time
	ok   bool // an XML Schema dateTimeStamp
}

type statusEntry struct {
	name        string // "status.<purpose>"
	unsupported bool   // not a BitstringStatusListEntry, of type typ
	typ         any
	own         bool // a list of this gateway's registry
	listID      string
	parsed      *statuslist.ParsedEntry
	parseErr    error
}

func (s *Service) prepareClaims(cred map[string]any) *claims {
	cl := &claims{cred: cred, issuer: issuerID(cred)}
	cl.id, _ = cred["id"].(string)
	for _, k := range []string{"validFrom", "validUntil"} {
		if x, has := cred[k]; has {
			t, ok := parseDateTime(x)
			cl.validity = append(cl.validity, validityBound{name: k, t: t, ok: ok})
		}
	}
	raw, has := cred["credentialStatus"]
	if !has {
		return cl
	}
	es, err := entries("credentialStatus", raw)
	if err != nil {
		cl.statusErr = err
		return cl
	}
	for _, e := range es {
		purpose, _ := e["statusPurpose"].(string)
		se := statusEntry{name: "status." + purpose}
		if !hasType(e["type"], "BitstringStatusListEntry") {
			se.unsupported, se.typ = true, e["type"]
		} else {
			u, _ := e["statusListCredential"].(string)
			_, se.listID, se.own = s.o.Status.ParseListURL(u)
			se.parsed, se.parseErr = statuslist.ParseEntry(e)
		}
		cl.status = append(cl.status, se)
	}
	return cl
}

// provenProof is a credential whose proof verified: the credential as
// decoded (read-only), the verification method and the key it verified
// with.
type provenProof struct {
	format   string
	claims   *claims
	raw      json.RawMessage
	vm       string
	pub      crypto.PublicKey
	proofMsg string
	expires  time.Time
}

// stillValid reports whether a proven proof still stands: the issuer's DID
// (resolved again, from the edge cache) still lists the same key under
// assertionMethod. A rotated or removed key makes the credential verify
// from scratch.
func (s *Service) stillValid(ctx context.Context, p *provenProof) bool {
	k, err := s.methodKey(ctx, p.vm, "assertionMethod")
	if err != nil {
		return false
	}
	eq, ok := k.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(p.pub)
}

// proofCache remembers proofs that verified, by the SHA-256 of the
// secured credential's bytes, so that an edge verifier checking the same
// credential again pays for the status and validity checks only. Bounded;
// entries live ten minutes.
type proofCache struct {
	mu sync.Mutex
	m  map[[32]byte]*provenProof
}

const (
	proofCacheMax = 20000
	proofCacheTTL = 10 * time.Minute
)

func (c *proofCache) get(k [32]byte, now time.Time) *provenProof {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.m[k]
	if p == nil || !now.Before(p.expires) {
		return nil
	}
	return p
}

func (c *proofCache) put(k [32]byte, p *provenProof, now time.Time) {
	if p.vm == "" || p.pub == nil {
		return
	}
	p.expires = now.Add(proofCacheTTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= proofCacheMax {
		c.m = make(map[[32]byte]*provenProof)
	}
	c.m[k] = p
}

// joseToken tells a JOSE-secured document from a JSON one (input already
// trimmed): a raw compact JWS, one as a JSON string, or an enveloped one
// (VCDM 2.0 § 4.13: type envType, id "data:application/<media>,<JWS>")
// give the token; a JSON object gives "". problem says why input is
// neither; noun names the document in it.
func joseToken(input []byte, envType, media, noun string) (tok, problem string) {
	switch {
	case len(input) > 0 && input[0] == '"':
		if json.Unmarshal(input, &tok) != nil {
			return "", "not a JSON string"
		}
		return tok, ""
	case len(input) > 0 && input[0] == '{':
		var env struct {
			Type any    `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(input, &env) != nil || !hasType(env.Type, envType) {
			return "", ""
		}
		t, ok := strings.CutPrefix(env.ID, "data:application/"+media+",")
		if !ok {
			return "", envType + " id must be a data:application/" + media + ", URL"
		}
		return t, ""
	case bytes.HasPrefix(input, []byte("ey")):
		return string(input), ""
	}
	return "", "neither a JSON " + noun + " nor a " + media
}

func (s *Service) limits() dataintegrity.Limits {
	lim := s.o.Limits
	lim.MaxInputBytes = max(lim.MaxInputBytes, s.o.MaxCredentialBytes)
	return lim
}

func trimPkg(err error) string {
	m := err.Error()
	for _, p := range []string{"dataintegrity: ", "vcjwt: ", "statuslist: ", "credentials: "} {
		m = strings.TrimPrefix(m, p)
	}
	return m
}

func hasType(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case []any:
		for _, e := range x {
			if e == want {
				return true
			}
		}
	}
	return false
}

func (s *Service) checkValidity(v *Verification, cl *claims, now time.Time) {
	for _, b := range cl.validity {
		switch {
		case !b.ok:
			v.add(b.name, Failed, "not an XML Schema dateTimeStamp")
		case b.name == "validFrom" && now.Before(b.t):
			v.add(b.name, Failed, "not valid before "+b.t.UTC().Format(time.RFC3339))
		case b.name == "validUntil" && !now.Before(b.t):
			v.add(b.name, Failed, "expired at "+b.t.UTC().Format(time.RFC3339))
		default:
			v.add(b.name, Passed, "")
		}
	}
}

// checkStatus checks every BitstringStatusListEntry: lists of this
// gateway straight from the registry (a change is seen at once), other
// issuers' lists fetched (their proof verified, their issuer the
// credential's) and cached for StatusTTL.
func (s *Service) checkStatus(ctx context.Context, v *Verification, cl *claims) {
	if cl.statusErr != nil {
		v.add("status", Failed, trimPkg(cl.statusErr))
		return
	}
	for _, e := range cl.status {
		name := e.name
		if e.unsupported {
			v.add(name, Skipped, fmt.Sprintf("status type %v is not supported", e.typ))
			v.Warnings = append(v.Warnings, fmt.Sprintf("credentialStatus of type %v not checked", e.typ))
			continue
		}
		purpose := strings.TrimPrefix(name, "status.")
		var st statuslist.Status
		err := e.parseErr
		switch {
		case err != nil:
		case e.own:
			listID := e.listID
			st, err = s.own.CheckEntry(ctx, e.parsed, func(ctx context.Context, _ string) ([]byte, string, error) {
				b, etag, _, err := s.o.Status.ServeBytes(ctx, listID)
				return b, etag, err
			})
		default:
			iss := v.Issuer
			st, err = s.foreign.CheckEntry(ctx, e.parsed, func(ctx context.Context, u string) ([]byte, string, error) {
				b, err := s.fetchStatusList(ctx, u, iss)
				return b, "", err
			})
		}
		switch {
		case err != nil:
			v.add(name, Failed, trimPkg(err))
		case st.Set && purpose == statuslist.PurposeRevocation:
			v.add(name, Failed, "the credential is revoked")
		case st.Set && purpose == statuslist.PurposeSuspension:
			v.add(name, Failed, "the credential is suspended")
		case st.Set:
			v.add(name, Failed, fmt.Sprintf("status %d %s", st.Value, st.Message))
		default:
			v.add(name, Passed, "")
		}
	}
}

// fetchStatusList fetches another issuer's status list credential and
// verifies it: its proof (Data Integrity or vc+jwt) and that its issuer is
// the credential's.
func (s *Service) fetchStatusList(ctx context.Context, u, issuer string) ([]byte, error) {
	if s.o.Fetch == nil {
		return nil, errors.New("fetching remote status lists is not configured")
	}
	raw, err := s.o.Fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	inner, err := s.Verify(ctx, raw, VerifyOptions{})
	if err != nil {
		return nil, err
	}
	for _, c := range inner.Checks {
		if (c.Check == "format" || c.Check == "proof") && c.Status == Failed {
			return nil, fmt.Errorf("status list credential %s: %s", c.Check, c.Message)
		}
	}
	if inner.Issuer != issuer {
		return nil, fmt.Errorf("status list issued by %s, not by the credential's issuer %s", inner.Issuer, issuer)
	}
	return inner.Credential, nil
}

func (s *Service) checkSchema(ctx context.Context, v *Verification, c map[string]any) {
	if _, has := c["credentialSchema"]; !has {
		return
	}
	if s.o.Schemas == nil {
		v.add("schema", Skipped, "schema validation is not configured")
		v.Warnings = append(v.Warnings, "credentialSchema not checked")
		return
	}
	b, _ := json.Marshal(c)
	rs, err := s.o.Schemas.Validate(ctx, b)
	if err != nil {
		v.add("schema", Failed, trimPkg(err))
		return
	}
	for _, r := range rs {
		if r.Valid {
			v.add("schema", Passed, r.ID)
			continue
		}
		msg := r.ID
		if len(r.Errors) > 0 {
			msg += ": " + strings.Join(r.Errors[:min(len(r.Errors), 5)], "; ")
		}
		v.add("schema", Failed, msg)
	}
}

// checkRelated checks the digest of every relatedResource (VCDM 2.0 §
// 5.3): embedded JSON-LD contexts are hashed as embedded, anything else
// is fetched.
func (s *Service) checkRelated(ctx context.Context, v *Verification, c map[string]any) {
	raw, has := c["relatedResource"]
	if !has {
		return
	}
	es, err := entries("relatedResource", raw)
	if err != nil {
		v.add("relatedResource", Failed, trimPkg(err))
		return
	}
	for _, e := range es {
		id, _ := e["id"].(string)
		body, ok := contexts.Bytes(id)
		if !ok {
			if s.o.Fetch == nil {
				v.add("relatedResource", Failed, id+": fetching remote resources is not configured")
				continue
			}
			if body, err = s.o.Fetch(ctx, id); err != nil {
				v.add("relatedResource", Failed, id+": "+err.Error())
				continue
			}
		}
		if err := digestMatches(e, body); err != nil {
			v.add("relatedResource", Failed, id+": "+err.Error())
			continue
		}
		v.add("relatedResource", Passed, id)
	}
}
