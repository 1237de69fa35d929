// Package schema validates the credentialSchema entries of a W3C Verifiable
// Credential (VC Data Model 2.0 § 4.11 Data Schemas) under the W3C
// "Verifiable Credentials JSON Schema Specification" (vc-json-schema):
//
//   - type JsonSchema: the entry's id dereferences to a JSON Schema
//     (§ 2.1), which is evaluated against the whole credential;
//   - type JsonSchemaCredential: the id dereferences to a verifiable
//     credential whose credentialSubject is {type: "JsonSchema",
//     jsonSchema: {...}} (§ 2.2); its proof is verified first (§ 4.1) by a
//     caller-supplied verifier, then its jsonSchema is evaluated.
//
// JSON Schema drafts 2020-12, 2019-09 and draft-07 are accepted; any other
// $schema gives the Indeterminate outcome (§ 4.2). The package performs no
// network I/O: every document it does not hold (the credential schema, or a
// remote $ref inside one) comes from Options.Fetch, which the host routes
// through its SSRF guard, or from schemas pre-registered with Register.
//
// A credential schema document MUST have $schema and $id (§ 3.1.1,
// § 3.1.2; "schemas without a $schema property ... MUST NOT be
// processed", § 4): without them the outcome is Failure. Schemas the
// operator registers, and documents reached through $ref, may omit
// $schema and are then read as 2020-12. The format keyword is asserted in
// every draft (the spec's Failure example is an invalid "email"). Integrity
// claims on an entry (digestSRI, digestMultibase; § 4.1) are checked
// against the bytes dereferenced.
//
// Compiled schemas are cached by credentialSchema id and by content hash,
// bounded in entries, estimated memory and time; concurrent misses for one
// id share a single fetch and compilation.
package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/sync/singleflight"
)

// Credential schema types defined by vc-json-schema § 2.
const (
	// TypeJsonSchema is a credentialSchema whose id dereferences to a JSON
	// Schema document (§ 2.1).
	TypeJsonSchema = "JsonSchema"
	// TypeJsonSchemaCredential is a credentialSchema whose id dereferences to
	// a verifiable credential wrapping a JSON Schema (§ 2.2).
	TypeJsonSchemaCredential = "JsonSchemaCredential"
)

// Defaults for Options fields left zero.
const (
	// DefaultMaxSchemaBytes is the default Options.MaxSchemaBytes (256 KiB).
	DefaultMaxSchemaBytes = 256 << 10
	// DefaultCacheTTL is the default Options.CacheTTL.
	DefaultCacheTTL = 10 * time.Minute
	// DefaultMaxCached is the default Options.MaxCached.
	DefaultMaxCached = 512
	// DefaultMaxCacheMemory is the default Options.MaxCacheMemory (128 MiB).
	DefaultMaxCacheMemory = 128 << 20
	// DefaultMaxRemoteRefs is the default Options.MaxRemoteRefs.
	DefaultMaxRemoteRefs = 8
	// DefaultMaxEntries is the default Options.MaxEntries.
	DefaultMaxEntries = 8
	// DefaultMaxErrors is the default Options.MaxErrors.
	DefaultMaxErrors = 20
	// DefaultMaxDepth is the default Options.MaxDepth.
	DefaultMaxDepth = 64
	// DefaultResolveTimeout is the default Options.ResolveTimeout.
	DefaultResolveTimeout = 30 * time.Second
)

// memoryPerSourceByte estimates the heap a compiled schema holds per byte
// of its JSON source: 36-50 was measured with jsonschema/v6 on 256 KiB
// schemas (plain properties, patterns, nested allOf).
const memoryPerSourceByte = 48

// maxMessageBytes bounds one message in Result.Errors.
const maxMessageBytes = 300

// Outcome is the result of evaluating one credential schema, one of the
// three outcomes of vc-json-schema § 4.2 Evaluation.
type Outcome string

