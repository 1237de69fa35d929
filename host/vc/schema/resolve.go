package schema

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The id a schema credential's own credentialSchema MUST have
// (vc-json-schema § 2.2), and the older one of earlier drafts, still used
// by the W3C test suite.
var schemaCredentialMetaIDs = []string{
	"https://www.w3.org/ns/credentials/json-schema/v2.json",
	"https://www.w3.org/2022/credentials/v2/json-schema-credential-schema.json",
}

// supportedDialects are the $schema values accepted (without "#" and
// scheme): JSON Schema 2020-12, 2019-09 and draft-07.
var supportedDialects = []string{
	"json-schema.org/draft/2020-12/schema",
	"json-schema.org/draft/2019-09/schema",
	"json-schema.org/draft-07/schema",
}

// compiled is a credential schema ready to evaluate, with the digests of
// the document it was dereferenced to (for digestSRI / digestMultibase).
type compiled struct {
	schema  *jsonschema.Schema
	digests digests
	weight  int64 // estimated heap, for the cache budget
}

// Error lets a *failure travel through singleflight.
func (f *failure) Error() string { return f.msg }

// schemaFor returns the compiled schema for a credentialSchema entry of
// type typ and id, from the registry, the cache, or by resolving it once
// for all concurrent callers.
func (v *Validator) schemaFor(ctx context.Context, typ, id string) (*compiled, *failure) {
	if typ == TypeJsonSchema {
		if reg := v.lookupRegistered(id); reg != nil {
			return &compiled{schema: reg.compiled, digests: reg.digests}, nil
		}
	}
	if typ == TypeJsonSchemaCredential && v.opts.VerifyCredential == nil {
		return nil, failf(Indeterminate, "JsonSchemaCredential %q refused: no credential verifier is configured, so the schema credential's proof cannot be checked (vc-json-schema § 4.1)", truncate(id, 100))
	}
	key := typ + " " + id
	if c, ok := v.byID.get(key, v.opts.Now()); ok {
		return c.(*compiled), nil
	}
	ch := v.flight.DoChan(key, func() (any, error) {
		// A caller that missed the cache just before another's flight
		// ended finds the result here instead of resolving again.
		if c, ok := v.byID.get(key, v.opts.Now()); ok {
			return c, nil
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.ResolveTimeout)
		defer cancel()
		c, expires, f := v.resolve(rctx, typ, id)
		if f != nil {
			return nil, f
		}
		v.byID.put(key, c, c.weight, expires)
		return c, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			var f *failure
			if errors.As(r.Err, &f) {
				return nil, f
			}
			return nil, failf(Indeterminate, "%v", r.Err)
		}
		return r.Val.(*compiled), nil
	case <-ctx.Done():
		return nil, failf(Indeterminate, "resolving %q: %v", truncate(id, 100), ctx.Err())
	}
}

