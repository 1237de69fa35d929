package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/store"
)

// MethodResolver resolves the DIDs of one method. It is did.Resolver, the
// interface did:hedera, did:key and did:web implement.
type MethodResolver = did.Resolver

// NameResolver maps a human-readable name ("alice.iam") to a DID. It fails
// with a *did.ResolutionError of code notFound when the name is not
// registered; any other error is reported as internalError.
type NameResolver interface {
	ResolveName(ctx context.Context, name string) (string, error)
}

// NameMethod is the key of name resolution in CacheConfig.TTL and
// CacheConfig.StaleGrace, and its method label in metrics.
const NameMethod = "name"

// Options configure a Resolver.
type Options struct {
	// Methods are the method resolvers by method name ("hedera", "key",
	// "web").
	Methods map[string]MethodResolver
	// Names are the name resolvers by top-level domain without the dot
	// ("iam"). An input that is not a DID and contains a dot is a name.
	Names map[string]NameResolver
	// Cache configures the edge cache.
	Cache CacheConfig
	// Registerer, if set, receives the resolver's metrics.
	Registerer prometheus.Registerer
	// Logger receives store-tier failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock of cache expiry; nil means time.Now.
	Now func() time.Time
}

// CacheConfig configures the edge cache. Zero values take the defaults
// noted.
type CacheConfig struct {
	// Disabled turns caching off (every resolution goes upstream;
	// concurrent identical resolutions are still coalesced).
	Disabled bool
	// MaxMemoryBytes bounds the memory tier (default 64 MiB).
	MaxMemoryBytes int64
	// Store is the second tier, shared across restarts; nil keeps the
	// cache in memory only.
	Store store.Cache
	// TTL is how long a resolution stays fresh, by method name and
	// NameMethod. Defaults: hedera 5m, key 24h (did:key documents are a
	// pure function of the DID), web 5m, name 60s; other methods
	// DefaultTTL. A negative TTL disables caching for that method.
	TTL map[string]time.Duration
	// DefaultTTL is the TTL of methods absent from TTL (default 5m).
	DefaultTTL time.Duration
	// StaleGrace is how long after expiry a stale entry may still be served
	// while it is refreshed in the background (stale-while-revalidate), by
	// method. Defaults: web 10m, name 5m; other methods none.
	StaleGrace map[string]time.Duration
	// NegativeTTL is how long notFound and invalidDid results are cached
	// (default 30s; negative disables). Other errors are never cached.
	NegativeTTL time.Duration
	// FetchTimeout bounds each upstream resolution (default 10s).
	FetchTimeout time.Duration
	// RefreshWorkers bounds concurrent background refreshes (default 4).
	RefreshWorkers int
	// MaxGenerations bounds the memory of DID generations read from the
	// store (default 1<<20).
	MaxGenerations int
}

// ResolveOptions are the options of one resolution.
type ResolveOptions struct {
	// Accept is the HTTP Accept header; see Negotiate.
	Accept string
	// VersionTime asks for the document as it was at this time (XML
	// datetime / RFC 3339); normalised to UTC whole seconds.
	VersionTime string
	// VersionID asks for a specific version (method-specific).
	VersionID string
	// NoCache skips cached entries; the fresh result still fills the cache.
	NoCache bool
}

