package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The filter grammar of RFC 7644 section 3.4.2.2:
//
//	FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//	valuePath = attrPath "[" valFilter "]"
//	attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//	logExp    = FILTER SP ("and" / "or") SP FILTER
//
// with "not" binding tighter than "and", and "and" tighter than "or";
// parentheses group. Operators and attribute names are case-insensitive.

// Filter limits: a filter longer than maxFilterLen or nested deeper than
// maxFilterDepth is refused (invalidFilter), so that a hostile filter
// cannot exhaust the plugin's stack or time.
const (
	maxFilterLen   = 4096
	maxFilterDepth = 32
)

// filterError is a filter (or PATCH path) that does not parse or names an
// unknown attribute; it is answered 400 with scimType invalidFilter (or
// invalidPath).
type filterError struct{ msg string }

func (e *filterError) Error() string { return e.msg }

func ferr(format string, args ...any) error { return &filterError{fmt.Sprintf(format, args...)} }

type tokKind int

const (
	tkEOF tokKind = iota
	tkWord
	tkString
	tkLParen
	tkRParen
	tkLBracket
	tkRBracket
)

type token struct {
	kind tokKind
	text string // word text, or the decoded string
	pos  int
}

// lex splits a filter into tokens. A word runs to the next space,
// parenthesis, bracket or quote.
func lex(s string) ([]token, error) {
	if len(s) > maxFilterLen {
		return nil, ferr("filter longer than %d bytes", maxFilterLen)
	}
	if !utf8.ValidString(s) {
		return nil, ferr("filter is not valid UTF-8")
	}
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tkLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tkRParen, ")", i})
			i++
		case c == '[':
			out = append(out, token{tkLBracket, "[", i})
			i++
		case c == ']':
			out = append(out, token{tkRBracket, "]", i})
			i++
		case c == '"':
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == '"' {
					break
				}
			}
			if j >= len(s) {
				return nil, ferr("unterminated string at %d", i)
			}
			var v string
			if err := json.Unmarshal([]byte(s[i:j+1]), &v); err != nil {
				return nil, ferr("bad string at %d", i)
			}
			out = append(out, token{tkString, v, i})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()[]\"", rune(s[j])) {
				j++
			}
			out = append(out, token{tkWord, s[i:j], i})
			i = j
		}
	}
	return append(out, token{tkEOF, "", len(s)}), nil
}

// node is a parsed filter.
type node interface{ eval(ctx map[string]any) bool }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

// cmpNode is attrPath op value; op "pr" has no value.
type cmpNode struct {
	ref attrRef
	op  string
	val any // string, bool, float64, time.Time or nil (null)
}

// valuePathNode is attr[filter]: true if some element of attr matches.
type valuePathNode struct {
	ref    attrRef
	filter node
}

func (n andNode) eval(c map[string]any) bool { return n.l.eval(c) && n.r.eval(c) }
func (n orNode) eval(c map[string]any) bool  { return n.l.eval(c) || n.r.eval(c) }
func (n notNode) eval(c map[string]any) bool { return !n.x.eval(c) }

