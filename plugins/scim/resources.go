package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// badRequest is a request the client must fix: 400 with a scimType.
type badRequest struct {
	scimType, detail string
}

func (e *badRequest) Error() string { return e.detail }

func bad(scimType, format string, args ...any) error {
	return &badRequest{scimType, fmt.Sprintf(format, args...)}
}

func errResponse(err error) *response {
	var b *badRequest
	if errors.As(err, &b) {
		return scimErr(400, b.scimType, b.detail)
	}
	var f *filterError
	if errors.As(err, &f) {
		return scimErr(400, "invalidFilter", f.msg)
	}
	return internalErr(err)
}

// decodeBody decodes a JSON object body, keeping numbers exact.
func decodeBody(r *request) (map[string]any, *response) {
	if len(r.body) > conf().MaxBodyBytes {
		return nil, scimErr(413, "", fmt.Sprintf("the body exceeds %d bytes", conf().MaxBodyBytes))
	}
	if ct := strings.ToLower(r.header["content-type"]); ct != "" && !strings.Contains(ct, "json") {
		return nil, scimErr(415, "", "the body must be application/scim+json")
	}
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, scimErr(400, "invalidSyntax", "the body is not a JSON object")
	}
	if d.More() {
		return nil, scimErr(400, "invalidSyntax", "the body holds more than one JSON value")
	}
	return m, nil
}

// normalize validates a resource given by a client against rt's schemas
// and returns it with canonical attribute names. Read-only attributes
// (id, meta, groups) and the password are dropped; booleans sent as
// strings become booleans; unknown attributes and schemas are refused.
func normalize(rt *resourceType, in map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range in {
		switch {
		case strings.EqualFold(k, "schemas"):
			arr, ok := v.([]any)
			if !ok {
				return nil, bad("invalidSyntax", "schemas must be an array of URNs")
			}
			for _, s := range arr {
				u, _ := s.(string)
				if !strings.EqualFold(u, rt.Core.ID) && rt.extension(u) == nil {
					return nil, bad("invalidValue", "unknown schema %q for %s", u, rt.Name)
				}
			}
		case commonAttr(k) != nil:
			a := commonAttr(k)
			if a.readOnly() {
				continue
			}
			nv, err := normValue(a, v, a.Name)
			if err != nil {
				return nil, err
			}
			setOrDelete(out, a.Name, nv)
		case rt.extension(k) != nil:
			ext := rt.extension(k)
			m, ok := v.(map[string]any)
			if v == nil {
				continue
			}
			if !ok {
				return nil, bad("invalidSyntax", "%s must be an object", ext.ID)
			}
			em := map[string]any{}
			for ek, ev := range m {
				a := ext.attr(ek)
				if a == nil {
					return nil, bad("invalidSyntax", "unknown attribute %q of %s", ek, ext.ID)
				}
				if a.readOnly() {
					continue
				}
				nv, err := normValue(a, ev, ext.ID+":"+a.Name)
				if err != nil {
					return nil, err
				}
				setOrDelete(em, a.Name, nv)
			}
			if len(em) > 0 {
				out[ext.ID] = em
			}
		default:
			a := rt.Core.attr(k)
			if a == nil {
				return nil, bad("invalidSyntax", "unknown attribute %q of %s", k, rt.Name)
			}
			if a.readOnly() || a.Mutability == "writeOnly" {
				continue
			}
			nv, err := normValue(a, v, a.Name)
			if err != nil {
				return nil, err
			}
			setOrDelete(out, a.Name, nv)
		}
	}
	return out, nil
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
}

