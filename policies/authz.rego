# Package gatewayd.authz decides every HTTP request gatewayd serves.
#
# Input document (built by host/policy):
#
#   {
#     "method":    "GET",                 # HTTP method
#     "route":     "users.me",            # route ID from the router; "" or "notfound" when no route matched
#     "params":    {"userId": "..."},     # path parameters of the route
#     "path":      "/api/v1/users/me",    # request path, for logging only; decide on "route"
#     "listener":  "public" | "admin",    # which listener took the request
#     "principal": {
#       "authenticated": true,
#       "id":            "",              # user ID, "" when anonymous
#       "roles":         ["user"],
#       "tenant":        "",
#       "auth_method":   "anonymous" | "jwt" | "api_key",
#       "permissions":   []
#     },
#     "client_ip": "1.2.3.4",
#     "time_ns":   1700000000000000000    # request time, Unix nanoseconds
#   }
#
# Result:
#
#   allow          bool, default false
#   reason         string, always set
#   obligations    object; rate_limit_class is one of "auth", "did", "api", "none"
#   valid_until_ns number, only for decisions that depend on time (this policy has none)
#
# The host caches decisions keyed on the input fields this policy reads, so read
# only what a decision needs. Adding a route is one line in `routes`.
package gatewayd.authz

# routes maps a route ID to its access rule and rate-limit class.
#
# access:
#   unrouted      no route matched: allowed so that the handler answers 404
#   public        anyone
#   metrics       the admin listener, or a principal with role admin
#   authenticated any authenticated principal (jwt or api_key)
#   jwt           a principal authenticated with a JWT (session)
#   self_or_admin a JWT principal whose id equals params.userId, or role admin
#   admin         role admin
#   enterprise_read a JWT principal (the handler checks that it owns the
#                 enterprise or is an admin), or an API key of the enterprise
#                 params.enterpriseId (tenant), or role admin
#   key:<perm>    an enterprise API key holding permission <perm> (the
#                 handler checks that the credential is its enterprise's)
#   key_or_admin  an enterprise API key (the handler checks the issuer), or
#                 role admin
routes := {
	"": {"access": "unrouted", "class": "api"},
	"notfound": {"access": "unrouted", "class": "api"},
	"health.live": {"access": "public", "class": "none"},
	"health.ready": {"access": "public", "class": "none"},
	"openapi": {"access": "public", "class": "none"},
	"jwks": {"access": "public", "class": "none"},
	"metrics": {"access": "metrics", "class": "none"},
	"users.register": {"access": "public", "class": "auth"},
	"auth.login": {"access": "public", "class": "auth"},
	"auth.refresh": {"access": "public", "class": "auth"},
	"auth.logout": {"access": "jwt", "class": "auth"},
	"auth.whoami": {"access": "authenticated", "class": "api"},
	"users.me": {"access": "jwt", "class": "api"},
	"users.limits.get": {"access": "self_or_admin", "class": "api"},
	"users.limits.check": {"access": "self_or_admin", "class": "api"},
	"admin.users.get": {"access": "admin", "class": "api"},
	"admin.backup": {"access": "admin", "class": "api"},
	"admin.plugins.list": {"access": "admin", "class": "api"},
	"admin.plugins.reload": {"access": "admin", "class": "api"},
	"did.resolve": {"access": "public", "class": "did"},
	"identity.did.get": {"access": "public", "class": "did"},
	"identity.dids.list": {"access": "jwt", "class": "api"},
	"identity.dids.create": {"access": "jwt", "class": "api"},
	"identity.dids.update": {"access": "jwt", "class": "api"},
	"identity.dids.delete": {"access": "jwt", "class": "api"},
	"domains.iam.register": {"access": "jwt", "class": "api"},
	"domains.iam.get": {"access": "public", "class": "did"},
	"domains.iam.renew": {"access": "jwt", "class": "api"},
	"domains.external.challenge": {"access": "jwt", "class": "api"},
	"domains.external.verify": {"access": "jwt", "class": "api"},
	"domains.external.list": {"access": "jwt", "class": "api"},
	"domains.external.delete": {"access": "jwt", "class": "api"},
	# Enterprise issuers: managed through a session; the handler checks that
	# the caller owns the enterprise or is an admin.
	"enterprises.register": {"access": "jwt", "class": "api"},
	"enterprises.get": {"access": "enterprise_read", "class": "api"},
	"enterprises.dns.initiate": {"access": "jwt", "class": "api"},
	"enterprises.dns.verify": {"access": "jwt", "class": "api"},
	"enterprises.apikeys.list": {"access": "jwt", "class": "api"},
	"enterprises.apikeys.create": {"access": "jwt", "class": "api"},
	"enterprises.apikeys.revoke": {"access": "jwt", "class": "api"},
	# Credentials: issued and managed by an enterprise's API key with the
	# permission; verified by anyone; held by users in their wallet.
	"credentials.issue": {"access": "key:issue_credentials", "class": "api"},
	"credentials.bulk": {"access": "key:issue_credentials", "class": "api"},
	"credentials.revoke": {"access": "key:revoke_credentials", "class": "api"},
	"credentials.suspend": {"access": "key:revoke_credentials", "class": "api"},
	"credentials.unsuspend": {"access": "key:revoke_credentials", "class": "api"},
	"credentials.list": {"access": "key:query_recipients", "class": "api"},
	"credentials.get": {"access": "key_or_admin", "class": "api"},
	"credentials.verify": {"access": "public", "class": "api"},
	"statuslists.get": {"access": "public", "class": "none"},
	"wallet.list": {"access": "jwt", "class": "api"},
	"wallet.get": {"access": "jwt", "class": "api"},
	"wallet.delete": {"access": "jwt", "class": "api"},
	# The W3C VC-API (VCALM) endpoints over the same service.
	"vcapi.credentials.issue": {"access": "key:issue_credentials", "class": "api"},
	"vcapi.credentials.status": {"access": "key:revoke_credentials", "class": "api"},
	"vcapi.credentials.get": {"access": "key_or_admin", "class": "api"},
	"vcapi.credentials.verify": {"access": "public", "class": "api"},
	"vcapi.presentations.verify": {"access": "public", "class": "api"},
	# Open Badges 3.0: issued by API keys; templates, verification and the
	# share page public; export for the recipient (session) or the issuer.
	"badges.issue": {"access": "key:issue_credentials", "class": "api"},
	"badges.templates": {"access": "public", "class": "api"},
	"badges.verify": {"access": "public", "class": "api"},
	"badges.share": {"access": "public", "class": "api"},
	"badges.png": {"access": "public", "class": "api"},
	"badges.svg": {"access": "public", "class": "api"},
	"backpack.export": {"access": "authenticated", "class": "api"},
	# LMS integration (design 6.6): connections, badge mappings, syncs and
	# their reports belong to the enterprise of the API key, which must hold
	# issue_credentials (a sync issues badges); the handler scopes every
	# record to that enterprise.
	"lms.sync": {"access": "key:issue_credentials", "class": "api"},
	"lms.connections.list": {"access": "key:issue_credentials", "class": "api"},
	"lms.connections.create": {"access": "key:issue_credentials", "class": "api"},
	"lms.connections.get": {"access": "key:issue_credentials", "class": "api"},
	"lms.connections.update": {"access": "key:issue_credentials", "class": "api"},
	"lms.connections.delete": {"access": "key:issue_credentials", "class": "api"},
	"lms.mappings.list": {"access": "key:issue_credentials", "class": "api"},
	"lms.mappings.create": {"access": "key:issue_credentials", "class": "api"},
	"lms.mappings.get": {"access": "key:issue_credentials", "class": "api"},
	"lms.mappings.delete": {"access": "key:issue_credentials", "class": "api"},
	"lms.reports.list": {"access": "key:issue_credentials", "class": "api"},
	"lms.reports.get": {"access": "key:issue_credentials", "class": "api"},
	# Treasury, usage and billing: treasury-wide figures and manual
	# sponsorship for admins; a user's usage for the user; an enterprise's
	# usage and invoices for it (handler checks ownership); the payment
	# provider's webhook authenticates by its HMAC signature.
	"treasury.stats": {"access": "admin", "class": "api"},
	"treasury.sponsor": {"access": "admin", "class": "api"},
	"analytics.usage": {"access": "self_or_admin", "class": "api"},
	"enterprises.usage": {"access": "enterprise_read", "class": "api"},
	"enterprises.invoices": {"access": "enterprise_read", "class": "api"},
	"admin.billing.margins": {"access": "admin", "class": "api"},
	"admin.treasury.reconcile": {"access": "admin", "class": "api"},
	"billing.webhook": {"access": "public", "class": "api"},
	# SCIM 2.0 provisioning: an API key of the enterprise of the path
	# holding the scim permission (the bearer token of Okta's or Entra ID's
	# SCIM connector). The connector's configuration, status and members:
	# read like the enterprise, managed by its owner (handler checks).
	"scim.list": {"access": "scim", "class": "api"},
	"scim.create": {"access": "scim", "class": "api"},
	"scim.get": {"access": "scim", "class": "api"},
	"scim.search": {"access": "scim", "class": "api"},
	"scim.replace": {"access": "scim", "class": "api"},
	"scim.patch": {"access": "scim", "class": "api"},
	"scim.delete": {"access": "scim", "class": "api"},
	"enterprises.directory.get": {"access": "enterprise_read", "class": "api"},
	"enterprises.directory.members": {"access": "enterprise_read", "class": "api"},
	"enterprises.directory.put": {"access": "jwt", "class": "api"},
	"enterprises.directory.pull": {"access": "jwt", "class": "api"},
	# SAML single sign-on: the SP metadata, the login redirect and the
	# assertion consumer service are public (the browser is anonymous until
	# the IdP's signed response is validated), rate limited like logins;
	# the connector's configuration is read like the enterprise and managed
	# by its owner (handler checks).
	"saml.metadata": {"access": "public", "class": "api"},
	"saml.login": {"access": "public", "class": "auth"},
	"saml.acs": {"access": "public", "class": "auth"},
	"saml.acs.redirect": {"access": "public", "class": "auth"},
	"enterprises.sso.get": {"access": "enterprise_read", "class": "api"},
	"enterprises.sso.put": {"access": "jwt", "class": "api"},
	"enterprises.sso.delete": {"access": "jwt", "class": "api"},
}