type parser struct {
	rt    *resourceType
	toks  []token
	i     int
	depth int
	// inner is the complex attribute a value filter is relative to.
	inner *attrDef
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func isWord(t token, w string) bool { return t.kind == tkWord && strings.EqualFold(t.text, w) }

// parseFilter parses a filter over the attributes of rt.
func parseFilter(rt *resourceType, s string) (node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{rt: rt, toks: toks}
	if p.peek().kind == tkEOF {
		return nil, ferr("empty filter")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, ferr("unexpected %q at %d", t.text, t.pos)
	}
	return n, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxFilterDepth {
		return ferr("filter nested deeper than %d", maxFilterDepth)
	}
	return nil
}

func (p *parser) parseOr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "or") {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "and") {
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	switch {
	case isWord(t, "not"):
		p.next()
		if p.peek().kind != tkLParen {
			return nil, ferr(`"not" must be followed by "(" at %d`, p.peek().pos)
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t.kind == tkLParen:
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRParen {
			return nil, ferr("missing ) for ( at %d", t.pos)
		}
		return x, nil
	case t.kind == tkWord:
		return p.parseAttrExp()
	}
	return nil, ferr("expected an attribute path at %d", t.pos)
}

// resolvePath resolves an attribute path of the filter.
func (p *parser) resolvePath(t token) (attrRef, error) {
	if p.inner != nil {
		a := p.inner.sub(t.text)
		if a == nil {
			return attrRef{}, ferr("unknown sub-attribute %q of %s", t.text, p.inner.Name)
		}
		return attrRef{Sub: a}, nil
	}
	ref, ok := p.rt.resolve(t.text)
	if !ok {
		return attrRef{}, ferr("unknown attribute %q", t.text)
	}
	return ref, nil
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *parser) parseAttrExp() (node, error) {
	t := p.next()
	ref, err := p.resolvePath(t)
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tkLBracket {
		if p.inner != nil {
			return nil, ferr("nested value filter at %d", p.peek().pos)
		}
		if ref.Sub != nil || ref.Attr.Type != tComplex || !ref.Attr.Multi {
			return nil, ferr("%s is not a multi-valued complex attribute", ref)
		}
		p.next()
		p.inner = ref.Attr
		f, err := p.parseOr()
		p.inner = nil
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRBracket {
			return nil, ferr("missing ] for %s[", ref)
		}
		return valuePathNode{ref: ref, filter: f}, nil
	}
	opTok := p.next()
	if opTok.kind != tkWord {
		return nil, ferr("expected an operator after %s at %d", t.text, opTok.pos)
	}
	op := strings.ToLower(opTok.text)
	if op == "pr" {
		return cmpNode{ref: ref, op: op}, nil
	}
	if !compareOps[op] {
		return nil, ferr("unknown operator %q at %d", opTok.text, opTok.pos)
	}
	leaf := ref.leaf()
	typ := leaf.Type
	if typ == tComplex {
		// A complex attribute compares through its "value" sub-attribute.
		v := leaf.sub("value")
		if v == nil {
			return nil, ferr("%s is complex: name a sub-attribute", ref)
		}
		typ = v.Type
	}
	vt := p.next()
	var val any
	switch {
	case vt.kind == tkString:
		val = vt.text
	case vt.kind == tkWord && strings.EqualFold(vt.text, "true"):
		val = true
	case vt.kind == tkWord && strings.EqualFold(vt.text, "false"):
		val = false
	case vt.kind == tkWord && strings.EqualFold(vt.text, "null"):
		val = nil
	case vt.kind == tkWord:
		f, err := strconv.ParseFloat(vt.text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, ferr("bad comparison value %q at %d", vt.text, vt.pos)
		}
		val = f
	default:
		return nil, ferr("expected a comparison value at %d", vt.pos)
	}
	// The value must suit the attribute's type.
	switch typ {
	case tBoolean:
		if s, ok := val.(string); ok { // booleans sent as strings
			b, ok := parseBoolString(s)
			if !ok {
				return nil, ferr("%s is a boolean", ref)
			}
			val = b
		}
		if _, ok := val.(bool); !ok && val != nil {
			return nil, ferr("%s is a boolean", ref)
		}
		if op != "eq" && op != "ne" {
			return nil, ferr("%s is a boolean: only eq and ne apply", ref)
		}
	case tInteger, tDecimal:
		if s, ok := val.(string); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, ferr("%s is a number", ref)
			}
			val = f
		}
		if _, ok := val.(float64); !ok && val != nil {
			return nil, ferr("%s is a number", ref)
		}
		if op == "co" || op == "sw" || op == "ew" {
			return nil, ferr("%s is a number: %s does not apply", ref, op)
		}
	case tDateTime:
		s, ok := val.(string)
		if !ok && val != nil {
			return nil, ferr("%s is a dateTime", ref)
		}
		if ok {
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, ferr("%s is a dateTime (RFC 3339)", ref)
			}
			val = tm
		}
	default: // string, reference, binary
		if _, ok := val.(string); !ok && val != nil {
			return nil, ferr("%s is a string: compare it with a quoted value", ref)
		}
	}
	if val == nil && op != "eq" && op != "ne" {
		return nil, ferr("null compares with eq or ne only")
	}
	return cmpNode{ref: ref, op: op, val: val}, nil
}

// parseBoolString accepts "true"/"false" in any case: Entra ID and others
// send booleans as strings ("True").
func parseBoolString(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// lookup returns the raw value of ref in ctx (a resource, or an element
// for a relative reference). Extension attributes live under their URN.
func lookup(ctx map[string]any, ref attrRef) any {
	if ref.Attr == nil {
		return ctx[ref.Sub.Name]
	}
	c := ctx
	if ref.Ext != "" {
		m, _ := ctx[ref.Ext].(map[string]any)
		if m == nil {
			return nil
		}
		c = m
	}
	v := c[ref.Attr.Name]
	if ref.Sub == nil {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		return x[ref.Sub.Name]
	case []any:
		var out []any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				if sv, ok := m[ref.Sub.Name]; ok {
					out = append(out, sv)
				}
			}
		}
		return out
	}
	return nil
}

