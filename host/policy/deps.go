package policy

import (
	"encoding/binary"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// field is one input field a policy may read.
type field uint8

const (
	fieldMethod field = iota
	fieldRoute
	fieldPath
	fieldListener
	fieldClientIP
	fieldParams // the whole params object
	fieldParam  // one path parameter, keyPart.param
	fieldPrincipal
	fieldAuthenticated
	fieldID
	fieldRoles
	fieldTenant
	fieldAuthMethod
	fieldPermissions
)

var topLevelFields = map[string]field{
	"method":    fieldMethod,
	"route":     fieldRoute,
	"path":      fieldPath,
	"listener":  fieldListener,
	"client_ip": fieldClientIP,
}

var principalFields = map[string]field{
	"authenticated": fieldAuthenticated,
	"id":            fieldID,
	"roles":         fieldRoles,
	"tenant":        fieldTenant,
	"auth_method":   fieldAuthMethod,
	"permissions":   fieldPermissions,
}

// keyPart is one component of a cache key.
type keyPart struct {
	field field
	param string // for fieldParam
}

// deps is what a policy version's decisions depend on.
type deps struct {
	// cacheable is false when the inputs a decision depends on cannot be
	// determined statically; noCache says why.
	cacheable bool
	noCache   string
	// usesTime is set when the policy reads input.time_ns or calls
	// time.now_ns: such decisions are cached only with valid_until_ns.
	usesTime bool
	// parts are the input fields the cache key is built from, in key order.
	parts []keyPart
	// paths are the input paths read, for logs and tests.
	paths []string
}

// analyseDeps collects every reference to input in the compiled non-test
// modules of c (rules and functions) and derives the cache key from them.
var treasuryPackage = ast.MustParseRef("data.gatewayd.treasury")

func analyseDeps(c *ast.Compiler) deps {
	var (
		paths   = map[string][]string{}
		noCache []string
		d       deps
	)
	var visit func(x any)
	visit = func(x any) {
		ast.WalkTerms(x, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Ref:
				if !v.HasPrefix(ast.InputRootRef) {
					return false
				}
				path, static := staticPath(v)
				if !static {
					noCache = append(noCache, "dynamic reference "+v.String())
				} else {
					paths[strings.Join(path, ".")] = path
				}
				// Refs nested in the rest of this one (input.params[data.x.y]).
				for _, e := range v[1:] {
					visit(e)
				}
				return true
			case ast.Var:
				if v.Equal(ast.InputRootDocument.Value) {
					noCache = append(noCache, "whole input document used as a value")
				}
			case ast.Call:
				if op, ok := v[0].Value.(ast.Ref); ok {
					checkBuiltin(op, &d, &noCache)
				}
			}
			return false
		})
		ast.WalkExprs(x, func(e *ast.Expr) bool {
			if e.IsCall() {
				checkBuiltin(e.Operator(), &d, &noCache)
			}
			return false
		})
	}
	names := make([]string, 0, len(c.Modules))
	for name := range c.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// The sponsorship policy has an input of its own (SponsorInput)
		// and its own cache; it is not part of the request decision.
		if c.Modules[name].Package.Path.HasPrefix(treasuryPackage) {
			continue
		}
		visit(c.Modules[name])
	}

	var parts []keyPart
	for key, p := range paths {
		d.paths = append(d.paths, "input."+key)
		if len(p) == 0 {
			noCache = append(noCache, "whole input document used as a value")
			continue
		}
		switch p[0] {
		case "time_ns":
			d.usesTime = true
		case "params":
			if len(p) == 1 {
				parts = append(parts, keyPart{field: fieldParams})
			} else {
				parts = append(parts, keyPart{field: fieldParam, param: p[1]})
			}
		case "principal":
			if len(p) == 1 {
				parts = append(parts, keyPart{field: fieldPrincipal})
			} else if f, ok := principalFields[p[1]]; ok {
				parts = append(parts, keyPart{field: f})
			}
			// Other principal fields are always undefined: nothing to key on.
		default:
			if f, ok := topLevelFields[p[0]]; ok {
				parts = append(parts, keyPart{field: f})
			}
			// Other top-level fields are always undefined.
		}
	}
	sort.Strings(d.paths)
	d.parts = normaliseParts(parts)
	if len(noCache) > 0 {
		sort.Strings(noCache)
		d.noCache = strings.Join(slices.Compact(noCache), "; ")
		return d
	}
	d.cacheable = true
	return d
}

