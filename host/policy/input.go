package policy

import (
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Principal is who makes a request, as established by authentication.
type Principal struct {
	// Authenticated is true when the request carried valid credentials.
	Authenticated bool
	// ID is the user ID; empty when anonymous.
	ID string
	// Roles are the principal's roles, e.g. "user", "admin".
	Roles []string
	// Tenant is the principal's tenant, if any.
	Tenant string
	// AuthMethod is "anonymous", "jwt" or "api_key".
	AuthMethod string
	// Permissions are fine-grained grants carried by the credentials.
	Permissions []string
}

// Input is one request to decide. See the package documentation for the
// document the policy sees.
type Input struct {
	// Method is the HTTP method.
	Method string
	// Route is the route ID from the router; "" or "notfound" when no route
	// matched.
	Route string
	// Path is the request path.
	Path string
	// Listener is "public" or "admin".
	Listener string
	// ClientIP is the client's address.
	ClientIP string
	// Params are the route's path parameters, e.g. "userId".
	Params map[string]string
	// Principal is who makes the request.
	Principal Principal
	// Time is the request time; the zero value means now.
	Time time.Time
}

// Keys of the input document, allocated once.
var (
	termMethod        = ast.StringTerm("method")
	termRoute         = ast.StringTerm("route")
	termParams        = ast.StringTerm("params")
	termPath          = ast.StringTerm("path")
	termListener      = ast.StringTerm("listener")
	termPrincipal     = ast.StringTerm("principal")
	termClientIP      = ast.StringTerm("client_ip")
	termTimeNS        = ast.StringTerm("time_ns")
	termAuthenticated = ast.StringTerm("authenticated")
	termID            = ast.StringTerm("id")
	termRoles         = ast.StringTerm("roles")
	termTenant        = ast.StringTerm("tenant")
	termAuthMethod    = ast.StringTerm("auth_method")
	termPermissions   = ast.StringTerm("permissions")
	termEmptyObject   = ast.ObjectTerm()
)

// astValue builds the input document directly as an AST value, with the
// request time t in Unix nanoseconds. When sel is not nil, only the fields it
// selects are included: a policy cannot observe the others.
func (in *Input) astValue(t int64, sel *selection) ast.Value {
	if sel == nil {
		sel = &selectAll
	}
	p := &in.Principal
	var principal *ast.Term
	if sel.principal != 0 {
		items := make([][2]*ast.Term, 0, 6)
		if sel.has(fieldAuthenticated) {
			items = append(items, [2]*ast.Term{termAuthenticated, ast.InternedTerm(p.Authenticated)})
		}
		if sel.has(fieldID) {
			items = append(items, [2]*ast.Term{termID, ast.InternedTerm(p.ID)})
		}
		if sel.has(fieldRoles) {
			items = append(items, [2]*ast.Term{termRoles, stringsTerm(p.Roles)})
		}
		if sel.has(fieldTenant) {
			items = append(items, [2]*ast.Term{termTenant, ast.InternedTerm(p.Tenant)})
		}
		if sel.has(fieldAuthMethod) {
			items = append(items, [2]*ast.Term{termAuthMethod, ast.InternedTerm(p.AuthMethod)})
		}
		if sel.has(fieldPermissions) {
			items = append(items, [2]*ast.Term{termPermissions, stringsTerm(p.Permissions)})
		}
		principal = ast.ObjectTerm(items...)
	}
	items := make([][2]*ast.Term, 0, 8)
	if sel.has(fieldMethod) {
		items = append(items, [2]*ast.Term{termMethod, ast.InternedTerm(in.Method)})
	}
	if sel.has(fieldRoute) {
		items = append(items, [2]*ast.Term{termRoute, ast.InternedTerm(in.Route)})
	}
	if sel.has(fieldParams) {
		items = append(items, [2]*ast.Term{termParams, paramsTerm(in.Params, sel.params)})
	}
	if sel.has(fieldPath) {
		items = append(items, [2]*ast.Term{termPath, ast.InternedTerm(in.Path)})
	}
	if sel.has(fieldListener) {
		items = append(items, [2]*ast.Term{termListener, ast.InternedTerm(in.Listener)})
	}
	if principal != nil {
		items = append(items, [2]*ast.Term{termPrincipal, principal})
	}
	if sel.has(fieldClientIP) {
		items = append(items, [2]*ast.Term{termClientIP, ast.InternedTerm(in.ClientIP)})
	}
	if sel.time {
		items = append(items, [2]*ast.Term{termTimeNS, ast.NewTerm(ast.Number(strconv.FormatInt(t, 10)))})
	}
	return ast.NewObject(items...)
}

// selection is the set of input fields a policy can read.
type selection struct {
	fields    uint32 // bit per field
	principal uint32 // nonzero when any principal field is selected
	// params lists the path parameters read; nil means all of them.
	params []string
	time   bool
}

// selectAll selects the whole input document.
var selectAll = func() selection {
	s := selection{time: true}
	for f := fieldMethod; f <= fieldPermissions; f++ {
		s.fields |= 1 << f
	}
	s.principal = s.fields >> fieldAuthenticated
	return s
}()

func (s *selection) has(f field) bool { return s.fields&(1<<f) != 0 }

// newSelection returns the fields covered by d, or nil (everything) when the
// policy's reads are not known statically.
func newSelection(d *deps) *selection {
	if !d.cacheable {
		return nil
	}
	s := &selection{time: d.usesTime}
	allParams := false
	for _, p := range d.parts {
		switch p.field {
		case fieldParam:
			s.fields |= 1 << fieldParams
			s.params = append(s.params, p.param)
		case fieldParams:
			s.fields |= 1 << fieldParams
			allParams = true
		case fieldPrincipal:
			for f := fieldAuthenticated; f <= fieldPermissions; f++ {
				s.fields |= 1 << f
			}
		default:
			s.fields |= 1 << p.field
		}
	}
	if allParams {
		s.params = nil
	}
	s.principal = s.fields >> fieldAuthenticated
	return s
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.InternedTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

// paramsTerm builds the params object: all parameters when only is nil,
// otherwise just those named in only.
func paramsTerm(params map[string]string, only []string) *ast.Term {
	if len(params) == 0 {
		return termEmptyObject
	}
	items := make([][2]*ast.Term, 0, len(params))
	if only != nil {
		for _, k := range only {
			if v, ok := params[k]; ok {
				items = append(items, [2]*ast.Term{ast.InternedTerm(k), ast.InternedTerm(v)})
			}
		}
		return ast.ObjectTerm(items...)
	}
	for k, v := range params {
		items = append(items, [2]*ast.Term{ast.InternedTerm(k), ast.InternedTerm(v)})
	}
	return ast.ObjectTerm(items...)
}