// Resolver dispatches resolutions to method and name resolvers behind the
// edge cache. It is safe for concurrent use.
type Resolver struct {
	methods map[string]MethodResolver
	names   map[string]NameResolver
	cfg     CacheConfig
	now     func() time.Time
	// realClock is set when now is time.Now, so that Resolve reads the
	// clock once.
	realClock bool
	log       *slog.Logger
	m         *metrics

	hot      *ristretto.Cache[string, *entry]
	store    store.Cache
	lifetime time.Duration // longest any entry lives (TTL + grace)

	gens     sync.Map // DID → genRecord
	genN     sync.Mutex
	genSize  int
	genReads singleflight.Group // per DID: the generation's store read

	fills   singleflight.Group // per cache key: store read, else upstream
	fetches singleflight.Group // per DID and version: upstream resolution

	refreshing sync.Map // cache keys being refreshed
	sem        chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// Defaults.
const (
	defaultMaxMemory      = 64 << 20
	defaultTTL            = 5 * time.Minute
	defaultNegativeTTL    = 30 * time.Second
	defaultFetchTimeout   = 10 * time.Second
	defaultRefreshWorkers = 4
	defaultMaxGenerations = 1 << 20
	maxDIDLength          = 2048
	maxVersionIDLength    = 256
)

// New returns a Resolver. It panics if the metrics cannot be registered
// (a duplicate registration is a programming error).
func New(o Options) *Resolver {
	cfg := o.Cache
	if cfg.MaxMemoryBytes <= 0 {
		cfg.MaxMemoryBytes = defaultMaxMemory
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = defaultTTL
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = defaultNegativeTTL
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = defaultFetchTimeout
	}
	if cfg.RefreshWorkers <= 0 {
		cfg.RefreshWorkers = defaultRefreshWorkers
	}
	if cfg.MaxGenerations <= 0 {
		cfg.MaxGenerations = defaultMaxGenerations
	}
	cfg.TTL = withDefaults(cfg.TTL, map[string]time.Duration{
		"hedera": 5 * time.Minute, "key": 24 * time.Hour, "web": 5 * time.Minute, NameMethod: 60 * time.Second,
	})
	cfg.StaleGrace = withDefaults(cfg.StaleGrace, map[string]time.Duration{
		"web": 10 * time.Minute, NameMethod: 5 * time.Minute,
	})
	r := &Resolver{
		methods: o.Methods,
		names:   o.Names,
		cfg:     cfg,
		now:     o.Now,
		log:     o.Logger,
		store:   cfg.Store,
		sem:     make(chan struct{}, cfg.RefreshWorkers),
	}
	if r.now == nil {
		r.now, r.realClock = time.Now, true
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.lifetime = max(cfg.DefaultTTL, cfg.NegativeTTL)
	for m, ttl := range cfg.TTL {
		r.lifetime = max(r.lifetime, ttl+cfg.StaleGrace[m])
	}
	if cfg.Disabled {
		r.store = nil
	} else {
		hot, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
			NumCounters: max(cfg.MaxMemoryBytes/256, 1000), // ~10× the entries of ~2.5 KB
			MaxCost:     cfg.MaxMemoryBytes,
			BufferItems: 64,
		})
		if err != nil {
			panic(fmt.Sprintf("resolve: memory tier: %v", err)) // only on invalid config, which New rules out
		}
		r.hot = hot
	}
	methods := []string{NameMethod}
	for m := range o.Methods {
		methods = append(methods, m)
	}
	var err error
	if r.m, err = newMetrics(o.Registerer, methods); err != nil {
		panic(fmt.Sprintf("resolve: metrics: %v", err))
	}
	return r
}

func withDefaults(set, defaults map[string]time.Duration) map[string]time.Duration {
	out := make(map[string]time.Duration, len(defaults)+len(set))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range set {
		out[k] = v
	}
	return out
}

// Close stops background refreshes and releases the memory tier. The
// store is not closed.
func (r *Resolver) Close() {
	r.closeOnce.Do(func() {
		r.wg.Wait()
		if r.hot != nil {
			r.hot.Close()
		}
	})
}

