package dataintegrity

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"hash/maphash"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/piprate/json-gold/ld"

	"github.com/ubeu/gateway/host/vc/contexts"
)

// The shape cache makes JSON-LD-to-RDF conversion of documents that differ
// only in their values (every badge of one template, every proof options
// object) cost a substitution instead of a JSON-LD expansion.
//
// The shape of a document is its structure with every string value replaced
// by its class: whether it has a colon, what comes before the first colon,
// and whether "//" follows it. These are all JSON-LD IRI expansion looks at
// (JSON-LD 1.1 API §5.2.2: a prefix that is a term, "_", or a suffix starting
// with "//"); a literal's string is copied untouched. Values JSON-LD
// interprets otherwise stay in the shape as they are: those of @type and
// its aliases, of @vocab- and @json-typed terms and of every keyword but @id
// and @value, numbers, booleans and null, and any string starting with "@".
//
// For a shape seen twice, its template is made by converting, with
// json-gold, the document with each string replaced by a placeholder of the
// same class that carries a random token and its position. A placeholder
// must come out as a whole IRI or literal, unchanged: then the term holds
// the document's value at that position, whatever it is. Anything else —
// a placeholder transformed (a compact IRI expanded, a relative one
// resolved, JSON canonicalised), dropped, or an error — marks the shape as
// not templatable, and such documents take json-gold's path, as do any with
// an inline or nested context, an @index, a value containing the token, a
// value in an IRI position without a colon or that json-gold's IRI check
// would drop. Quads made identical by equal values are merged, as JSON-LD's
// node map merges them. TestShapeCacheSameAsJSONGold and FuzzShapeCache
// hold the two paths to the same canonical N-Quads.
type shapeCache struct {
	tok      string          // random; in every placeholder
	verbatim map[string]bool // keys whose values stay in the shape

	mu        sync.Mutex
	seen      map[uint64]struct{}  // hashes of shapes seen once
	templates map[string]*template // nil: not templatable
	urlOK     map[string]struct{}  // http(s) IRIs that passed ld.IsURL

	hits atomic.Int64 // documents converted through a template
}

const (
	maxShapeBytes  = 16 << 10 // larger documents take json-gold's path
	maxShapesSeen  = 4096
	maxTemplates   = 128
	maxURLsChecked = 4096
)

var shapeSeed = maphash.MakeSeed()

var shapes = newShapeCache()

func newShapeCache() *shapeCache {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	c := &shapeCache{
		tok:       "q" + hex.EncodeToString(b[:]),
		verbatim:  verbatimKeys(),
		seen:      map[uint64]struct{}{},
		templates: map[string]*template{},
		urlOK:     map[string]struct{}{},
	}
	return c
}

// verbatimKeys lists the terms of the embedded contexts, at any depth, whose
// values JSON-LD does not copy as they are: aliases of keywords other than
// @id and @value, and terms typed @vocab or @json.
func verbatimKeys() map[string]bool {
	keys := map[string]bool{"type": true}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, d := range x {
				switch def := d.(type) {
				case string:
					if strings.HasPrefix(def, "@") && def != "@id" && def != "@value" {
						keys[k] = true
					}
				case map[string]any:
					if id, _ := def["@id"].(string); strings.HasPrefix(id, "@") && id != "@id" && id != "@value" {
						keys[k] = true
					}
					if t, _ := def["@type"].(string); t == "@vocab" || t == "@json" {
						keys[k] = true
					}
				}
				walk(d)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, u := range contexts.URLs() {
		b, _ := contexts.Bytes(u)
		var doc any
		if json.Unmarshal(b, &doc) == nil {
			walk(doc)
		}
	}
	return keys
}

// keeps reports whether the value of key k stays in the shape as it is.
func (c *shapeCache) keeps(k string) bool {
	return c.verbatim[k] || (strings.HasPrefix(k, "@") && k != "@id" && k != "@value")
}

// shapeWalk walks a document (json-gold's generic form), writing its shape
// into key and collecting its string values in walk order; a walk answers
// false for a document that cannot have a template.
type shapeWalk struct {
	c    *shapeCache
	key  strings.Builder
	vals []string
}

func (w *shapeWalk) value(v any, verbatim bool) bool {
	if verbatim {
		return w.literal(v)
	}
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "@") {
			return w.literal(v)
		}
		if strings.Contains(x, w.c.tok) {
			return false
		}
		w.key.WriteByte('s')
		w.key.WriteString(strconv.Quote(stringClass(x)))
		w.vals = append(w.vals, x)
	case map[string]any:
		return w.object(x, false)
	case []any:
		w.key.WriteByte('[')
		for _, e := range x {
			if !w.value(e, false) {
				return false
			}
			w.key.WriteByte(',')
		}
		w.key.WriteByte(']')
	default:
		return w.literal(v)
	}
	return true
}