const (
	// Success: the credential is valid against the credential schema.
	Success Outcome = "success"
	// Failure: the credential is not valid against the credential schema,
	// or the entry or the schema document breaks a MUST of the data model
	// or of vc-json-schema (missing id or type, $id or $schema absent,
	// digest mismatch, schema credential not authentic).
	Failure Outcome = "failure"
	// Indeterminate: the credential could not be validated: an unsupported
	// JSON Schema version (§ 4.2 requires this outcome for it), an unknown
	// credentialSchema type, or a schema that could not be obtained (fetch
	// error, too large, no fetcher or verifier configured).
	Indeterminate Outcome = "indeterminate"
)

// Result is the evaluation of one credentialSchema entry.
type Result struct {
	// ID is the entry's id, as written in the credential.
	ID string
	// Type is the entry's type, as written (several types joined by ",").
	Type string
	// Valid reports Outcome == Success.
	Valid bool
	// Outcome is Success, Failure or Indeterminate.
	Outcome Outcome
	// Errors explains a Failure or Indeterminate outcome. Validation errors
	// read `"/json/pointer": message`, the pointer locating the offending
	// value in the credential. At most Options.MaxErrors entries, each
	// bounded in length; a final entry counts those left out.
	Errors []string
}

// Options configures a Validator. Zero values take the defaults.
type Options struct {
	// Fetch dereferences a URL (a credentialSchema id or a remote $ref) and
	// returns the document's bytes. The host passes a fetcher that goes
	// through its SSRF guard and stops reading after MaxSchemaBytes+1 bytes.
	// Only http and https URLs are passed to it. Nil: only registered
	// schemas can be used.
	Fetch func(ctx context.Context, url string) ([]byte, error)
	// MaxSchemaBytes bounds each fetched or registered document. Default
	// 256 KiB.
	MaxSchemaBytes int
	// CacheTTL is how long a compiled schema is reused before its id is
	// dereferenced again. Default 10 minutes.
	CacheTTL time.Duration
	// MaxCached bounds the compiled schemas kept, by id and by content hash
	// (each). Default 512.
	MaxCached int
	// MaxCacheMemory bounds the memory the two caches together hold,
	// estimated as 48 times the size of the documents each compiled schema
	// was built from (a compiled schema takes about that much heap). A
	// schema too large for the budget is compiled for each use and not
	// kept. Registered schemas are not counted. Default 128 MiB.
	MaxCacheMemory int64
	// MaxRemoteRefs bounds the remote documents that $ref may pull in while
	// one credential schema compiles; it bounds the depth of a chain of
	// references too. Default 8.
	MaxRemoteRefs int
	// MaxEntries bounds the credentialSchema entries of one credential;
	// Validate refuses a credential with more. Default 8.
	MaxEntries int
	// MaxErrors bounds Result.Errors. Default 20.
	MaxErrors int
	// ResolveTimeout bounds fetching, verifying and compiling one credential
	// schema. That work is shared by concurrent callers, so it runs detached
	// from any one caller's cancellation, under this timeout instead; each
	// caller still stops waiting when its own context ends. Default 30 s.
	ResolveTimeout time.Duration
	// MaxDepth bounds the nesting of arrays and objects in a credential and
	// in every schema document: evaluation cost grows with the square of
	// the depth, so a deep document would be a cheap way to burn CPU.
	// Default 64.
	MaxDepth int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// VerifyCredential verifies the proof (embedded or enveloping) of a
	// schema credential fetched for a JsonSchemaCredential entry, given its
	// bytes as fetched. Nil: JsonSchemaCredential entries are refused.
	VerifyCredential func(ctx context.Context, raw []byte) error
	// RequireIDMatch makes a JsonSchema document whose absolute $id differs
	// from the credentialSchema id a Failure. vc-json-schema § 3.1.1 only
	// RECOMMENDS that they match (the W3C test suite treats a mismatch as a
	// failure); off by default.
	RequireIDMatch bool
}

