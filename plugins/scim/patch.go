package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
)

// patch serves PATCH (RFC 7644 section 3.5.2). The operations apply, in
// order, to a copy of the resource; the first that fails fails the whole
// request and nothing is written.
func patch(ctx context.Context, r *request, rp repo, id string) *response {
	body, e := decodeBody(r)
	if e != nil {
		return e
	}
	var ops []any
	for k, v := range body {
		switch strings.ToLower(k) {
		case "schemas":
			arr, _ := v.([]any)
			if !slices.ContainsFunc(arr, func(s any) bool { u, _ := s.(string); return strings.EqualFold(u, urnPatchOp) }) {
				return scimErr(400, "invalidValue", "schemas must list "+urnPatchOp)
			}
		case "operations":
			arr, ok := v.([]any)
			if !ok {
				return scimErr(400, "invalidSyntax", "Operations must be an array")
			}
			ops = arr
		default:
			return scimErr(400, "invalidSyntax", "unknown PatchOp member "+k)
		}
	}
	if len(ops) == 0 {
		return scimErr(400, "invalidSyntax", "Operations is required and must not be empty")
	}
	if len(ops) > 1000 {
		return scimErr(400, "tooMany", "more than 1000 operations")
	}
	return update(ctx, r, rp, id, func(res map[string]any) (map[string]any, error) {
		for _, o := range ops {
			om, ok := o.(map[string]any)
			if !ok {
				return nil, bad("invalidSyntax", "an operation must be an object")
			}
			var op, path string
			var value any
			for k, v := range om {
				switch strings.ToLower(k) {
				case "op":
					op, _ = v.(string)
				case "path":
					path, _ = v.(string)
				case "value":
					value = v
				default:
					return nil, bad("invalidSyntax", "unknown operation member %q", k)
				}
			}
			if err := applyOp(rp.rt, res, strings.ToLower(op), path, value); err != nil {
				return nil, err
			}
		}
		fixPrimary(res)
		return res, nil
	})
}

func applyOp(rt *resourceType, res map[string]any, op, path string, value any) error {
	switch op {
	case "add", "replace", "remove":
	default:
		return bad("invalidSyntax", "op must be add, replace or remove, not %q", op)
	}
	if path == "" {
		if op == "remove" {
			return bad("noTarget", "remove needs a path")
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return bad("invalidValue", "an operation without a path needs an object value")
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			v := obj[k]
			if strings.EqualFold(k, "schemas") {
				continue
			}
			if ext, core, rest, ok := rt.splitURN(k); ok && ext != nil && !core && rest == "" {
				if err := applyExt(rt, res, op, ext, v); err != nil {
					return err
				}
				continue
			}
			ref, ok := rt.resolve(k)
			if !ok {
				return bad("invalidPath", "unknown attribute %q", k)
			}
			if ref.Attr.readOnly() {
				continue // e.g. the id Okta repeats in a group replace
			}
			if err := applySimple(res, op, ref, v); err != nil {
				return err
			}
		}
		return nil
	}
	pp, err := parsePatchPath(rt, path)
	if err != nil {
		var f *filterError
		if errors.As(err, &f) && isFilterSyntax(path) {
			return bad("invalidFilter", "path %q: %s", path, f.msg)
		}
		return bad("invalidPath", "path %q: %v", path, err)
	}
	switch {
	case pp.Ext != nil:
		if op == "remove" {
			delete(res, pp.Ext.ID)
			return nil
		}
		return applyExt(rt, res, op, pp.Ext, value)
	case pp.Filter != nil:
		return applyFiltered(res, op, pp, value)
	}
	if pp.Ref.Attr.readOnly() || (pp.Ref.Sub != nil && pp.Ref.Sub.readOnly()) {
		return bad("mutability", "%s is read-only", pp.Ref)
	}
	return applySimple(res, op, pp.Ref, value)
}

