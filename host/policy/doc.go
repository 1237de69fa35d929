// Package policy decides every HTTP request with the Rego policy
// data.gatewayd.authz (Rego v1), embedded in the process with OPA.
//
// # Input document
//
// Decide turns an [Input] into this document:
//
//	{
//	  "method":    "GET",
//	  "route":     "users.me",          // route ID; "" or "notfound" when no route matched
//	  "params":    {"userId": "..."},   // path parameters
//	  "path":      "/api/v1/users/me",
//	  "listener":  "public" | "admin",
//	  "principal": {
//	    "authenticated": true,
//	    "id":            "",
//	    "roles":         ["user"],
//	    "tenant":        "",
//	    "auth_method":   "anonymous" | "jwt" | "api_key",
//	    "permissions":   []
//	  },
//	  "client_ip": "1.2.3.4",
//	  "time_ns":   1700000000000000000
//	}
//
// Every field is always present; params holds exactly the route's path
// parameters.
//
// # Result
//
// The policy defines allow (bool, default false), reason (string, always
// set), obligations (object; rate_limit_class is "auth", "did", "api" or
// "none") and, for decisions that depend on time, valid_until_ns (Unix
// nanoseconds after which the decision must be made again).
//
// # Policy versions
//
// A policy version is the set of .rego files and data.json/data.yaml files
// in a directory (or the embedded policies.FS); _test.rego files are its
// tests. A version is accepted only if it compiles, defines
// data.gatewayd.authz.allow and passes its own tests. [Engine] polls the
// directory and swaps in each accepted version atomically; a rejected version
// is logged and counted, and the previous one keeps serving.
//
// # Decision cache
//
// When a version is loaded, every reference to input in its compiled
// (non-test) rules and functions is collected. If all of them start with a
// constant field name, the cache key is the revision plus the values of
// exactly those fields; a field the policy never reads cannot split the
// cache, and a field it reads always does. A reference such as input[x], a
// use of the whole input document, or a non-deterministic built-in other
// than time.now_ns disables caching for that version. Reading input.time_ns
// (or time.now_ns) makes a decision cacheable only if it carries
// valid_until_ns, and such an entry is used only for request times before
// it. Every entry expires after at most one minute.
package policy
