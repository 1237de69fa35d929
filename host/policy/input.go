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
// request time t in Unix nanoseconds.
func (in *Input) astValue(t int64) ast.Value {
	p := &in.Principal
	principal := ast.NewObject(
		[2]*ast.Term{termAuthenticated, ast.InternedTerm(p.Authenticated)},
		[2]*ast.Term{termID, ast.InternedTerm(p.ID)},
		[2]*ast.Term{termRoles, stringsTerm(p.Roles)},
		[2]*ast.Term{termTenant, ast.InternedTerm(p.Tenant)},
		[2]*ast.Term{termAuthMethod, ast.InternedTerm(p.AuthMethod)},
		[2]*ast.Term{termPermissions, stringsTerm(p.Permissions)},
	)
	return ast.NewObject(
		[2]*ast.Term{termMethod, ast.InternedTerm(in.Method)},
		[2]*ast.Term{termRoute, ast.InternedTerm(in.Route)},
		[2]*ast.Term{termParams, paramsTerm(in.Params)},
		[2]*ast.Term{termPath, ast.InternedTerm(in.Path)},
		[2]*ast.Term{termListener, ast.InternedTerm(in.Listener)},
		[2]*ast.Term{termPrincipal, ast.NewTerm(principal)},
		[2]*ast.Term{termClientIP, ast.InternedTerm(in.ClientIP)},
		[2]*ast.Term{termTimeNS, ast.NewTerm(ast.Number(strconv.FormatInt(t, 10)))},
	)
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.InternedTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func paramsTerm(params map[string]string) *ast.Term {
	if len(params) == 0 {
		return termEmptyObject
	}
	items := make([][2]*ast.Term, 0, len(params))
	for k, v := range params {
		items = append(items, [2]*ast.Term{ast.InternedTerm(k), ast.InternedTerm(v)})
	}
	return ast.ObjectTerm(items...)
}