// scalars flattens v to the values a comparison looks at: the elements of
// a multi-valued attribute, the "value" of complex ones.
func scalars(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, scalars(e)...)
		}
		return out
	case map[string]any:
		if vv, ok := x["value"]; ok {
			return scalars(vv)
		}
		return nil
	}
	return []any{v}
}

func present(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		for _, e := range x {
			if present(e) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, e := range x {
			if present(e) {
				return true
			}
		}
		return false
	}
	return true
}

func (n cmpNode) eval(c map[string]any) bool {
	raw := lookup(c, n.ref)
	if n.op == "pr" {
		return present(raw)
	}
	vals := scalars(raw)
	if n.val == nil { // eq null: unassigned
		if n.op == "eq" {
			return len(vals) == 0
		}
		return len(vals) > 0
	}
	if n.op == "ne" {
		for _, v := range vals {
			if n.compare("eq", v) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if n.compare(n.op, v) {
			return true
		}
	}
	return false
}

func (n cmpNode) compare(op string, v any) bool {
	leaf := n.ref.leaf()
	caseExact := leaf.CaseExact
	if leaf.Type == tComplex {
		if s := leaf.sub("value"); s != nil {
			caseExact = s.CaseExact
		}
	}
	switch want := n.val.(type) {
	case bool:
		got, ok := v.(bool)
		if !ok {
			if s, isStr := v.(string); isStr {
				got, ok = parseBoolString(s)
			}
		}
		return ok && got == want
	case float64:
		var got float64
		switch x := v.(type) {
		case float64:
			got = x
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return false
			}
			got = f
		default:
			return false
		}
		return ordered(op, cmpFloat(got, want))
	case time.Time:
		s, ok := v.(string)
		if !ok {
			return false
		}
		got, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false
		}
		return ordered(op, got.Compare(want))
	case string:
		got, ok := v.(string)
		if !ok {
			return false
		}
		if !caseExact {
			got, want = strings.ToLower(got), strings.ToLower(want)
		}
		switch op {
		case "eq":
			return got == want
		case "co":
			return strings.Contains(got, want)
		case "sw":
			return strings.HasPrefix(got, want)
		case "ew":
			return strings.HasSuffix(got, want)
		}
		return ordered(op, strings.Compare(got, want))
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ordered(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

func (n valuePathNode) eval(c map[string]any) bool {
	for _, e := range elements(lookup(c, n.ref)) {
		if n.filter.eval(e) {
			return true
		}
	}
	return false
}

// elements returns the complex elements of a multi-valued attribute.
func elements(v any) []map[string]any {
	arr, _ := v.([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// userNameEq reports the value of a filter that is, or is a conjunction
// containing, userName eq "value": such a list is answered from the
// userName index instead of a scan.
func userNameEq(n node) (string, bool) {
	switch x := n.(type) {
	case cmpNode:
		if x.ref.Ext == "" && x.ref.Sub == nil && x.ref.Attr != nil && x.ref.Attr.Name == "userName" && x.op == "eq" {
			s, ok := x.val.(string)
			return s, ok
		}
	case andNode:
		if v, ok := userNameEq(x.l); ok {
			return v, true
		}
		return userNameEq(x.r)
	}
	return "", false
}

// required returns strings that appear, in any case, in the stored JSON
// of every resource the filter matches: the values of eq, co, sw and ew
// comparisons joined by "and". A scan decodes only the resources holding
// them (decoding dominates a scan in WebAssembly). Values JSON would
// escape are left out.
func required(n node) []string {
	switch x := n.(type) {
	case andNode:
		return append(required(x.l), required(x.r)...)
	case valuePathNode:
		return required(x.filter)
	case cmpNode:
		s, ok := x.val.(string)
		if !ok || s == "" {
			return nil
		}
		switch x.op {
		case "eq", "co", "sw", "ew":
		default:
			return nil
		}
		for _, r := range s {
			if r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r >= 0x80 {
				return nil
			}
		}
		return []string{strings.ToLower(s)}
	}
	return nil
}

// prefilter is the byte test of a scan for filter n (nil: none).
func prefilter(n node) func([]byte) bool {
	if n == nil {
		return nil
	}
	var req [][]byte
	for _, s := range required(n) {
		req = append(req, []byte(s))
	}
	if len(req) == 0 {
		return nil
	}
	var buf []byte
	return func(raw []byte) bool {
		buf = append(buf[:0], raw...)
		for i, c := range buf {
			if 'A' <= c && c <= 'Z' {
				buf[i] = c + 'a' - 'A'
			}
		}
		for _, s := range req {
			if !bytes.Contains(buf, s) {
				return false
			}
		}
		return true
	}
}
