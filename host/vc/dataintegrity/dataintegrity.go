// Package dataintegrity secures and verifies JSON documents with W3C Data Integrity proofs using
// the EdDSA cryptosuites of "Data Integrity EdDSA Cryptosuites v1.0": eddsa-jcs-2022 (JSON
// Canonicalization Scheme, RFC 8785) and eddsa-rdfc-2022 (RDF Dataset Canonicalization,
// RDFC-1.0, over JSON-LD processed with the embedded contexts of host/vc/contexts only).
//
// The hash data is SHA-256(canonical proof configuration) ‖ SHA-256(canonical document) and the
// proofValue is the Ed25519 signature over it, multibase base58btc encoded ("z…").
package dataintegrity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/mr-tron/base58"
)

// Cryptosuite names.
const (
	EdDSAJCS2022  = "eddsa-jcs-2022"
	EdDSARDFC2022 = "eddsa-rdfc-2022"
)

// ProofType is the only proof type these cryptosuites produce.
const ProofType = "DataIntegrityProof"

// Errors. Verify and Sign wrap one of these, so callers can tell failures apart with errors.Is.
var (
	ErrMalformed          = errors.New("dataintegrity: malformed document or proof")
	ErrUnknownCryptosuite = errors.New("dataintegrity: unknown cryptosuite")
	ErrUnknownTerm        = errors.New("dataintegrity: term not defined by the document's contexts")
	ErrLimit              = errors.New("dataintegrity: canonicalisation limit exceeded")
	ErrKeyResolution      = errors.New("dataintegrity: verification method could not be resolved")
	ErrInvalidSignature   = errors.New("dataintegrity: signature does not verify")
)

// Limits bound the work canonicalisation may do on one document. RDFC-1.0 is exponential on
// crafted inputs, so rdfc is bounded by size, blank nodes and time; jcs only by size.
type Limits struct {
	MaxInputBytes int           // size of the JSON document
	MaxBlankNodes int           // blank nodes in the RDF dataset of document or proof
	Timeout       time.Duration // canonicalisation deadline, applied on top of ctx
}

// DefaultLimits are used by Sign and Verify when no limits are given.
var DefaultLimits = Limits{MaxInputBytes: 1 << 20, MaxBlankNodes: 256, Timeout: 2 * time.Second}

// ProofOptions configure a proof created by Sign.
type ProofOptions struct {
	Cryptosuite        string    // EdDSAJCS2022 or EdDSARDFC2022; empty means EdDSARDFC2022
	VerificationMethod string    // URL of the Multikey verification method, required
	ProofPurpose       string    // empty means "assertionMethod"
	Created            time.Time // zero means omitted; written as XMLSchema dateTime in UTC, seconds
	Expires            time.Time // zero means omitted
	Domain             string
	Challenge          string
	Nonce              string
	Limits             *Limits // nil means DefaultLimits
}

// Result describes a proof that verified.
type Result struct {
	Cryptosuite        string
	VerificationMethod string
	ProofPurpose       string
	Created            time.Time // zero if the proof has none
	Expires            time.Time // zero if the proof has none
	Domain             string
	Challenge          string
}

// KeyResolver returns the Ed25519 public key of a verification method, or an error if it is not
// one the verifier accepts (for example not listed in the issuer's DID document).
type KeyResolver func(ctx context.Context, verificationMethod string) (ed25519.PublicKey, error)

