package httpapi

import (
	"strings"
)

// HandlerFunc serves one matched request. A returned *Error is written as
// the JSON error; any other error is a 500.
type HandlerFunc func(c *Ctx) error

// Route is a registered route. Name is the route ID the policy sees.
type Route struct {
	Method  string
	Pattern string // segments; "{name}" captures one segment
	Name    string
	Handler HandlerFunc

	segs []string
}

// router matches a method and a path to a route. Static paths are one map
// lookup; patterned ones are matched segment by segment. Routes are
// registered at start and never change, so no lock is needed.
type router struct {
	static  map[string]map[string]*Route // path → method → route
	pattern []*Route
	all     []*Route
}

func newRouter() *router {
	return &router{static: make(map[string]map[string]*Route)}
}

func (r *router) add(method, pattern, name string, h HandlerFunc) {
	rt := &Route{Method: method, Pattern: pattern, Name: name, Handler: h}
	r.all = append(r.all, rt)
	if !strings.Contains(pattern, "{") {
		m := r.static[pattern]
		if m == nil {
			m = make(map[string]*Route)
			r.static[pattern] = m
		}
		m[method] = rt
		return
	}
	rt.segs = strings.Split(strings.Trim(pattern, "/"), "/")
	r.pattern = append(r.pattern, rt)
}

// match returns the route for method and path, with its parameters
// appended to params. If the path exists under other methods only,
// methodMismatch is true.
func (r *router) match(method, path string, params *[]param) (rt *Route, methodMismatch bool) {
	if m, ok := r.static[path]; ok {
		if rt := m[method]; rt != nil {
			return rt, false
		}
		if method == "HEAD" {
			if rt := m["GET"]; rt != nil {
				return rt, false
			}
		}
		return nil, true
	}
	trimmed := strings.Trim(path, "/")
	for _, rt := range r.pattern {
		start := len(*params)
		if !matchSegs(rt.segs, trimmed, params) {
			*params = (*params)[:start]
			continue
		}
		if rt.Method == method || (method == "HEAD" && rt.Method == "GET") {
			return rt, false
		}
		*params = (*params)[:start]
		methodMismatch = true
	}
	return nil, methodMismatch
}

func matchSegs(segs []string, path string, params *[]param) bool {
	for i, s := range segs {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		if seg == "" {
			return false
		}
		if len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' {
			*params = append(*params, param{name: s[1 : len(s)-1], value: seg})
		} else if s != seg {
			return false
		}
		if i == len(segs)-1 && path != "" {
			return false
		}
	}
	return path == ""
}

type param struct{ name, value string }