// Validator evaluates credentialSchema entries. It is safe for concurrent
// use.
type Validator struct {
	opts Options

	regMu      sync.RWMutex
	registered map[string]*registeredSchema

	byID   *lru // cache key (type, id) -> *compiled
	byHash *lru // content key -> *jsonschema.Schema

	flight singleflight.Group

	// compiles counts schema compilations (not cache hits), for tests.
	compiles atomic.Int64
}

// registeredSchema is a schema served without fetching.
type registeredSchema struct {
	raw      []byte
	compiled *jsonschema.Schema
	digests  digests
}

// New returns a Validator configured by opts.
func New(opts Options) *Validator {
	if opts.MaxSchemaBytes <= 0 {
		opts.MaxSchemaBytes = DefaultMaxSchemaBytes
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.MaxCached <= 0 {
		opts.MaxCached = DefaultMaxCached
	}
	if opts.MaxCacheMemory <= 0 {
		opts.MaxCacheMemory = DefaultMaxCacheMemory
	}
	if opts.MaxRemoteRefs <= 0 {
		opts.MaxRemoteRefs = DefaultMaxRemoteRefs
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = DefaultMaxErrors
	}
	if opts.ResolveTimeout <= 0 {
		opts.ResolveTimeout = DefaultResolveTimeout
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Validator{
		opts:       opts,
		registered: map[string]*registeredSchema{},
		byID:       newLRU(opts.MaxCached, opts.MaxCacheMemory/2),
		byHash:     newLRU(opts.MaxCached, opts.MaxCacheMemory/2),
	}
}

// Register makes schemaJSON the JSON Schema served for id, both as a
// JsonSchema credentialSchema and as the target of a $ref, without fetching.
// id must be an absolute URL without fragment. A schema without $schema is
// taken as draft 2020-12; another $schema than 2020-12, 2019-09 or draft-07
// is refused. A registered schema may $ref only itself and schemas
// registered before it (it is compiled now, offline). Registering an id
// again replaces its schema and empties the caches.
func (v *Validator) Register(id string, schemaJSON []byte) error {
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.HasSuffix(id, "#") {
		return fmt.Errorf("schema: register %q: id must be an absolute URL without fragment", id)
	}
	if len(schemaJSON) > v.opts.MaxSchemaBytes {
		return fmt.Errorf("schema: register %q: %d bytes exceeds the %d-byte limit", id, len(schemaJSON), v.opts.MaxSchemaBytes)
	}
	doc, err := v.decodeBounded(schemaJSON)
	if err != nil {
		return fmt.Errorf("schema: register %q: %w", id, err)
	}
	if err := checkDialects(doc); err != nil {
		return fmt.Errorf("schema: register %q: %w", id, err)
	}
	raw := append([]byte(nil), schemaJSON...)
	ld := &refLoader{v: v, ctx: context.Background(), offline: true}
	compiled, err := compileDoc(ld, id, id, doc)
	if err != nil {
		return fmt.Errorf("schema: register %q: %w", id, err)
	}
	v.regMu.Lock()
	v.registered[id] = &registeredSchema{raw: raw, compiled: compiled, digests: digestsOf(raw)}
	v.regMu.Unlock()
	v.byID.clear()
	v.byHash.clear()
	return nil
}

// lookupRegistered returns the registered schema for id, if any.
func (v *Validator) lookupRegistered(id string) *registeredSchema {
	v.regMu.RLock()
	defer v.regMu.RUnlock()
	return v.registered[id]
}

// Validate evaluates every credentialSchema entry (an object or an array of
// objects) of credential, the credential's JSON (for an enveloped
// credential, the unsecured payload), and returns one Result per entry, in
// order. Each schema is evaluated against the whole credential. A
// credential without credentialSchema yields no results. Problems of an
// entry are reported in its Result, never as a panic or an error; the error
// is non-nil only when credential is not a JSON object, has more than
// Options.MaxEntries entries, or ctx ended (the results are then those
// computed so far, the rest Indeterminate).
func (v *Validator) Validate(ctx context.Context, credential []byte) ([]Result, error) {
	inst, err := v.decodeBounded(credential)
	if err != nil {
		return nil, fmt.Errorf("schema: credential: %w", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil, errors.New("schema: credential: not a JSON object")
	}
	raw, present := obj["credentialSchema"]
	if !present {
		return nil, nil
	}
	ents, err := parseEntries(raw)
	if err != nil {
		return []Result{{Outcome: Failure, Errors: []string{err.Error()}}}, nil
	}
	if len(ents) > v.opts.MaxEntries {
		return nil, fmt.Errorf("schema: credential has %d credentialSchema entries, more than the limit of %d", len(ents), v.opts.MaxEntries)
	}
	results := make([]Result, 0, len(ents))
	for _, e := range ents {
		results = append(results, v.evaluate(ctx, e, inst))
	}
	if err := ctx.Err(); err != nil {
		return results, fmt.Errorf("schema: %w", err)
	}
	return results, nil
}

// evaluate produces the Result of one entry.
func (v *Validator) evaluate(ctx context.Context, e entry, inst any) Result {
	r := Result{ID: e.id, Type: strings.Join(e.types, ",")}
	if len(e.problems) > 0 {
		return v.finish(r, Failure, e.problems)
	}
	typ := e.knownType()
	if typ == "" {
		return v.finish(r, Indeterminate, []string{fmt.Sprintf("unsupported credentialSchema type %q (supported: %s, %s)", r.Type, TypeJsonSchema, TypeJsonSchemaCredential)})
	}
	c, fail := v.schemaFor(ctx, typ, e.id)
	if fail != nil {
		return v.finish(r, fail.outcome, []string{fail.msg})
	}
	if fail := e.checkIntegrity(c.digests); fail != nil {
		return v.finish(r, fail.outcome, []string{fail.msg})
	}
	if err := validateSafely(c.schema, inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return v.finish(r, Failure, validationMessages(ve, v.opts.MaxErrors))
		}
		return v.finish(r, Failure, []string{err.Error()})
	}
	return v.finish(r, Success, nil)
}

// validateSafely evaluates sch against inst, turning a panic of the
// library into an error.
func validateSafely(sch *jsonschema.Schema, inst any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error evaluating the schema: %v", p)
		}
	}()
	return sch.Validate(inst)
}

