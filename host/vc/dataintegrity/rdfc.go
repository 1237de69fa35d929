package dataintegrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = contexts.Default()
	opts.SafeMode = true
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.Algorithm = ld.AlgorithmURDNA2015
	ds, err := ld.NewJsonLdProcessor().ToRDF(input, opts)
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