// Sign adds a DataIntegrityProof to doc, which is a map[string]any, a []byte or a
// json.RawMessage holding a JSON object, and returns the secured document as JSON.
func Sign(ctx context.Context, doc any, key ed25519.PrivateKey, opts ProofOptions) ([]byte, error) {
	lim := DefaultLimits
	if opts.Limits != nil {
		lim = *opts.Limits
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("dataintegrity: private key has %d bytes", len(key))
	}
	var raw []byte
	switch d := doc.(type) {
	case []byte:
		raw = d
	case json.RawMessage:
		raw = d
	case map[string]any:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		raw = b
	default:
		return nil, fmt.Errorf("%w: document of type %T", ErrMalformed, doc)
	}
	if len(raw) > lim.MaxInputBytes {
		return nil, fmt.Errorf("%w: document of %d bytes (max %d)", ErrLimit, len(raw), lim.MaxInputBytes)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	unsecured, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: document is not a JSON object", ErrMalformed)
	}
	if _, has := unsecured["proof"]; has {
		return nil, fmt.Errorf("%w: document already has a proof (proof sets and chains are not supported)", ErrMalformed)
	}
	suite := opts.Cryptosuite
	if suite == "" {
		suite = EdDSARDFC2022
	}
	if suite != EdDSAJCS2022 && suite != EdDSARDFC2022 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCryptosuite, suite)
	}
	if opts.VerificationMethod == "" {
		return nil, fmt.Errorf("%w: no verification method", ErrMalformed)
	}
	purpose := opts.ProofPurpose
	if purpose == "" {
		purpose = "assertionMethod"
	}
	proof := map[string]any{
		"type":               ProofType,
		"cryptosuite":        suite,
		"verificationMethod": opts.VerificationMethod,
		"proofPurpose":       purpose,
	}
	if !opts.Created.IsZero() {
		proof["created"] = opts.Created.UTC().Format(time.RFC3339)
	}
	if !opts.Expires.IsZero() {
		proof["expires"] = opts.Expires.UTC().Format(time.RFC3339)
	}
	if opts.Domain != "" {
		proof["domain"] = opts.Domain
	}
	if opts.Challenge != "" {
		proof["challenge"] = opts.Challenge
	}
	if opts.Nonce != "" {
		proof["nonce"] = opts.Nonce
	}
	hashData, err := hashData(ctx, suite, unsecured, proof, lim)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, hashData)
	// eddsa-jcs-2022 keeps the proof's @context in the secured document; eddsa-rdfc-2022 does
	// not (the document's @context covers it), as in the specification's examples.
	if suite == EdDSARDFC2022 {
		delete(proof, "@context")
	}
	proof["proofValue"] = "z" + base58.Encode(sig)
	unsecured["proof"] = proof
	out, err := json.Marshal(unsecured)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

// Verify checks the single DataIntegrityProof of securedDoc with DefaultLimits.
func Verify(ctx context.Context, securedDoc []byte, resolveKey KeyResolver) (Result, error) {
	return VerifyWithLimits(ctx, DefaultLimits, securedDoc, resolveKey)
}

var dateTimeRE = regexp.MustCompile(`^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$`)

