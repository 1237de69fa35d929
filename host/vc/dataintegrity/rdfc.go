package dataintegrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/piprate/json-gold/ld"

	"github.com/ubeu/gateway/host/vc/contexts"
)

// canonicalRDF expands doc as JSON-LD with the embedded contexts only, in safe mode (a term that
// the contexts do not define is an error, never silently dropped), converts it to an RDF dataset
// and canonicalises it with RDFC-1.0 (URDNA2015 in json-gold, which yields the same N-Quads),
// within lim.
func canonicalRDF(ctx context.Context, doc map[string]any, lim Limits) ([]byte, error) {
	if lim.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLimit, err)
	}
	input, err := toGeneric(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	type outcome struct {
		nq  string
		err error
	}
	done := make(chan outcome, 1)
	// json-gold cannot be interrupted. The blank-node cap bounds the expensive part (the
	// N-degree hashing); the goroutine checks ctx between stages and the caller stops waiting
	// at the deadline.
	go func() {
		nq, err := runRDFC(ctx, input, lim)
		done <- outcome{nq, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, o.err
		}
		return []byte(o.nq), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: RDF canonicalisation deadline: %w", ErrLimit, ctx.Err())
	}
}

func runRDFC(ctx context.Context, input any, lim Limits) (string, error) {
	return runRDFCWith(ctx, input, lim, shapes.toRDF)
}

// runRDFCWith is runRDFC converting to RDF with convert.
func runRDFCWith(ctx context.Context, input any, lim Limits, convert func(any, *ld.JsonLdOptions) (any, error)) (string, error) {
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = contexts.Default()
	opts.SafeMode = true
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.Algorithm = ld.AlgorithmURDNA2015
	ds, err := convert(input, opts)
	if err != nil {
		var jerr *ld.JsonLdError
		if errors.As(err, &jerr) && jerr.Code == ld.InvalidProperty {
			return "", fmt.Errorf("%w: %v", ErrUnknownTerm, err)
		}
		return "", fmt.Errorf("%w: JSON-LD: %v", ErrMalformed, err)
	}
	dataset, ok := ds.(*ld.RDFDataset)
	if !ok {
		return "", fmt.Errorf("%w: JSON-LD produced no dataset", ErrMalformed)
	}
	blanks := map[string]struct{}{}
	for _, quads := range dataset.Graphs {
		for _, q := range quads {
			for _, n := range []ld.Node{q.Subject, q.Predicate, q.Object, q.Graph} {
				switch x := n.(type) {
				case ld.BlankNode:
					blanks[x.Attribute] = struct{}{}
				case *ld.BlankNode:
					blanks[x.Attribute] = struct{}{}
				case ld.IRI:
					if !strings.Contains(x.Value, ":") {
						return "", fmt.Errorf("%w: relative IRI %q", ErrUnknownTerm, x.Value)
					}
				case *ld.IRI:
					if !strings.Contains(x.Value, ":") {
						return "", fmt.Errorf("%w: relative IRI %q", ErrUnknownTerm, x.Value)
					}
				}
			}
		}
	}
	if len(blanks) > lim.MaxBlankNodes {
		return "", fmt.Errorf("%w: %d blank nodes (max %d)", ErrLimit, len(blanks), lim.MaxBlankNodes)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrLimit, err)
	}
	opts.Format = "application/n-quads"
	out, err := ld.NewNormalisationAlgorithm(ld.AlgorithmURDNA2015).Main(dataset, opts)
	if err != nil {
		return "", fmt.Errorf("%w: canonicalisation: %v", ErrMalformed, err)
	}
	s, _ := out.(string)
	return s, nil
}

// toRDF is json-gold's ToRDF, except that a document whose top-level
// @context is a list of embedded context URLs starts from that context
// processed once and kept (activeContexts), instead of processing it again
// for every document: processing the Open Badges and credentials contexts
// was about a third of the cost of signing a badge. The result is the same:
// expanding a document is expanding its body from the active context its
// top-level @context makes (JSON-LD 1.1 API §5.1.2), and json-gold copies a
// context before changing it, so the kept one is only read.
func toRDF(input any, opts *ld.JsonLdOptions) (any, error) {
	doc, ok := input.(map[string]any)
	if !ok {
		return ld.NewJsonLdProcessor().ToRDF(input, opts)
	}
	active, ok := activeContexts.get(doc["@context"], opts)
	if !ok {
		return ld.NewJsonLdProcessor().ToRDF(input, opts)
	}
	body := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "@context" {
			body[k] = v
		}
	}
	api := ld.NewJsonLdApi()
	expanded, err := api.Expand(active, "", body, opts, false, nil)
	if err != nil {
		return nil, err
	}
	// The end of json-gold's expansion: an empty object is nothing, a lone
	// @graph is its content, and the result is a list.
	var list []any
	switch e := expanded.(type) {
	case nil:
		list = []any{}
	case []any:
		list = e
	case map[string]any:
		if g, has := e["@graph"]; has && len(e) == 1 {
			if gl, isList := g.([]any); isList {
				list = gl
			} else {
				list = []any{g}
			}
		} else if len(e) > 0 {
			list = []any{e}
		} else {
			list = []any{}
		}
	default:
		list = []any{e}
	}
	return api.ToRDF(list, opts)
}

// contextCache keeps processed active contexts by their @context value.
type contextCache struct {
	mu sync.Mutex
	m  map[string]*ld.Context
}

// activeContexts holds at most maxActiveContexts entries: the handful of
// context lists credentials use.
var activeContexts = &contextCache{m: map[string]*ld.Context{}}

const maxActiveContexts = 64

// get returns the active context of a top-level @context value made only
// of URLs of embedded contexts (a string or a list of strings), processing
// it the first time; ok is false for any other value (inline contexts are
// processed per document, as json-gold does).
func (c *contextCache) get(v any, opts *ld.JsonLdOptions) (*ld.Context, bool) {
	var urls []string
	switch x := v.(type) {
	case string:
		urls = []string{x}
	case []any:
		for _, e := range x {
			s, isStr := e.(string)
			if !isStr {
				return nil, false
			}
			urls = append(urls, s)
		}
	default:
		return nil, false
	}
	for _, u := range urls {
		if _, embedded := contexts.Bytes(u); !embedded {
			return nil, false
		}
	}
	key := strings.Join(urls, "\n")
	c.mu.Lock()
	ac, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return ac, true
	}
	ac, err := ld.NewContext(nil, opts).Parse(v)
	if err != nil {
		return nil, false // the slow path reports the error
	}
	c.mu.Lock()
	if len(c.m) >= maxActiveContexts {
		clear(c.m)
	}
	c.m[key] = ac
	c.mu.Unlock()
	return ac, true
}

// toGeneric copies v replacing json.Number by float64, the number type json-gold understands.
func toGeneric(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return f, nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			g, err := toGeneric(e)
			if err != nil {
				return nil, err
			}
			m[k] = g
		}
		return m, nil
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			g, err := toGeneric(e)
			if err != nil {
				return nil, err
			}
			l[i] = g
		}
		return l, nil
	default:
		return v, nil
	}
}
