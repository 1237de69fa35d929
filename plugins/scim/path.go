package main

import "strings"

// patchPath is a parsed PATCH "path" (RFC 7644 section 3.5.2):
//
//	PATH = attrPath / valuePath [subAttr]
//
// A path may also be an extension schema URN alone, designating the whole
// extension object.
type patchPath struct {
	// Ext is set when the path is an extension schema URN alone.
	Ext *schemaDef
	// Ref is the attribute (and, without a filter, maybe a sub-attribute).
	Ref attrRef
	// Filter selects elements of a multi-valued complex attribute.
	Filter node
	// Sub is the sub-attribute after a filter: emails[type eq "work"].value.
	Sub *attrDef
}

// parsePatchPath parses a PATCH path over the attributes of rt. A path
// that does not parse or names an unknown attribute is a *filterError; the
// caller answers invalidPath (or invalidFilter for a bad value filter).
func parsePatchPath(rt *resourceType, s string) (*patchPath, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ferr("empty path")
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	first := toks[0]
	if first.kind != tkWord {
		return nil, ferr("path must start with an attribute name")
	}
	if len(toks) == 2 { // a word and EOF
		if ext, core, rest, ok := rt.splitURN(first.text); ok && ext != nil && rest == "" && !core {
			return &patchPath{Ext: ext}, nil
		}
		ref, ok := rt.resolve(first.text)
		if !ok {
			return nil, ferr("unknown attribute %q", first.text)
		}
		return &patchPath{Ref: ref}, nil
	}
	if toks[1].kind != tkLBracket {
		return nil, ferr("unexpected %q at %d", toks[1].text, toks[1].pos)
	}
	ref, ok := rt.resolve(first.text)
	if !ok {
		return nil, ferr("unknown attribute %q", first.text)
	}
	if ref.Sub != nil || ref.Attr.Type != tComplex || !ref.Attr.Multi {
		return nil, ferr("%s is not a multi-valued complex attribute", ref)
	}
	p := &parser{rt: rt, toks: toks, i: 2, inner: ref.Attr}
	f, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.next().kind != tkRBracket {
		return nil, ferr("missing ] in path")
	}
	out := &patchPath{Ref: ref, Filter: f}
	t := p.next()
	switch {
	case t.kind == tkEOF:
	case t.kind == tkWord && strings.HasPrefix(t.text, ".") && len(t.text) > 1:
		sub := ref.Attr.sub(t.text[1:])
		if sub == nil {
			return nil, ferr("unknown sub-attribute %q of %s", t.text[1:], ref.Attr.Name)
		}
		out.Sub = sub
		if p.next().kind != tkEOF {
			return nil, ferr("unexpected text after %s", t.text)
		}
	default:
		return nil, ferr("unexpected %q at %d", t.text, t.pos)
	}
	return out, nil
}

// isFilterSyntax reports whether a path has a value filter, whose errors
// are invalidFilter rather than invalidPath.
func isFilterSyntax(s string) bool { return strings.Contains(s, "[") }