// normValue checks v against a; nil means unassigned.
func normValue(a *attrDef, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.Multi {
		arr, ok := v.([]any)
		if !ok {
			arr = []any{v} // a single value for a multi-valued attribute
		}
		out := make([]any, 0, len(arr))
		for _, e := range arr {
			ne, err := normSingle(a, e, path)
			if err != nil {
				return nil, err
			}
			if ne != nil {
				out = append(out, ne)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, ok := v.([]any); ok {
		return nil, bad("invalidValue", "%s is single-valued", path)
	}
	return normSingle(a, v, path)
}

func normSingle(a *attrDef, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case tComplex:
		m, ok := v.(map[string]any)
		if s, isStr := v.(string); isStr && !a.Multi && a.sub("value") != nil {
			// Entra ID sends the manager (and other value-bearing complex
			// attributes) as the bare value.
			m, ok = map[string]any{"value": s}, true
		}
		if !ok {
			return nil, bad("invalidValue", "%s must be an object", path)
		}
		out := map[string]any{}
		for k, sv := range m {
			s := a.sub(k)
			if s == nil {
				return nil, bad("invalidSyntax", "unknown attribute %q of %s", k, path)
			}
			if s.readOnly() && a.Name != "manager" {
				continue
			}
			ns, err := normSingle(s, sv, path+"."+s.Name)
			if err != nil {
				return nil, err
			}
			setOrDelete(out, s.Name, ns)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case tBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, ok := parseBoolString(x); ok {
				return b, nil
			}
		}
		return nil, bad("invalidValue", "%s must be a boolean", path)
	case tInteger, tDecimal:
		n, ok := v.(json.Number)
		if !ok {
			if s, isStr := v.(string); isStr {
				n, ok = json.Number(s), true
			}
		}
		if !ok {
			return nil, bad("invalidValue", "%s must be a number", path)
		}
		if _, err := n.Float64(); err != nil {
			return nil, bad("invalidValue", "%s must be a number", path)
		}
		return n, nil
	case tDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad("invalidValue", "%s must be a dateTime", path)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, bad("invalidValue", "%s must be an RFC 3339 dateTime", path)
		}
		return s, nil
	default:
		switch x := v.(type) {
		case string:
			if len(x) > 4096 {
				return nil, bad("invalidValue", "%s is longer than 4096 bytes", path)
			}
			return x, nil
		case json.Number: // e.g. employeeNumber sent as a number
			return x.String(), nil
		}
		return nil, bad("invalidValue", "%s must be a string", path)
	}
}

// check validates what the schema requires of a whole resource.
func check(rt *resourceType, res map[string]any) error {
	for _, a := range rt.Core.Attrs {
		if a.Required {
			s, _ := res[a.Name].(string)
			if strings.TrimSpace(s) == "" {
				return bad("invalidValue", "%s is required", a.Name)
			}
		}
	}
	return nil
}

func nowString() string { return sdk.Now().UTC().Format(time.RFC3339Nano) }

func etag(ver uint64) string { return `W/"` + strconv.FormatUint(ver, 10) + `"` }

// ifMatch checks an If-Match header against the version (RFC 7644
// section 3.14); "" means the header was absent.
func ifMatch(h string, ver uint64) bool {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return true
	}
	want := strconv.FormatUint(ver, 10)
	for _, t := range strings.Split(h, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if strings.Trim(t, `"`) == want {
			return true
		}
	}
	return false
}

// render returns the resource as the client sees it: meta completed
// (version, location) and schemas listed.
func render(rt *resourceType, r *request, id string, res map[string]any, ver uint64) map[string]any {
	out := maps.Clone(res)
	out["id"] = id
	meta, _ := out["meta"].(map[string]any)
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["resourceType"] = rt.Name
	meta["version"] = etag(ver)
	meta["location"] = r.base + rt.Endpoint + "/" + id
	out["meta"] = meta
	sch := []any{rt.Core.ID}
	for _, e := range rt.Extensions {
		if _, ok := out[e.ID]; ok {
			sch = append(sch, e.ID)
		}
	}
	out["schemas"] = sch
	return out
}

// projection applies attributes / excludedAttributes (RFC 7644 section
// 3.9). id and schemas are always returned.
type projection struct {
	include, exclude []attrRef
}