// VerifyWithLimits is Verify with explicit limits. It never returns a nil error unless the
// signature verified; the Result is meaningful only then.
func VerifyWithLimits(ctx context.Context, lim Limits, securedDoc []byte, resolveKey KeyResolver) (Result, error) {
	var res Result
	if len(securedDoc) > lim.MaxInputBytes {
		return res, fmt.Errorf("%w: document of %d bytes (max %d)", ErrLimit, len(securedDoc), lim.MaxInputBytes)
	}
	v, err := decodeJSON(securedDoc)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return res, fmt.Errorf("%w: document is not a JSON object", ErrMalformed)
	}
	proof, ok := doc["proof"].(map[string]any)
	if set, isSet := doc["proof"].([]any); isSet && len(set) == 1 {
		// A proof set of one proof (as the Open Badges 3.0 schema writes
		// every proof) is that proof.
		proof, ok = set[0].(map[string]any)
	}
	if !ok {
		return res, fmt.Errorf("%w: no proof object (proof sets of more than one proof are not supported)", ErrMalformed)
	}
	delete(doc, "proof")
	str := func(k string) (string, bool) { s, ok := proof[k].(string); return s, ok }
	if t, _ := str("type"); t != ProofType {
		return res, fmt.Errorf("%w: proof type %v, want %s", ErrMalformed, proof["type"], ProofType)
	}
	suite, _ := str("cryptosuite")
	if suite != EdDSAJCS2022 && suite != EdDSARDFC2022 {
		return res, fmt.Errorf("%w: %v", ErrUnknownCryptosuite, proof["cryptosuite"])
	}
	pv, ok := str("proofValue")
	if !ok || len(pv) < 2 || pv[0] != 'z' {
		return res, fmt.Errorf("%w: proofValue is not multibase base58btc", ErrMalformed)
	}
	sig, err := base58.Decode(pv[1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return res, fmt.Errorf("%w: proofValue is not a %d-byte signature", ErrMalformed, ed25519.SignatureSize)
	}
	delete(proof, "proofValue")
	vm, _ := str("verificationMethod")
	purpose, _ := str("proofPurpose")
	if vm == "" || purpose == "" {
		return res, fmt.Errorf("%w: proof lacks verificationMethod or proofPurpose", ErrMalformed)
	}
	res = Result{Cryptosuite: suite, VerificationMethod: vm, ProofPurpose: purpose}
	for _, k := range []string{"created", "expires"} {
		x, present := proof[k]
		if !present {
			continue
		}
		s, ok := x.(string)
		if !ok || !dateTimeRE.MatchString(s) {
			return Result{}, fmt.Errorf("%w: proof %s is not an XMLSchema dateTime", ErrMalformed, k)
		}
		t, _ := time.Parse(time.RFC3339Nano, s)
		if k == "created" {
			res.Created = t
		} else {
			res.Expires = t
		}
	}
	res.Domain, _ = str("domain")
	res.Challenge, _ = str("challenge")

	if suite == EdDSAJCS2022 {
		// Verify Proof (eddsa-jcs-2022): the proof's @context, if any, must be a prefix of the
		// document's, and then stands for it.
		if pc, has := proof["@context"]; has {
			if !contextPrefix(pc, doc["@context"]) {
				return Result{}, fmt.Errorf("%w: proof @context does not match the document's", ErrMalformed)
			}
			doc["@context"] = pc
		}
	}
	hd, err := hashData(ctx, suite, doc, proof, lim)
	if err != nil {
		return Result{}, err
	}
	pub, err := resolveKey(ctx, vm)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %q: %w", ErrKeyResolution, vm, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return Result{}, fmt.Errorf("%w: %q: not an Ed25519 public key", ErrKeyResolution, vm)
	}
	if !ed25519.Verify(pub, hd, sig) {
		return Result{}, ErrInvalidSignature
	}
	return res, nil
}

// contextPrefix reports whether proof context pc lists the first values of document context dc,
// in order.
func contextPrefix(pc, dc any) bool {
	asList := func(x any) []any {
		if l, ok := x.([]any); ok {
			return l
		}
		if x == nil {
			return nil
		}
		return []any{x}
	}
	p, d := asList(pc), asList(dc)
	if len(p) > len(d) {
		return false
	}
	for i := range p {
		a, err1 := canonicalJSON(p[i])
		b, err2 := canonicalJSON(d[i])
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

// hashData runs the cryptosuite's proof configuration, transformation and hashing algorithms:
// SHA-256(canonical proof config) ‖ SHA-256(canonical document). proof gains the document's
// @context (proof configuration step), as the specification says.
func hashData(ctx context.Context, suite string, unsecured, proof map[string]any, lim Limits) ([]byte, error) {
	if c, has := unsecured["@context"]; has {
		proof["@context"] = c
	}
	var canonProof, canonDoc []byte
	var err error
	switch suite {
	case EdDSAJCS2022:
		if canonProof, err = canonicalJSON(proof); err != nil {
			return nil, fmt.Errorf("%w: proof: %w", ErrMalformed, err)
		}
		if canonDoc, err = canonicalJSON(unsecured); err != nil {
			return nil, fmt.Errorf("%w: document: %w", ErrMalformed, err)
		}
	case EdDSARDFC2022:
		if canonProof, err = canonicalRDF(ctx, proof, lim); err != nil {
			return nil, fmt.Errorf("proof configuration: %w", err)
		}
		if canonDoc, err = canonicalRDF(ctx, unsecured, lim); err != nil {
			return nil, fmt.Errorf("document: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownCryptosuite, suite)
	}
	ph, dh := sha256.Sum256(canonProof), sha256.Sum256(canonDoc)
	return append(ph[:], dh[:]...), nil
}