// Resolve resolves input, a DID or a name, and returns the result encoded
// for the media type negotiated from opts.Accept (Result.Body,
// Result.MediaType). The result is never nil. When resolution fails the
// result carries the error (see Result.HTTPStatus) and the returned error is
// the same, as a *did.ResolutionError; a deactivated DID is a success with
// status 410.
func (r *Resolver) Resolve(ctx context.Context, input string, opts ResolveOptions) (*Result, error) {
	start := time.Now()
	mediaType, err := Negotiate(opts.Accept)
	if err != nil {
		return r.fail(start, "", mediaType, CodeRepresentationNotSupported, ErrRepresentationNotSupported.Message)
	}
	if !strings.HasPrefix(input, "did:") && strings.Contains(input, ".") {
		name, tld, ok := parseName(input)
		if !ok {
			return r.fail(start, NameMethod, mediaType, CodeInvalidDID, "not a DID or a valid name")
		}
		nr := r.names[tld]
		if nr == nil {
			return r.fail(start, NameMethod, mediaType, CodeMethodNotSupported, "names ending in ."+tld+" are not supported")
		}
		id, code, msg := r.resolveName(ctx, nr, name, opts.NoCache)
		if code != "" {
			return r.fail(start, NameMethod, mediaType, code, msg)
		}
		input = id
	}
	method, ok := parseDID(input)
	if !ok {
		return r.fail(start, "", mediaType, CodeInvalidDID, "not a valid DID (did:<method>:<method-specific-id>)")
	}
	mr := r.methods[method]
	if mr == nil {
		return r.fail(start, "", mediaType, CodeMethodNotSupported, "the DID method "+method+" is not supported")
	}
	q := query{did: input, method: method, mr: mr, mediaType: mediaType, versionID: opts.VersionID}
	if opts.VersionTime != "" {
		t, err := time.Parse(time.RFC3339, opts.VersionTime)
		if err != nil {
			return r.fail(start, method, mediaType, CodeInvalidOptions, "versionTime is not an XML datetime")
		}
		q.versionTime = t.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	if len(q.versionID) > maxVersionIDLength || strings.ContainsFunc(q.versionID, isControl) {
		return r.fail(start, method, mediaType, CodeInvalidOptions, "versionId is too long or has control characters")
	}
	now := start
	if !r.realClock {
		now = r.now()
	}
	res, source := r.resolveDID(ctx, q, opts.NoCache, now)
	if res.Cache != source || res.requested != mediaType {
		out := *res
		out.MediaType = ContentType(res, mediaType)
		out.requested = mediaType
		out.Cache = source
		res = &out
	}
	r.m.observe(method, source, res, start)
	if res.ResolutionMetadata.Error == "" {
		return res, nil
	}
	return res, res.Err()
}

// fail returns an error result that was not resolved by a method.
func (r *Resolver) fail(start time.Time, method, mediaType, code, msg string) (*Result, error) {
	res := errorResult(code, msg)
	if mediaType == "" {
		mediaType = MediaTypeResolution
	}
	body, _ := Encode(res, mediaType) // an error result always encodes
	res.Body, res.requested = body, mediaType
	res.MediaType = ContentType(res, mediaType)
	r.m.observe(method, "none", res, start)
	return res, res.Err()
}

func isControl(c rune) bool { return c < 0x20 || c == 0x7f }

// parseDID checks the syntax of a DID (DID Core §3.1; DID URLs with a
// path, query or fragment are refused) and returns its method name.
func parseDID(s string) (method string, ok bool) {
	if len(s) > maxDIDLength || !strings.HasPrefix(s, "did:") {
		return "", false
	}
	rest := s[len("did:"):]
	method, msid, ok := strings.Cut(rest, ":")
	if !ok || method == "" || msid == "" || msid[len(msid)-1] == ':' {
		return "", false
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", false
		}
	}
	for i := 0; i < len(msid); i++ {
		c := msid[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == ':':
		case c == '%' && i+2 < len(msid) && isHex(msid[i+1]) && isHex(msid[i+2]):
			i += 2
		default:
			return "", false
		}
	}
	return method, true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// maxNameBytes bounds a name's UTF-8 length (ENS names may be longer than
// DNS's 253).
const maxNameBytes = 255

// parseName lower-cases a name and checks what every name resolver needs:
// valid UTF-8, at least two non-empty labels, an ASCII top-level domain
// (letters, digits) that picks the resolver, and labels of ASCII letters,
// digits, '-' and '_' or of non-ASCII characters that are not control,
// space or format (invisible) characters. Names such as "café.eth" or
// emoji names pass here; the finer rules (ENSIP-15 normalisation, DNS
// label lengths) are the name resolver's, which refuses with invalidDid.
func parseName(s string) (name, tld string, ok bool) {
	if len(s) > maxNameBytes || !utf8.ValidString(s) {
		return "", "", false
	}
	name = strings.ToLower(s)
	labels := 0
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return "", "", false
		}
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			case c < utf8.RuneSelf, c == utf8.RuneError, unicode.IsControl(c), unicode.IsSpace(c), unicode.Is(unicode.Cf, c):
				return "", "", false
			}
		}
		labels++
		tld = label
	}
	for i := 0; i < len(tld); i++ {
		if c := tld[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", "", false
		}
	}
	return name, tld, labels >= 2
}