func parseProjection(rt *resourceType, q map[string][]string) (*projection, error) {
	p := &projection{}
	for _, spec := range []struct {
		name string
		dst  *[]attrRef
	}{{"attributes", &p.include}, {"excludedAttributes", &p.exclude}} {
		for _, v := range q[spec.name] {
			for _, s := range strings.Split(v, ",") {
				s = strings.TrimSpace(s)
				if s == "" {
					continue
				}
				ref, ok := rt.resolve(s)
				if !ok {
					if ext, core, rest, ok := rt.splitURN(s); ok && ext != nil && !core && rest == "" {
						ref = attrRef{Ext: ext.ID}
					} else {
						return nil, bad("invalidValue", "unknown attribute %q in %s", s, spec.name)
					}
				}
				*spec.dst = append(*spec.dst, ref)
			}
		}
	}
	return p, nil
}

func (p *projection) apply(res map[string]any) map[string]any {
	if p == nil || (len(p.include) == 0 && len(p.exclude) == 0) {
		return res
	}
	if len(p.include) > 0 {
		out := map[string]any{"id": res["id"], "schemas": res["schemas"]}
		for _, ref := range p.include {
			copyRef(out, res, ref)
		}
		res = out
	}
	for _, ref := range p.exclude {
		if ref.Attr == attrID {
			continue
		}
		dropRef(res, ref)
	}
	return res
}

func container(m map[string]any, ext string, create bool) map[string]any {
	if ext == "" {
		return m
	}
	c, _ := m[ext].(map[string]any)
	if c == nil && create {
		c = map[string]any{}
		m[ext] = c
	}
	return c
}

func copyRef(dst, src map[string]any, ref attrRef) {
	sc := container(src, ref.Ext, false)
	if sc == nil {
		return
	}
	if ref.Attr == nil { // a whole extension
		dst[ref.Ext] = sc
		return
	}
	v, ok := sc[ref.Attr.Name]
	if !ok {
		return
	}
	dc := container(dst, ref.Ext, true)
	if ref.Sub == nil {
		dc[ref.Attr.Name] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if sv, ok := x[ref.Sub.Name]; ok {
			m, _ := dc[ref.Attr.Name].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			m[ref.Sub.Name] = sv
			dc[ref.Attr.Name] = m
		}
	case []any:
		var arr []any
		for _, e := range elements(x) {
			if sv, ok := e[ref.Sub.Name]; ok {
				arr = append(arr, map[string]any{ref.Sub.Name: sv})
			}
		}
		if len(arr) > 0 {
			dc[ref.Attr.Name] = arr
		}
	}
}

func dropRef(m map[string]any, ref attrRef) {
	if ref.Attr == nil {
		delete(m, ref.Ext)
		return
	}
	c := container(m, ref.Ext, false)
	if c == nil {
		return
	}
	if ref.Sub == nil {
		delete(c, ref.Attr.Name)
		return
	}
	switch x := c[ref.Attr.Name].(type) {
	case map[string]any:
		x = maps.Clone(x)
		delete(x, ref.Sub.Name)
		c[ref.Attr.Name] = x
	case []any:
		arr := make([]any, 0, len(x))
		for _, e := range elements(x) {
			e = maps.Clone(e)
			delete(e, ref.Sub.Name)
			arr = append(arr, e)
		}
		c[ref.Attr.Name] = arr
	}
}

// resources serves /Users and /Groups.
func resources(ctx context.Context, r *request, rt *resourceType) *response {
	rp := repo{ent: r.ent, rt: rt}
	switch {
	case len(r.path) == 1 && r.method == "GET":
		return list(ctx, r, rp, r.query)
	case len(r.path) == 1 && r.method == "POST":
		return create(ctx, r, rp)
	case len(r.path) == 2 && r.path[1] == ".search" && r.method == "POST":
		return search(ctx, r, rp)
	case len(r.path) == 2:
		id := r.path[1]
		switch r.method {
		case "GET":
			return get(ctx, r, rp, id)
		case "PUT":
			return replace(ctx, r, rp, id)
		case "PATCH":
			return patch(ctx, r, rp, id)
		case "DELETE":
			return remove(ctx, r, rp, id)
		}
	}
	return notAllowed(r)
}