// object walks a node object; the top one's @context is left to the
// caller, any other makes the document untemplatable.
func (w *shapeWalk) object(x map[string]any, top bool) bool {
	w.key.WriteByte('{')
	for _, k := range slices.Sorted(maps.Keys(x)) {
		if k == "@context" && top {
			continue
		}
		if k == "@context" || k == "@index" || strings.Contains(k, w.c.tok) {
			return false
		}
		w.key.WriteString(strconv.Quote(k))
		w.key.WriteByte(':')
		if !w.value(x[k], w.c.keeps(k)) {
			return false
		}
		w.key.WriteByte(',')
	}
	w.key.WriteByte('}')
	return true
}

// literal writes v into the shape as it is.
func (w *shapeWalk) literal(v any) bool {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, w.c.tok) {
			return false
		}
		w.key.WriteString("vs")
		w.key.WriteString(strconv.Quote(x))
		return true
	case []any:
		w.key.WriteString("v[")
		for _, e := range x {
			if !w.literal(e) {
				return false
			}
			w.key.WriteByte(',')
		}
		w.key.WriteByte(']')
		return true
	}
	b, err := json.Marshal(v)
	if err != nil || strings.Contains(string(b), w.c.tok) {
		return false
	}
	w.key.WriteByte('v')
	w.key.Write(b)
	return true
}

// stringClass is what IRI expansion may read of s: "" without a colon,
// otherwise the text up to the colon with ":" or "://" after it.
func stringClass(s string) string {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return ""
	}
	if strings.HasPrefix(s[i+1:], "//") {
		return s[:i] + "://"
	}
	return s[:i+1]
}

// placeholder is the stand-in for the value at position n, of the class of s.
func (c *shapeCache) placeholder(s string, n int) string {
	cl := stringClass(s)
	id := c.tok + "n" + strconv.Itoa(n)
	if strings.HasSuffix(cl, "://") {
		return cl + id + ".example/"
	}
	return cl + id
}

// placeheld copies v with each string the walk collects replaced by its
// placeholder, in the same order, recording each placeholder's position in
// slots. A top-level @context is copied as it is.
func (c *shapeCache) placeheld(v any, verbatim, top bool, slots map[string]int) any {
	if verbatim {
		return v
	}
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "@") {
			return x
		}
		p := c.placeholder(x, len(slots))
		slots[p] = len(slots)
		return p
	case map[string]any:
		m := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			m[k] = c.placeheld(x[k], c.keeps(k) || top && k == "@context", false, slots)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = c.placeheld(e, false, false, slots)
		}
		return l
	default:
		return v
	}
}

// template is a document shape's RDF dataset with its slots.
type template struct {
	quads []tquad
	iri   []bool // slots that appear as an IRI (subject, object, graph)
}

type tquad struct {
	s, p, o, g tnode
}

// tnode is a term of a template: a constant, or slot ≥ 0 holding the
// value at that position (an IRI, or a literal's text).
type tnode struct {
	kind     byte // 0 none, 'i' IRI, 'b' blank node, 'l' literal
	value    string
	slot     int
	datatype string
	language string
}

// toRDF converts input like toRDF, through the shape's template when it has
// one.
func (c *shapeCache) toRDF(input any, opts *ld.JsonLdOptions) (any, error) {
	doc, ok := input.(map[string]any)
	if !ok {
		return toRDF(input, opts)
	}
	if _, ok := activeContexts.get(doc["@context"], opts); !ok {
		return toRDF(input, opts)
	}
	w := shapeWalk{c: c}
	w.key.WriteString("c")
	if !w.literal(doc["@context"]) {
		return toRDF(input, opts)
	}
	if !w.object(doc, true) {
		return toRDF(input, opts)
	}
	key := w.key.String()
	if len(key) > maxShapeBytes {
		return toRDF(input, opts)
	}
	h := maphash.String(shapeSeed, key)

	c.mu.Lock()
	t, built := c.templates[key]
	_, seen := c.seen[h]
	if !built && !seen {
		if len(c.seen) >= maxShapesSeen {
			clear(c.seen)
		}
		c.seen[h] = struct{}{}
	}
	c.mu.Unlock()
	switch {
	case built && t == nil:
		return toRDF(input, opts)
	case !built && !seen:
		// Seen once: json-gold's path, so that documents of ever new shapes
		// cost no more than before.
		return toRDF(input, opts)
	case !built:
		t = c.build(doc, len(w.vals), opts)
		c.mu.Lock()
		if len(c.templates) >= maxTemplates {
			clear(c.templates)
		}
		c.templates[key] = t
		delete(c.seen, h)
		c.mu.Unlock()
		if t == nil {
			return toRDF(input, opts)
		}
	}
	if ds, ok := c.instantiate(t, w.vals); ok {
		c.hits.Add(1)
		return ds, nil
	}
	return toRDF(input, opts)
}