// staticPath returns the constant string path of an input reference, up to
// its first non-string term (the path then covers that subtree). It reports
// false when the term right after input is not a constant string.
func staticPath(r ast.Ref) ([]string, bool) {
	var path []string
	for i, t := range r[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			if i == 0 {
				return nil, false
			}
			break
		}
		path = append(path, string(s))
	}
	return path, true
}

// checkBuiltin records calls that affect caching: time.now_ns makes the
// decision time-dependent, other non-deterministic built-ins rule caching out.
func checkBuiltin(op ast.Ref, d *deps, noCache *[]string) {
	name := op.String()
	if name == ast.NowNanos.Name {
		d.usesTime = true
		return
	}
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		*noCache = append(*noCache, "non-deterministic built-in "+name)
	}
}

// normaliseParts sorts parts, drops duplicates and drops parts covered by a
// whole-object part (params, principal).
func normaliseParts(parts []keyPart) []keyPart {
	var allParams, allPrincipal bool
	for _, p := range parts {
		allParams = allParams || p.field == fieldParams
		allPrincipal = allPrincipal || p.field == fieldPrincipal
	}
	out := parts[:0]
	for _, p := range parts {
		if allParams && p.field == fieldParam {
			continue
		}
		if allPrincipal && p.field >= fieldAuthenticated {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].field != out[j].field {
			return out[i].field < out[j].field
		}
		return out[i].param < out[j].param
	})
	return slices.Compact(out)
}

// appendKey appends the cache key for in to buf: the revision, then the value
// of every part, each length-prefixed so that distinct inputs cannot collide.
func (d *deps) appendKey(buf []byte, revision string, in *Input) []byte {
	buf = appendString(buf, revision)
	for _, p := range d.parts {
		buf = p.appendValue(buf, in)
	}
	return buf
}

func (p keyPart) appendValue(buf []byte, in *Input) []byte {
	pr := &in.Principal
	switch p.field {
	case fieldMethod:
		return appendString(buf, in.Method)
	case fieldRoute:
		return appendString(buf, in.Route)
	case fieldPath:
		return appendString(buf, in.Path)
	case fieldListener:
		return appendString(buf, in.Listener)
	case fieldClientIP:
		return appendString(buf, in.ClientIP)
	case fieldParams:
		keys := make([]string, 0, len(in.Params))
		for k := range in.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf = binary.AppendUvarint(buf, uint64(len(keys)))
		for _, k := range keys {
			buf = appendString(buf, k)
			buf = appendString(buf, in.Params[k])
		}
		return buf
	case fieldParam:
		v, ok := in.Params[p.param]
		if !ok {
			return append(buf, 0)
		}
		return appendString(append(buf, 1), v)
	case fieldPrincipal:
		for f := fieldAuthenticated; f <= fieldPermissions; f++ {
			buf = keyPart{field: f}.appendValue(buf, in)
		}
		return buf
	case fieldAuthenticated:
		if pr.Authenticated {
			return append(buf, 1)
		}
		return append(buf, 0)
	case fieldID:
		return appendString(buf, pr.ID)
	case fieldRoles:
		return appendStrings(buf, pr.Roles)
	case fieldTenant:
		return appendString(buf, pr.Tenant)
	case fieldAuthMethod:
		return appendString(buf, pr.AuthMethod)
	case fieldPermissions:
		return appendStrings(buf, pr.Permissions)
	}
	panic("policy: unknown key field")
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ss)))
	for _, s := range ss {
		buf = appendString(buf, s)
	}
	return buf
}