// resolve dereferences and compiles one credential schema. It never panics:
// a panic of the JSON Schema library is turned into a Failure.
func (v *Validator) resolve(ctx context.Context, typ, id string) (c *compiled, expires time.Time, f *failure) {
	defer func() {
		if p := recover(); p != nil {
			c, f = nil, failf(Failure, "internal error compiling schema %q: %v", truncate(id, 100), p)
		}
	}()
	now := v.opts.Now()
	expires = now.Add(v.opts.CacheTTL)
	base, _, _ := strings.Cut(id, "#")

	if typ == TypeJsonSchema {
		var raw []byte
		reg := v.lookupRegistered(base)
		if reg != nil {
			// A fragment of a registered schema: served without fetching,
			// under Register's rules ($schema optional).
			raw = reg.raw
		} else {
			var err error
			if raw, err = v.fetchTop(ctx, base); err != nil {
				return nil, expires, failf(Indeterminate, "%v", err)
			}
		}
		doc, err := v.decodeBounded(raw)
		if err != nil {
			return nil, expires, failf(Failure, "schema document %q: %v", truncate(base, 100), err)
		}
		if reg == nil { // a registered schema was checked by Register
			if f := checkSchemaDocument(doc); f != nil {
				return nil, expires, f
			}
			if v.opts.RequireIDMatch {
				if f := checkIDMatch(doc, base); f != nil {
					return nil, expires, f
				}
			}
		}
		sch, f := v.compileCached(ctx, base, id, raw, doc)
		if f != nil {
			return nil, expires, f
		}
		return &compiled{schema: sch.schema, digests: digestsOf(raw), weight: sch.weight}, expires, nil
	}

	// JsonSchemaCredential (§ 2.2).
	raw, err := v.fetchTop(ctx, base)
	if err != nil {
		return nil, expires, failf(Indeterminate, "%v", err)
	}
	// § 4.1: a secured schema credential SHOULD be verified before any
	// further processing; here it MUST, or its schema is not trusted.
	if err := v.opts.VerifyCredential(ctx, raw); err != nil {
		return nil, expires, failf(Failure, "schema credential %q: proof does not verify: %v", truncate(base, 100), err)
	}
	sc, f := decodeSchemaCredential(raw, v.opts.MaxDepth)
	if f != nil {
		return nil, expires, f
	}
	doc, resURL, validUntil, f := checkSchemaCredential(sc, now, base)
	if f != nil {
		return nil, expires, f
	}
	if f := checkSchemaDocument(doc); f != nil {
		return nil, expires, f
	}
	canon, err := json.Marshal(doc)
	if err != nil {
		return nil, expires, failf(Failure, "jsonSchema: %v", err)
	}
	sch, f := v.compileCached(ctx, resURL, resURL, canon, doc)
	if f != nil {
		return nil, expires, f
	}
	if !validUntil.IsZero() && validUntil.Before(expires) {
		expires = validUntil
	}
	return &compiled{schema: sch.schema, digests: digestsOf(raw), weight: sch.weight}, expires, nil
}

// fetchTop dereferences a credentialSchema id through Options.Fetch.
func (v *Validator) fetchTop(ctx context.Context, u string) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return nil, fmt.Errorf("cannot dereference %q: only http and https URLs are fetched; register the schema to use another scheme", truncate(u, 100))
	}
	return v.fetch(ctx, u)
}

// fetch calls Options.Fetch and enforces the size limit.
func (v *Validator) fetch(ctx context.Context, u string) ([]byte, error) {
	if v.opts.Fetch == nil {
		return nil, fmt.Errorf("cannot dereference %q: no fetcher is configured and it is not registered", truncate(u, 100))
	}
	b, err := v.opts.Fetch(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("fetching %q: %w", truncate(u, 100), err)
	}
	if len(b) > v.opts.MaxSchemaBytes {
		return nil, fmt.Errorf("fetching %q: document of %d bytes exceeds the %d-byte limit", truncate(u, 100), len(b), v.opts.MaxSchemaBytes)
	}
	return b, nil
}

// compileCached compiles doc (whose bytes are raw) as the resource resURL
// and returns the schema at loc. A compilation that pulled in no remote
// document depends only on (resURL, loc, raw) and the registry, so it is
// cached by that content hash, with no time limit (the bound evicts it;
// Register empties it), and reused when an expired id is dereferenced
// again to the same bytes.
func (v *Validator) compileCached(ctx context.Context, resURL, loc string, raw []byte, doc any) (*compiled, *failure) {
	h := sha256.New()
	h.Write([]byte(resURL))
	h.Write([]byte{0})
	h.Write([]byte(loc))
	h.Write([]byte{0})
	h.Write(raw)
	hk := hex.EncodeToString(h.Sum(nil))
	if c, ok := v.byHash.get(hk, v.opts.Now()); ok {
		return c.(*compiled), nil
	}
	ld := &refLoader{v: v, ctx: ctx}
	v.compiles.Add(1)
	sch, err := compileDoc(ld, resURL, loc, doc)
	if err != nil {
		if ld.err != nil {
			return nil, failf(Indeterminate, "schema %q: resolving $ref: %v", truncate(resURL, 100), ld.err)
		}
		return nil, failf(Failure, "schema %q is not a valid JSON Schema: %v", truncate(resURL, 100), err)
	}
	c := &compiled{schema: sch, weight: int64(len(raw)+ld.bytes) * memoryPerSourceByte}
	if !ld.remote {
		v.byHash.put(hk, c, c.weight, time.Time{})
	}
	return c, nil
}