default allow := false

allow := verdict.allow

default reason := "route not granted"

reason := verdict.reason

# Unknown route IDs are denied but still carry a class for the rate limiter.
default obligations := {"rate_limit_class": "api"}

obligations := {"rate_limit_class": routes[input.route].class}

# verdict is {"allow": bool, "reason": string} for a known route.
verdict := check(routes[input.route].access)

check("unrouted") := {"allow": true, "reason": "no such route"}

check("public") := {"allow": true, "reason": "public route"}

check("metrics") := {"allow": true, "reason": "admin listener"} if {
	input.listener == "admin"
} else := {"allow": true, "reason": "admin role"} if {
	is_admin
} else := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": false, "reason": "admin role required"}

check("authenticated") := {"allow": true, "reason": "authenticated"} if {
	authenticated
} else := {"allow": false, "reason": "authentication required"}

check("jwt") := {"allow": true, "reason": "session authenticated"} if {
	jwt
} else := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": false, "reason": "session token required"}

check("self_or_admin") := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": true, "reason": "admin role"} if {
	is_admin
} else := {"allow": true, "reason": "own account"} if {
	jwt
	input.principal.id != ""
	input.principal.id == input.params.userId
} else := {"allow": false, "reason": "session token required"} if {
	not jwt
} else := {"allow": false, "reason": "not your account"}