func notFound(rt *resourceType, id string) *response {
	return scimErr(404, "", rt.Name+" "+id+" not found")
}

func get(ctx context.Context, r *request, rp repo, id string) *response {
	res, ver, ok, err := rp.get(ctx, id)
	if err != nil {
		return internalErr(err)
	}
	if !ok {
		return notFound(rp.rt, id)
	}
	proj, err := parseProjection(rp.rt, r.query)
	if err != nil {
		return errResponse(err)
	}
	if inm := r.header["if-none-match"]; inm != "" && ifMatch(inm, ver) {
		return &response{status: 304, header: [][2]string{{"ETag", etag(ver)}}}
	}
	out := render(rp.rt, r, id, res, ver)
	if rp.rt == userType {
		groups, err := groupsOf(ctx, r, id)
		if err != nil {
			return internalErr(err)
		}
		if len(groups) > 0 {
			out["groups"] = groups
		}
	}
	return &response{status: 200, body: proj.apply(out), header: [][2]string{{"ETag", etag(ver)}}}
}

// groupsOf is the read-only "groups" attribute of a user (RFC 7643 section
// 4.1.2): the groups listing it as a member, found by a scan of the
// enterprise's groups that decodes only those whose bytes hold the id.
func groupsOf(ctx context.Context, r *request, userID string) ([]any, error) {
	gr := repo{ent: r.ent, rt: groupType}
	needle := []byte(`"` + userID + `"`)
	var out []any
	err := gr.scanRaw(ctx, func(raw []byte) bool { return bytes.Contains(raw, needle) }, func(gid string, g map[string]any, _ uint64) bool {
		for _, m := range elements(g["members"]) {
			if m["value"] == userID {
				e := map[string]any{"value": gid, "$ref": r.base + "/Groups/" + gid, "type": "direct"}
				if d, ok := g["displayName"].(string); ok {
					e["display"] = d
				}
				out = append(out, e)
				break
			}
		}
		return true
	})
	return out, err
}

// list answers a ListResponse: filter, startIndex (1-based; less than 1
// is 1), count (capped at maxResults; 0 answers the total only) and the
// projection. Resources come in id order.
func list(ctx context.Context, r *request, rp repo, q map[string][]string) *response {
	get1 := func(k string) string {
		for qk, v := range q {
			if strings.EqualFold(qk, k) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	start, count := 1, conf().DefaultCount
	if s := get1("startIndex"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return scimErr(400, "invalidValue", "startIndex must be an integer")
		}
		start = max(n, 1) // RFC 7644 3.4.2.4: less than 1 is 1
	}
	if s := get1("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return scimErr(400, "invalidValue", "count must be an integer")
		}
		count = min(max(n, 0), conf().MaxResults)
	}
	// sortBy is ignored: sort.supported is false (RFC 7644 section 3.4.2.3).
	proj, err := parseProjection(rp.rt, q)
	if err != nil {
		return errResponse(err)
	}
	var f node
	if s := get1("filter"); s != "" {
		if f, err = parseFilter(rp.rt, s); err != nil {
			return errResponse(err)
		}
	}
	var items []any
	total := 0
	size := 0
	add := func(id string, res map[string]any, ver uint64) bool {
		if f != nil && !f.eval(withID(res, id)) {
			return true
		}
		total++
		if total >= start && len(items) < count && size < 900<<10 {
			out := proj.apply(render(rp.rt, r, id, res, ver))
			b, _ := json.Marshal(out)
			size += len(b)
			items = append(items, json.RawMessage(b))
		}
		return true
	}
	if name, ok := userNameEq(f); ok && rp.rt == userType {
		id, res, ver, found, err := rp.byName(ctx, name)
		if err != nil {
			return internalErr(err)
		}
		if found {
			add(id, res, ver)
		}
	} else if f == nil {
		// No filter: count without decoding; decode the page only.
		err := rp.scanBytes(ctx, func(id string, raw []byte, ver uint64) (bool, error) {
			total++
			if total >= start && len(items) < count && size < 900<<10 {
				res, err := decodeResource(raw)
				if err != nil {
					return false, err
				}
				total--
				add(id, res, ver)
			}
			return true, nil
		})
		if err != nil {
			return internalErr(err)
		}
	} else if err := rp.scanRaw(ctx, prefilter(f), add); err != nil {
		return internalErr(err)
	}
	return &response{status: 200, body: listResponse(items, total, start)}
}