func applyExt(rt *resourceType, res map[string]any, op string, ext *schemaDef, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return bad("invalidValue", "%s needs an object value", ext.ID)
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		a := ext.attr(k)
		if a == nil {
			return bad("invalidPath", "unknown attribute %q of %s", k, ext.ID)
		}
		if err := applySimple(res, op, attrRef{Ext: ext.ID, Attr: a}, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

// sameElement reports whether two elements of a multi-valued attribute
// are the same value: by their "value" when they have one.
func sameElement(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		if av, ok := am["value"]; ok {
			return jsonEqual(av, bm["value"])
		}
	}
	return jsonEqual(a, b)
}

func applySimple(res map[string]any, op string, ref attrRef, value any) error {
	a := ref.Attr
	c := container(res, ref.Ext, true)
	defer func() {
		if ref.Ext != "" && len(c) == 0 {
			delete(res, ref.Ext)
		}
	}()
	path := ref.String()
	if ref.Sub != nil {
		s := ref.Sub
		if a.Multi { // emails.value without a filter: every element
			var out []any
			for _, e := range elements(c[a.Name]) {
				e = maps.Clone(e)
				if op == "remove" {
					delete(e, s.Name)
				} else {
					nv, err := normSingle(s, value, path)
					if err != nil {
						return err
					}
					setOrDelete(e, s.Name, nv)
				}
				out = append(out, e)
			}
			setOrDelete(c, a.Name, nilIfEmpty(out))
			return nil
		}
		m, _ := c[a.Name].(map[string]any)
		m = maps.Clone(m)
		if m == nil {
			m = map[string]any{}
		}
		if op == "remove" {
			delete(m, s.Name)
		} else {
			nv, err := normSingle(s, value, path)
			if err != nil {
				return err
			}
			setOrDelete(m, s.Name, nv)
		}
		if len(m) == 0 {
			delete(c, a.Name)
		} else {
			c[a.Name] = m
		}
		return nil
	}
	if op == "remove" {
		if value != nil && a.Multi {
			// Remove exactly the given values (Entra ID's member removal):
			// a value that matches nothing removes nothing.
			given, err := normValue(a, value, path)
			if err != nil {
				return err
			}
			var kept []any
			for _, e := range asSlice(c[a.Name]) {
				if !slices.ContainsFunc(asSlice(given), func(g any) bool { return sameElement(e, g) }) {
					kept = append(kept, e)
				}
			}
			setOrDelete(c, a.Name, nilIfEmpty(kept))
			return nil
		}
		delete(c, a.Name)
		return nil
	}
	nv, err := normValue(a, value, path)
	if err != nil {
		return err
	}
	switch {
	case nv == nil:
		if op == "replace" {
			delete(c, a.Name)
		}
	case a.Multi && op == "add":
		cur := asSlice(c[a.Name])
		for _, v := range asSlice(nv) {
			if i := slices.IndexFunc(cur, func(e any) bool { return sameElement(e, v) }); i >= 0 {
				cur[i] = v // the same member again: keep one, with the newer display
			} else {
				cur = append(cur, v)
			}
		}
		c[a.Name] = cur
	case a.Type == tComplex && !a.Multi:
		// Sub-attributes not given are left unchanged (RFC 7644 3.5.2.1, .3).
		m, _ := c[a.Name].(map[string]any)
		m = maps.Clone(m)
		if m == nil {
			m = map[string]any{}
		}
		maps.Copy(m, nv.(map[string]any))
		c[a.Name] = m
	default:
		c[a.Name] = nv
	}
	return nil
}

func asSlice(v any) []any {
	a, _ := v.([]any)
	return a
}

func applyFiltered(res map[string]any, op string, pp *patchPath, value any) error {
	a := pp.Ref.Attr
	c := container(res, pp.Ref.Ext, true)
	defer func() {
		if pp.Ref.Ext != "" && len(c) == 0 {
			delete(res, pp.Ref.Ext)
		}
	}()
	path := pp.Ref.String()
	elems := asSlice(c[a.Name])
	var hit []int
	for i, e := range elems {
		if m, ok := e.(map[string]any); ok && pp.Filter.eval(m) {
			hit = append(hit, i)
		}
	}
	if op == "remove" {
		// A filter matching nothing removes nothing (never everything).
		var kept []any
		for i, e := range elems {
			if !slices.Contains(hit, i) {
				kept = append(kept, e)
				continue
			}
			if pp.Sub != nil {
				m := maps.Clone(e.(map[string]any))
				delete(m, pp.Sub.Name)
				kept = append(kept, m)
			}
		}
		setOrDelete(c, a.Name, nilIfEmpty(kept))
		return nil
	}
	if pp.Sub != nil {
		nv, err := normSingle(pp.Sub, value, path+"."+pp.Sub.Name)
		if err != nil {
			return err
		}
		if len(hit) == 0 {
			// emails[type eq "work"].value on a user without a work
			// e-mail: add the element the filter describes.
			elem, ok := eqElement(pp.Filter)
			if !ok {
				return bad("noTarget", "%s matches no value", path)
			}
			setOrDelete(elem, pp.Sub.Name, nv)
			c[a.Name] = append(elems, elem)
			return nil
		}
		for _, i := range hit {
			m := maps.Clone(elems[i].(map[string]any))
			setOrDelete(m, pp.Sub.Name, nv)
			elems[i] = m
		}
		c[a.Name] = elems
		return nil
	}
	if arr, ok := value.([]any); ok && len(arr) == 1 {
		value = arr[0]
	}
	nv, err := normSingle(a, value, path)
	if err != nil {
		return err
	}
	m, _ := nv.(map[string]any)
	if m == nil {
		return bad("invalidValue", "%s needs an object value", path)
	}
	if len(hit) == 0 {
		if op == "replace" {
			return bad("noTarget", "%s matches no value", path)
		}
		c[a.Name] = append(elems, m)
		return nil
	}
	for _, i := range hit {
		if op == "add" {
			e := maps.Clone(elems[i].(map[string]any))
			maps.Copy(e, m)
			elems[i] = e
		} else {
			elems[i] = m
		}
	}
	c[a.Name] = elems
	return nil
}

// eqElement returns the element a filter made only of "sub eq value"
// conjunctions describes.
func eqElement(n node) (map[string]any, bool) {
	switch x := n.(type) {
	case cmpNode:
		if x.op != "eq" || x.ref.Sub == nil || x.val == nil {
			return nil, false
		}
		return map[string]any{x.ref.Sub.Name: x.val}, true
	case andNode:
		l, ok := eqElement(x.l)
		if !ok {
			return nil, false
		}
		r, ok := eqElement(x.r)
		if !ok {
			return nil, false
		}
		maps.Copy(l, r)
		return l, true
	}
	return nil, false
}

// fixPrimary keeps at most one primary value per multi-valued attribute
// (RFC 7643 section 2.4): the last one set wins.
func fixPrimary(res map[string]any) {
	for _, k := range []string{"emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509Certificates"} {
		elems := asSlice(res[k])
		last := -1
		for i, e := range elems {
			if m, ok := e.(map[string]any); ok && m["primary"] == true {
				last = i
			}
		}
		for i, e := range elems {
			if m, ok := e.(map[string]any); ok && i != last && m["primary"] == true {
				m = maps.Clone(m)
				m["primary"] = false
				elems[i] = m
			}
		}
	}
}