// compileDoc compiles doc, added as the resource resURL, and returns the
// schema at loc. Drafts come from $schema, 2020-12 when absent; format is
// asserted (the spec's own failure example is an invalid "email").
func compileDoc(ld *refLoader, resURL, loc string, doc any) (s *jsonschema.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("internal error: %v", p)
		}
	}()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(ld)
	if err := c.AddResource(resURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// refLoader resolves the remote $refs of one compilation: registered
// schemas first, then Options.Fetch for http(s) URLs, at most
// MaxRemoteRefs documents. It is the compiler's only loader, so the
// library never reads a file or opens a connection itself.
type refLoader struct {
	v       *Validator
	ctx     context.Context
	offline bool // Register: registered schemas only
	fetched int
	bytes   int   // size of the documents loaded
	remote  bool  // a document came from Fetch
	err     error // the first resolution failure
}

// Load implements jsonschema.URLLoader.
func (l *refLoader) Load(u string) (any, error) {
	doc, err := l.load(u)
	if err != nil && l.err == nil {
		l.err = err
	}
	return doc, err
}

func (l *refLoader) load(u string) (any, error) {
	base, _, _ := strings.Cut(u, "#")
	if reg := l.v.lookupRegistered(base); reg != nil {
		l.bytes += len(reg.raw)
		return decodeJSON(reg.raw)
	}
	if l.offline {
		return nil, fmt.Errorf("reference %q is not a registered schema (register it first)", truncate(base, 100))
	}
	pu, err := url.Parse(base)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return nil, fmt.Errorf("reference %q refused: only http and https references are fetched", truncate(base, 100))
	}
	l.fetched++
	if l.fetched > l.v.opts.MaxRemoteRefs {
		return nil, fmt.Errorf("reference %q refused: more than %d remote documents referenced", truncate(base, 100), l.v.opts.MaxRemoteRefs)
	}
	raw, err := l.v.fetch(l.ctx, base)
	if err != nil {
		return nil, err
	}
	l.remote = true
	l.bytes += len(raw)
	doc, err := l.v.decodeBounded(raw)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", truncate(base, 100), err)
	}
	if err := checkDialects(doc); err != nil {
		return nil, fmt.Errorf("reference %q: %w", truncate(base, 100), err)
	}
	return doc, nil
}

// dialectSupported reports whether a $schema value names JSON Schema
// 2020-12, 2019-09 or draft-07 (http or https, with or without "#").
func dialectSupported(s string) bool {
	s = strings.TrimSuffix(s, "#")
	if t, ok := strings.CutPrefix(s, "https://"); ok {
		s = t
	} else if t, ok := strings.CutPrefix(s, "http://"); ok {
		s = t
	} else {
		return false
	}
	return slices.Contains(supportedDialects, s)
}

// errUnsupportedDialect marks a $schema outside the supported drafts.
var errUnsupportedDialect = errors.New("unsupported JSON Schema version")