// withID makes id visible to a filter (it is not stored in the value).
func withID(res map[string]any, id string) map[string]any {
	if _, ok := res["id"]; ok {
		return res
	}
	res["id"] = id
	return res
}

// search is POST /.search (RFC 7644 section 3.4.3).
func search(ctx context.Context, r *request, rp repo) *response {
	m, e := decodeBody(r)
	if e != nil {
		return e
	}
	q := map[string][]string{}
	for k, v := range m {
		switch strings.ToLower(k) {
		case "schemas":
		case "filter", "sortby", "sortorder":
			s, _ := v.(string)
			q[k] = []string{s}
		case "startindex", "count":
			q[k] = []string{fmt.Sprint(v)}
		case "attributes", "excludedattributes":
			arr, _ := v.([]any)
			var parts []string
			for _, a := range arr {
				s, _ := a.(string)
				parts = append(parts, s)
			}
			q[k] = []string{strings.Join(parts, ",")}
		default:
			return scimErr(400, "invalidSyntax", "unknown search parameter "+k)
		}
	}
	return list(ctx, r, rp, q)
}

func userName(res map[string]any) string { s, _ := res["userName"].(string); return s }

func create(ctx context.Context, r *request, rp repo) *response {
	body, e := decodeBody(r)
	if e != nil {
		return e
	}
	res, err := normalize(rp.rt, body)
	if err == nil {
		err = check(rp.rt, res)
	}
	if err != nil {
		return errResponse(err)
	}
	id := newID()
	now := nowString()
	res["meta"] = map[string]any{"resourceType": rp.rt.Name, "created": now, "lastModified": now}
	if rp.rt == userType {
		if _, ok := res["active"]; !ok {
			res["active"] = true // RFC 7643 leaves it to the provider; Okta and Entra send it
		}
		switch err := rp.claimName(ctx, userName(res), id); {
		case errors.Is(err, errTaken):
			return scimErr(409, "uniqueness", "userName "+strconv.Quote(userName(res))+" is already taken")
		case err != nil:
			return internalErr(err)
		}
	}
	ver, err := rp.put(ctx, id, res, 0)
	if err != nil {
		if rp.rt == userType {
			_ = rp.releaseName(ctx, userName(res), id)
		}
		return internalErr(err)
	}
	out := render(rp.rt, r, id, res, ver)
	loc := r.base + rp.rt.Endpoint + "/" + id
	return &response{status: 201, body: out, header: [][2]string{{"ETag", etag(ver)}, {"Location", loc}},
		events: []*abiv1.DirectoryEvent{event(rp.rt, abiv1.EventActionCreated, id, res)}}
}