// query is one DID resolution request after validation.
type query struct {
	did, method string
	mr          MethodResolver
	mediaType   string
	versionTime string // normalised
	versionID   string
}

// fetch resolves q upstream, coalescing concurrent fetches of the same DID
// version, under FetchTimeout. The caller stops waiting when ctx ends; the
// fetch itself runs to completion for the others.
func (r *Resolver) fetch(ctx context.Context, q query, gen uint64) *Result {
	key := fmt.Sprintf("%x|%s|%s|%s", gen, q.did, q.versionTime, q.versionID)
	ch := r.fetches.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FetchTimeout)
		defer cancel()
		return r.callMethod(fctx, q), nil
	})
	select {
	case res := <-ch:
		return res.Val.(*Result)
	case <-ctx.Done():
		return errorResult(CodeInternalError, "resolution abandoned: "+ctx.Err().Error())
	}
}

// callMethod runs the method resolver and converts its answer.
func (r *Resolver) callMethod(ctx context.Context, q query) (res *Result) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("did method resolver panicked", "method", q.method, "panic", p, "stack", string(debug.Stack()))
			res = errorResult(CodeInternalError, "the method resolver failed")
		}
		res.ResolutionMetadata.Duration = time.Since(start).Milliseconds()
	}()
	opts := did.ResolveOptions{VersionID: q.versionID}
	if q.versionTime != "" {
		t, _ := time.Parse(time.RFC3339, q.versionTime)
		opts.VersionTime = &t
	}
	dr, err := q.mr.Resolve(ctx, q.did, opts)
	if err == nil && dr != nil && dr.ResolutionMetadata.Error != "" {
		err = &did.ResolutionError{Code: dr.ResolutionMetadata.Error, Message: dr.ResolutionMetadata.Message}
	}
	if err != nil {
		return errorResult(did.Code(err), publicMessage(err))
	}
	if dr == nil {
		return errorResult(CodeInternalError, "the method resolver returned nothing")
	}
	res = &Result{Context: ResolutionContext}
	res.DocumentMetadata = DocumentMetadata{
		Created:       xmlTime(dr.DocumentMetadata.Created),
		Updated:       xmlTime(dr.DocumentMetadata.Updated),
		Deactivated:   dr.DocumentMetadata.Deactivated,
		VersionID:     dr.DocumentMetadata.VersionID,
		NextUpdate:    xmlTime(dr.DocumentMetadata.NextUpdate),
		NextVersionID: dr.DocumentMetadata.NextVersionID,
	}
	retrieved := dr.ResolutionMetadata.Retrieved
	if retrieved.IsZero() {
		retrieved = r.now()
	}
	res.ResolutionMetadata.Retrieved = xmlTime(retrieved)
	if dr.Document == nil {
		if dr.DocumentMetadata.Deactivated {
			return res // deactivated without a document: 410 with metadata only
		}
		return errorResult(CodeNotFound, "the method returned no document")
	}
	doc, err := json.Marshal(dr.Document)
	if err != nil {
		return errorResult(CodeInvalidDIDDocument, "the document cannot be encoded")
	}
	if err := checkDocument(doc, q.did); err != nil {
		r.log.Warn("did method returned an invalid document", "method", q.method, "did", q.did, "err", err)
		return errorResult(CodeInvalidDIDDocument, "the method returned a document for another DID")
	}
	res.Document = doc
	res.ResolutionMetadata.ContentType = MediaTypeDIDLDJSON
	return res
}

// publicMessage is the client-facing message of a method error: the
// ResolutionError's Message, or a generic text for other errors (whose
// text may hold internal detail).
func publicMessage(err error) string {
	if re, ok := errors.AsType[*did.ResolutionError](err); ok && re.Message != "" {
		return re.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the DID method did not answer in time"
	}
	return "the DID method failed"
}

func xmlTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}