// build makes the template of doc's shape, or nil.
func (c *shapeCache) build(doc map[string]any, slots int, opts *ld.JsonLdOptions) *template {
	bySlot := make(map[string]int, slots)
	ph := c.placeheld(doc, false, true, bySlot)
	if len(bySlot) != slots {
		return nil
	}
	out, err := toRDF(ph, opts)
	if err != nil {
		return nil
	}
	ds, ok := out.(*ld.RDFDataset)
	if !ok {
		return nil
	}
	t := &template{iri: make([]bool, slots)}
	used := make([]bool, slots)
	// lookup returns the slot of s, -1 for a constant, or ok false if s
	// holds the token other than as a whole placeholder.
	lookup := func(s string) (int, bool) {
		if !strings.Contains(s, c.tok) {
			return -1, true
		}
		i, ok := bySlot[s]
		if ok {
			used[i] = true
		}
		return i, ok
	}
	conv := func(nd ld.Node, iriSlot bool) (tnode, bool) {
		switch x := nd.(type) {
		case nil:
			return tnode{slot: -1}, true
		case ld.IRI:
			i, ok := lookup(x.Value)
			if i >= 0 {
				if !iriSlot {
					return tnode{}, false // a placeholder as predicate
				}
				t.iri[i] = true
			}
			return tnode{kind: 'i', value: x.Value, slot: i}, ok
		case ld.BlankNode:
			if strings.Contains(x.Attribute, c.tok) {
				return tnode{}, false
			}
			return tnode{kind: 'b', value: x.Attribute, slot: -1}, true
		case ld.Literal:
			if strings.Contains(x.Datatype, c.tok) || strings.Contains(x.Language, c.tok) {
				return tnode{}, false
			}
			i, ok := lookup(x.Value)
			return tnode{kind: 'l', value: x.Value, slot: i, datatype: x.Datatype, language: x.Language}, ok
		default:
			return tnode{}, false
		}
	}
	for name, quads := range ds.Graphs {
		if strings.Contains(name, c.tok) {
			return nil // a named graph by a placeholder: not templated
		}
		for _, q := range quads {
			var tq tquad
			var ok1, ok2, ok3, ok4 bool
			tq.s, ok1 = conv(q.Subject, true)
			tq.p, ok2 = conv(q.Predicate, false)
			tq.o, ok3 = conv(q.Object, true)
			tq.g, ok4 = conv(q.Graph, true)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return nil
			}
			t.quads = append(t.quads, tq)
		}
	}
	for _, u := range used {
		if !u {
			return nil // a value that did not come out whole
		}
	}
	return t
}

// instantiate makes the dataset of a document of t's shape with vals, or
// ok false where json-gold's own path must decide.
func (c *shapeCache) instantiate(t *template, vals []string) (*ld.RDFDataset, bool) {
	for i, isIRI := range t.iri {
		if isIRI && !c.iriKept(vals[i]) {
			return nil, false
		}
	}
	node := func(n tnode) ld.Node {
		v := n.value
		if n.slot >= 0 {
			v = vals[n.slot]
		}
		switch n.kind {
		case 'i':
			return ld.NewIRI(v)
		case 'b':
			return ld.NewBlankNode(v)
		case 'l':
			return ld.Literal{Value: v, Datatype: n.datatype, Language: n.language}
		}
		return nil
	}
	type qkey struct {
		s, p, o, dt, lang, g string
		sk, ok, gk           byte
	}
	seen := make(map[qkey]struct{}, len(t.quads))
	ds := ld.NewRDFDataset()
	for _, tq := range t.quads {
		q := &ld.Quad{Subject: node(tq.s), Predicate: node(tq.p), Object: node(tq.o), Graph: node(tq.g)}
		k := qkey{sk: tq.s.kind, ok: tq.o.kind, gk: tq.g.kind, p: tq.p.value, dt: tq.o.datatype, lang: tq.o.language}
		if q.Subject != nil {
			k.s = q.Subject.GetValue()
		}
		if q.Object != nil {
			k.o = q.Object.GetValue()
		}
		name := "@default"
		if q.Graph != nil {
			k.g = q.Graph.GetValue()
			name = k.g
		}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		ds.Graphs[name] = append(ds.Graphs[name], q)
	}
	return ds, true
}

// iriKept reports whether json-gold would keep s as an IRI it made from a
// value of the same class as it: an absolute IRI as json-gold decides it
// (ld.IsAbsoluteIri: the placeholder was one), valid if it is http(s)
// (ld.IsURL, as json-gold checks).
func (c *shapeCache) iriKept(s string) bool {
	if !strings.Contains(s, ":") || !ld.IsAbsoluteIri(s) {
		return false
	}
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return true
	}
	c.mu.Lock()
	_, ok := c.urlOK[s]
	c.mu.Unlock()
	if ok {
		return true
	}
	if !ld.IsURL(s) {
		return false
	}
	c.mu.Lock()
	if len(c.urlOK) >= maxURLsChecked {
		clear(c.urlOK)
	}
	c.urlOK[s] = struct{}{}
	c.mu.Unlock()
	return true
}