// update is the read-modify-write shared by PUT and PATCH: change turns
// the stored resource into the new one. Without If-Match a concurrent
// write is retried; with it, a version mismatch is 412.
func update(ctx context.Context, r *request, rp repo, id string, change func(old map[string]any) (map[string]any, error)) *response {
	match := r.header["if-match"]
	for range 8 {
		old, ver, ok, err := rp.get(ctx, id)
		if err != nil {
			return internalErr(err)
		}
		if !ok {
			return notFound(rp.rt, id)
		}
		if !ifMatch(match, ver) {
			return scimErr(412, "", "the resource changed: its version is "+etag(ver))
		}
		res, err := change(deepCopy(old))
		if err == nil {
			err = check(rp.rt, res)
		}
		if err != nil {
			return errResponse(err)
		}
		meta, _ := old["meta"].(map[string]any)
		meta = maps.Clone(meta)
		if meta == nil {
			meta = map[string]any{"resourceType": rp.rt.Name}
		}
		delete(res, "id")
		changed := !jsonEqual(stripMeta(old), stripMeta(res))
		if !changed {
			return &response{status: 200, body: render(rp.rt, r, id, old, ver), header: [][2]string{{"ETag", etag(ver)}}}
		}
		meta["lastModified"] = nowString()
		res["meta"] = meta
		oldName, newName := userName(old), userName(res)
		renamed := rp.rt == userType && !strings.EqualFold(oldName, newName)
		if renamed {
			switch err := rp.claimName(ctx, newName, id); {
			case errors.Is(err, errTaken):
				return scimErr(409, "uniqueness", "userName "+strconv.Quote(newName)+" is already taken")
			case err != nil:
				return internalErr(err)
			}
		}
		nv, err := rp.put(ctx, id, res, ver)
		if errors.Is(err, errConflict) {
			if renamed {
				_ = rp.releaseName(ctx, newName, id)
			}
			if match != "" {
				return scimErr(412, "", "the resource changed meanwhile")
			}
			continue
		}
		if err != nil {
			return internalErr(err)
		}
		if renamed {
			_ = rp.releaseName(ctx, oldName, id)
		}
		action := abiv1.EventActionUpdated
		if rp.rt == userType && !isActive(res) && isActive(old) {
			action = abiv1.EventActionDeactivated
		}
		return &response{status: 200, body: render(rp.rt, r, id, res, nv), header: [][2]string{{"ETag", etag(nv)}},
			events: []*abiv1.DirectoryEvent{event(rp.rt, action, id, res)}}
	}
	return scimErr(409, "", "too many concurrent changes to "+id)
}

func stripMeta(m map[string]any) map[string]any {
	c := maps.Clone(m)
	delete(c, "meta")
	delete(c, "id")
	return c
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	out, _ := decodeResource(b)
	return out
}

func isActive(res map[string]any) bool {
	b, ok := res["active"].(bool)
	return !ok || b
}

func replace(ctx context.Context, r *request, rp repo, id string) *response {
	body, e := decodeBody(r)
	if e != nil {
		return e
	}
	res, err := normalize(rp.rt, body)
	if err != nil {
		return errResponse(err)
	}
	if rp.rt == userType {
		if _, ok := res["active"]; !ok {
			res["active"] = true
		}
	}
	return update(ctx, r, rp, id, func(old map[string]any) (map[string]any, error) {
		if v, ok := body["id"].(string); ok && v != id {
			return nil, bad("mutability", "id %q does not match the resource %s", v, id)
		}
		return maps.Clone(res), nil
	})
}

func remove(ctx context.Context, r *request, rp repo, id string) *response {
	for range 8 {
		old, ver, ok, err := rp.get(ctx, id)
		if err != nil {
			return internalErr(err)
		}
		if !ok {
			return notFound(rp.rt, id)
		}
		if !ifMatch(r.header["if-match"], ver) {
			return scimErr(412, "", "the resource changed: its version is "+etag(ver))
		}
		if _, err := rp.delete(ctx, id, ver); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return internalErr(err)
		}
		events := []*abiv1.DirectoryEvent{event(rp.rt, abiv1.EventActionDeleted, id, old)}
		if rp.rt == userType {
			_ = rp.releaseName(ctx, userName(old), id)
			evs, err := dropMember(ctx, r.ent, id)
			if err != nil {
				sdk.Log(slog.LevelWarn, "removing a deleted user from groups failed", slog.String("err", err.Error()))
			}
			events = append(events, evs...)
		}
		return &response{status: 204, events: events}
	}
	return scimErr(409, "", "too many concurrent changes to "+id)
}