// checkDialects refuses a document in which any $schema string names a
// dialect other than the supported drafts, so that the compiler never goes
// looking for a custom meta-schema.
func checkDialects(doc any) error {
	switch t := doc.(type) {
	case map[string]any:
		for k, val := range t {
			if s, ok := val.(string); ok && k == "$schema" && !dialectSupported(s) {
				return fmt.Errorf("%w %q (supported: draft 2020-12, 2019-09, draft-07)", errUnsupportedDialect, truncate(s, 100))
			}
			if err := checkDialects(val); err != nil {
				return err
			}
		}
	case []any:
		for _, val := range t {
			if err := checkDialects(val); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSchemaDocument applies vc-json-schema § 3.1 and § 4 to a credential
// schema document: $schema MUST be present (schemas without it MUST NOT be
// processed) and name a supported version (else Indeterminate, § 4.2);
// $id MUST be present and be a URI-reference.
func checkSchemaDocument(doc any) *failure {
	obj, ok := doc.(map[string]any)
	if !ok {
		return failf(Failure, "schema document is %s, not a JSON object", jsonKind(doc))
	}
	switch s := obj["$schema"].(type) {
	case nil:
		return failf(Failure, "schema document has no $schema; it MUST be present and schemas without it MUST NOT be processed (vc-json-schema § 3.1.2, § 4)")
	case string:
		if !dialectSupported(s) {
			return failf(Indeterminate, "%v %q: supported are draft 2020-12, 2019-09 and draft-07 (vc-json-schema § 4.2, Indeterminate)", errUnsupportedDialect, truncate(s, 100))
		}
	default:
		return failf(Failure, "schema document's $schema is %s, not a string", jsonKind(s))
	}
	switch id := obj["$id"].(type) {
	case nil:
		return failf(Failure, "schema document has no $id; it MUST be present (vc-json-schema § 3.1.1)")
	case string:
		if _, err := url.Parse(id); err != nil || id == "" || strings.ContainsAny(id, " \t\r\n") {
			return failf(Failure, "schema document's $id %q is not a valid URI-reference (vc-json-schema § 3.1.1)", truncate(id, 100))
		}
	default:
		return failf(Failure, "schema document's $id is %s, not a string", jsonKind(id))
	}
	if err := checkDialects(doc); err != nil {
		return failf(Indeterminate, "schema document: %v", err)
	}
	return nil
}

// checkIDMatch requires an absolute $id to equal the credentialSchema id.
func checkIDMatch(doc any, base string) *failure {
	id, _ := doc.(map[string]any)["$id"].(string)
	u, err := url.Parse(id)
	if err != nil || !u.IsAbs() {
		return nil
	}
	if strings.TrimSuffix(id, "#") != base {
		return failf(Failure, "schema document's $id %q does not identify the credentialSchema id %q (vc-json-schema § 3.1.1)", truncate(id, 100), truncate(base, 100))
	}
	return nil
}

// decodeSchemaCredential reads a fetched schema credential: JSON, or a
// compact JWS / SD-JWT (VC-JOSE-COSE) whose payload is the credential.
func decodeSchemaCredential(raw []byte, maxDepth int) (map[string]any, *failure) {
	t := bytes.TrimSpace(raw)
	var payload []byte
	if len(t) > 0 && t[0] == '{' {
		payload = t
	} else {
		jws, _, _ := strings.Cut(string(t), "~")
		parts := strings.Split(jws, ".")
		if len(parts) != 3 {
			return nil, failf(Failure, "schema credential is neither JSON nor a compact JWS")
		}
		p, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return nil, failf(Failure, "schema credential: JWS payload is not base64url: %v", err)
		}
		payload = p
	}
	doc, err := decodeJSON(payload)
	if err != nil {
		return nil, failf(Failure, "schema credential: %v", err)
	}
	if tooDeep(doc, maxDepth) {
		return nil, failf(Failure, "schema credential: nested deeper than %d levels", maxDepth)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, failf(Failure, "schema credential is %s, not a JSON object", jsonKind(doc))
	}
	// A VC-JWT 1.1 style payload carries the credential in its "vc" claim.
	if vc, ok := m["vc"].(map[string]any); ok && m["credentialSubject"] == nil {
		m = vc
	}
	return m, nil
}

// checkSchemaCredential applies vc-json-schema § 2.2 to a schema
// credential and returns its jsonSchema, the URL to compile it as, and its
// validUntil (zero if none).
func checkSchemaCredential(sc map[string]any, now time.Time, base string) (doc any, resURL string, validUntil time.Time, f *failure) {
	if !hasType(sc["type"], TypeJsonSchemaCredential) {
		return nil, "", time.Time{}, failf(Failure, "schema credential's type does not include %s (vc-json-schema § 2.2)", TypeJsonSchemaCredential)
	}
	if vf, ok := sc["validFrom"]; ok {
		t, err := parseTime(vf)
		if err != nil {
			return nil, "", time.Time{}, failf(Failure, "schema credential's validFrom: %v", err)
		}
		if now.Before(t) {
			return nil, "", time.Time{}, failf(Failure, "schema credential is not valid before %s", t.Format(time.RFC3339))
		}
	}
	if vu, ok := sc["validUntil"]; ok {
		t, err := parseTime(vu)
		if err != nil {
			return nil, "", time.Time{}, failf(Failure, "schema credential's validUntil: %v", err)
		}
		if !now.Before(t) {
			return nil, "", time.Time{}, failf(Failure, "schema credential expired at %s", t.Format(time.RFC3339))
		}
		validUntil = t
	}
	if !hasMetaSchema(sc["credentialSchema"]) {
		return nil, "", time.Time{}, failf(Failure, "schema credential's credentialSchema MUST be {id: %q, type: %q} (vc-json-schema § 2.2)", schemaCredentialMetaIDs[0], TypeJsonSchema)
	}
	cs, ok := sc["credentialSubject"].(map[string]any)
	if !ok {
		return nil, "", time.Time{}, failf(Failure, "schema credential's credentialSubject is %s, not an object with type and jsonSchema (vc-json-schema § 2.2)", jsonKind(sc["credentialSubject"]))
	}
	if !hasType(cs["type"], TypeJsonSchema) {
		return nil, "", time.Time{}, failf(Failure, "schema credential's credentialSubject.type MUST be %s (vc-json-schema § 2.2)", TypeJsonSchema)
	}
	js, ok := cs["jsonSchema"].(map[string]any)
	if !ok {
		return nil, "", time.Time{}, failf(Failure, "schema credential's credentialSubject.jsonSchema is %s, not an object holding a JSON Schema (vc-json-schema § 2.2)", jsonKind(cs["jsonSchema"]))
	}
	resURL = base
	if id, ok := cs["id"].(string); ok && checkURL(id) == nil && !strings.Contains(id, "#") {
		resURL = id
	}
	return js, resURL, validUntil, nil
}

// hasType reports whether a JSON-LD type value (a string or strings)
// includes want.
func hasType(v any, want string) bool {
	switch t := v.(type) {
	case string:
		return t == want
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// hasMetaSchema reports whether a schema credential's credentialSchema
// names the W3C JsonSchemaCredential schema.
func hasMetaSchema(v any) bool {
	ents, err := parseEntries(v)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if len(e.problems) == 0 && slices.Contains(e.types, TypeJsonSchema) && slices.Contains(schemaCredentialMetaIDs, e.id) {
			return true
		}
	}
	return false
}

// parseTime reads an XML Schema dateTimeStamp (RFC 3339 with a zone).
func parseTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("is %s, not a date-time string", jsonKind(v))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time", truncate(s, 50))
	}
	return t, nil
}

var printer = message.NewPrinter(language.English)

// validationMessages lists the leaf errors of a validation failure as
// `"/pointer": message`: at most limit entries, the last one counting
// those left out.
func validationMessages(ve *jsonschema.ValidationError, limit int) []string {
	var out []string
	total := 0
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			total++
			if len(out) < limit {
				out = append(out, fmt.Sprintf("%q: %s", jsonPointer(e.InstanceLocation), e.ErrorKind.LocalizedString(printer)))
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if total > limit {
		out = append(out[:limit-1], fmt.Sprintf("... and %d more", total-(limit-1)))
	}
	return out
}

// jsonPointer renders RFC 6901 reference tokens.
func jsonPointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		sb.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return sb.String()
}