// finish fills the outcome and bounds the messages.
func (v *Validator) finish(r Result, o Outcome, msgs []string) Result {
	r.Outcome = o
	r.Valid = o == Success
	max := v.opts.MaxErrors
	for i, m := range msgs {
		if i == max-1 && len(msgs) > max {
			r.Errors = append(r.Errors, fmt.Sprintf("... and %d more", len(msgs)-i))
			break
		}
		r.Errors = append(r.Errors, truncate(m, maxMessageBytes))
	}
	return r
}

// failure is an outcome other than Success with its reason.
type failure struct {
	outcome Outcome
	msg     string
}

func failf(o Outcome, format string, args ...any) *failure {
	return &failure{outcome: o, msg: fmt.Sprintf(format, args...)}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// decodeBounded is decodeJSON refusing values nested deeper than
// Options.MaxDepth.
func (v *Validator) decodeBounded(b []byte) (any, error) {
	doc, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	if tooDeep(doc, v.opts.MaxDepth) {
		return nil, fmt.Errorf("nested deeper than %d levels", v.opts.MaxDepth)
	}
	return doc, nil
}

// tooDeep reports whether more than limit arrays and objects nest.
func tooDeep(doc any, limit int) bool {
	switch t := doc.(type) {
	case map[string]any:
		if limit <= 0 {
			return true
		}
		for _, x := range t {
			if tooDeep(x, limit-1) {
				return true
			}
		}
	case []any:
		if limit <= 0 {
			return true
		}
		for _, x := range t {
			if tooDeep(x, limit-1) {
				return true
			}
		}
	}
	return false
}

// decodeJSON decodes one JSON value, keeping numbers exact (json.Number),
// as the JSON Schema library expects.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("not JSON: data after the top-level value")
	}
	return v, nil
}