// dropMember removes a deleted user from every group of the enterprise.
func dropMember(ctx context.Context, ent, userID string) ([]*abiv1.DirectoryEvent, error) {
	gr := repo{ent: ent, rt: groupType}
	var ids []string
	err := gr.scan(ctx, func(id string, res map[string]any, _ uint64) bool {
		for _, m := range elements(res["members"]) {
			if m["value"] == userID {
				ids = append(ids, id)
				break
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var evs []*abiv1.DirectoryEvent
	for _, gid := range ids {
		for range 5 {
			res, ver, ok, err := gr.get(ctx, gid)
			if err != nil || !ok {
				break
			}
			var kept []any
			for _, m := range elements(res["members"]) {
				if m["value"] != userID {
					kept = append(kept, m)
				}
			}
			setOrDelete(res, "members", nilIfEmpty(kept))
			if meta, ok := res["meta"].(map[string]any); ok {
				meta["lastModified"] = nowString()
			}
			if _, err := gr.put(ctx, gid, res, ver); errors.Is(err, errConflict) {
				continue
			} else if err != nil {
				return evs, err
			}
			evs = append(evs, event(groupType, abiv1.EventActionUpdated, gid, res))
			break
		}
	}
	return evs, nil
}

func nilIfEmpty(a []any) any {
	if len(a) == 0 {
		return nil
	}
	return a
}

// event is the lifecycle event of a change to a resource.
func event(rt *resourceType, action abiv1.EventAction, id string, res map[string]any) *abiv1.DirectoryEvent {
	ev := &abiv1.DirectoryEvent{Kind: abiv1.ObjectKindUser, Action: action, ID: id, OccurredAtUnixNano: sdk.Now().UnixNano()}
	ev.ExternalID, _ = res["externalId"].(string)
	attrs := map[string]string{}
	set := func(k string, v any) {
		if s, ok := v.(string); ok && s != "" {
			attrs[k] = s
		}
	}
	if rt == groupType {
		ev.Kind = abiv1.ObjectKindGroup
		set("displayName", res["displayName"])
		for _, m := range elements(res["members"]) {
			if v, ok := m["value"].(string); ok {
				ev.MemberIDs = append(ev.MemberIDs, v)
			}
		}
		sort.Strings(ev.MemberIDs)
		ev.Attributes = attrs
		return ev
	}
	set("userName", res["userName"])
	set("displayName", res["displayName"])
	set("title", res["title"])
	if n, ok := res["name"].(map[string]any); ok {
		set("givenName", n["givenName"])
		set("familyName", n["familyName"])
	}
	attrs["active"] = strconv.FormatBool(isActive(res))
	attrs["email"] = primaryEmail(res)
	if attrs["email"] == "" {
		delete(attrs, "email")
	}
	if ext, ok := res[urnEnterpriseUser].(map[string]any); ok {
		for _, k := range []string{"employeeNumber", "department", "organization", "division", "costCenter"} {
			set(k, ext[k])
		}
		if m, ok := ext["manager"].(map[string]any); ok {
			set("manager", m["value"])
		}
	}
	ev.Attributes = attrs
	return ev
}

// primaryEmail is the primary e-mail, else the work one, else the first.
func primaryEmail(res map[string]any) string {
	es := elements(res["emails"])
	for _, pick := range []func(map[string]any) bool{
		func(e map[string]any) bool { return e["primary"] == true },
		func(e map[string]any) bool { t, _ := e["type"].(string); return strings.EqualFold(t, "work") },
		func(map[string]any) bool { return true },
	} {
		for _, e := range es {
			if v, ok := e["value"].(string); ok && v != "" && pick(e) {
				return v
			}
		}
	}
	return ""
}