check("admin") := {"allow": true, "reason": "admin role"} if {
	is_admin
} else := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": false, "reason": "admin role required"}

check("enterprise_read") := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": true, "reason": "admin role"} if {
	is_admin
} else := {"allow": true, "reason": "session authenticated"} if {
	jwt
} else := {"allow": true, "reason": "own enterprise"} if {
	input.principal.auth_method == "api_key"
	input.principal.tenant != ""
	input.principal.tenant == input.params.enterpriseId
} else := {"allow": false, "reason": "not your enterprise"}

check(access) := key_check(substring(access, 4, -1)) if startswith(access, "key:")

key_check(perm) := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": true, "reason": "API key with permission"} if {
	api_key
	perm in input.principal.permissions
} else := {"allow": false, "reason": "an enterprise API key is required"} if {
	not api_key
} else := {"allow": false, "reason": sprintf("the API key lacks the %s permission", [perm])}

check("scim") := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": false, "reason": "an enterprise API key is required"} if {
	not api_key
} else := {"allow": false, "reason": "not your enterprise"} if {
	input.principal.tenant != path_enterprise
} else := {"allow": true, "reason": "API key with permission"} if {
	"scim" in input.principal.permissions
} else := {"allow": false, "reason": "the API key lacks the scim permission"}

# path_enterprise is the enterprise of the path ("" for a route without one).
default path_enterprise := ""

path_enterprise := input.params.enterpriseId

check("key_or_admin") := {"allow": false, "reason": "authentication required"} if {
	not authenticated
} else := {"allow": true, "reason": "admin role"} if {
	is_admin
} else := {"allow": true, "reason": "enterprise API key"} if {
	api_key
} else := {"allow": false, "reason": "an enterprise API key is required"}

authenticated if input.principal.authenticated == true

api_key if {
	authenticated
	input.principal.auth_method == "api_key"
	input.principal.tenant != ""
}

jwt if {
	authenticated
	input.principal.auth_method == "jwt"
}

is_admin if {
	authenticated
	"admin" in input.principal.roles
}
