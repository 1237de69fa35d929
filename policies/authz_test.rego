package gatewayd.authz_test

import data.gatewayd.authz

# Principals.

anonymous := {
	"authenticated": false,
	"id": "",
	"roles": [],
	"tenant": "",
	"auth_method": "anonymous",
	"permissions": [],
}

alice_jwt := {
	"authenticated": true,
	"id": "alice",
	"roles": ["user"],
	"tenant": "t1",
	"auth_method": "jwt",
	"permissions": [],
}

alice_key := object.union(alice_jwt, {"auth_method": "api_key"})

admin_jwt := {
	"authenticated": true,
	"id": "root",
	"roles": ["user", "admin"],
	"tenant": "t1",
	"auth_method": "jwt",
	"permissions": [],
}

admin_key := object.union(admin_jwt, {"auth_method": "api_key"})

# A principal that claims roles but is not authenticated must get nothing from them.
forged_admin := object.union(anonymous, {"id": "root", "roles": ["admin"], "auth_method": "jwt"})

principals := [anonymous, alice_jwt, alice_key, admin_jwt, admin_key, forged_admin]

# Requests.

req(route, principal) := {
	"method": "GET",
	"route": route,
	"params": {},
	"path": "/",
	"listener": "public",
	"principal": principal,
	"client_ip": "192.0.2.1",
	"time_ns": 1700000000000000000,
}

req_user(route, principal, user_id) := object.union(req(route, principal), {"params": {"userId": user_id}})

req_admin_listener(route, principal) := object.union(req(route, principal), {"listener": "admin"})

# decision evaluates the policy for one input.
decision(inp) := {"allow": a, "reason": r, "class": c} if {
	a := authz.allow with input as inp
	r := authz.reason with input as inp
	c := authz.obligations.rate_limit_class with input as inp
}

allowed(inp, reason, class) if decision(inp) == {"allow": true, "reason": reason, "class": class}

denied(inp, reason, class) if decision(inp) == {"allow": false, "reason": reason, "class": class}

# Public routes.

public_routes := {
	"health.live": "none",
	"health.ready": "none",
	"openapi": "none",
	"jwks": "none",
	"users.register": "auth",
	"auth.login": "auth",
	"auth.refresh": "auth",
	"did.resolve": "did",
	"identity.did.get": "did",
	"domains.iam.get": "did",
	"billing.webhook": "api",
}

test_public_routes_allow_everyone if {
	every route, class in public_routes {
		every p in principals {
			allowed(req(route, p), "public route", class)
		}
	}
}

test_public_routes_on_admin_listener if {
	every route, class in public_routes {
		allowed(req_admin_listener(route, anonymous), "public route", class)
	}
}

# No route matched: allowed so the handler can answer 404.

test_unrouted_allowed if {
	every route in ["", "notfound"] {
		every p in principals {
			allowed(req(route, p), "no such route", "api")
		}
	}
}

test_unknown_route_denied if {
	every p in principals {
		denied(req("admin.secret", p), "route not granted", "api")
	}
}

test_missing_route_denied if {
	inp := json.remove(req("", anonymous), ["route"])
	denied(inp, "route not granted", "api")
}

test_empty_input_denied if {
	not authz.allow with input as {}
	authz.reason == "route not granted" with input as {}
}

# metrics

test_metrics_admin_listener_anonymous if {
	allowed(req_admin_listener("metrics", anonymous), "admin listener", "none")
}

test_metrics_admin_listener_user if {
	allowed(req_admin_listener("metrics", alice_jwt), "admin listener", "none")
}

test_metrics_public_listener_anonymous if {
	denied(req("metrics", anonymous), "authentication required", "none")
}

test_metrics_public_listener_forged_admin if {
	denied(req("metrics", forged_admin), "authentication required", "none")
}

test_metrics_public_listener_user if {
	denied(req("metrics", alice_jwt), "admin role required", "none")
	denied(req("metrics", alice_key), "admin role required", "none")
}

test_metrics_public_listener_admin if {
	allowed(req("metrics", admin_jwt), "admin role", "none")
	allowed(req("metrics", admin_key), "admin role", "none")
}

test_metrics_unknown_listener if {
	inp := object.union(req("metrics", anonymous), {"listener": "ADMIN"})
	denied(inp, "authentication required", "none")
}

# auth.logout: any JWT principal.

test_logout_jwt if {
	allowed(req("auth.logout", alice_jwt), "session authenticated", "auth")
	allowed(req("auth.logout", admin_jwt), "session authenticated", "auth")
}

test_logout_api_key if {
	denied(req("auth.logout", alice_key), "session token required", "auth")
	denied(req("auth.logout", admin_key), "session token required", "auth")
}

test_logout_anonymous if {
	denied(req("auth.logout", anonymous), "authentication required", "auth")
	denied(req("auth.logout", forged_admin), "authentication required", "auth")
}

# auth.whoami: any authenticated principal.

test_whoami_authenticated if {
	every p in [alice_jwt, alice_key, admin_jwt, admin_key] {
		allowed(req("auth.whoami", p), "authenticated", "api")
	}
}

test_whoami_anonymous if {
	denied(req("auth.whoami", anonymous), "authentication required", "api")
	denied(req("auth.whoami", forged_admin), "authentication required", "api")
}

test_whoami_authenticated_must_be_true if {
	p := object.union(alice_jwt, {"authenticated": "true"})
	denied(req("auth.whoami", p), "authentication required", "api")
}

# users.me: JWT principals.

test_me_jwt if {
	allowed(req("users.me", alice_jwt), "session authenticated", "api")
	allowed(req("users.me", admin_jwt), "session authenticated", "api")
}

test_me_api_key if {
	denied(req("users.me", alice_key), "session token required", "api")
}

test_me_anonymous if {
	denied(req("users.me", anonymous), "authentication required", "api")
}

# users.limits.get and users.limits.check: self via JWT, or admin.

limits_routes := ["users.limits.get", "users.limits.check", "analytics.usage"]

test_limits_self_jwt if {
	every route in limits_routes {
		allowed(req_user(route, alice_jwt, "alice"), "own account", "api")
	}
}

test_limits_other_user if {
	every route in limits_routes {
		denied(req_user(route, alice_jwt, "bob"), "not your account", "api")
	}
}

test_limits_self_api_key if {
	every route in limits_routes {
		denied(req_user(route, alice_key, "alice"), "session token required", "api")
	}
}

test_limits_admin_any_user if {
	every route in limits_routes {
		allowed(req_user(route, admin_jwt, "alice"), "admin role", "api")
		allowed(req_user(route, admin_key, "alice"), "admin role", "api")
	}
}

test_limits_anonymous if {
	every route in limits_routes {
		denied(req_user(route, anonymous, "alice"), "authentication required", "api")
		denied(req_user(route, forged_admin, "alice"), "authentication required", "api")
	}
}

test_limits_empty_id_is_not_self if {
	p := object.union(alice_jwt, {"id": ""})
	denied(req_user("users.limits.get", p, ""), "not your account", "api")
}

test_limits_missing_param if {
	denied(req("users.limits.get", alice_jwt), "not your account", "api")
}

# Admin routes.

admin_routes := ["admin.users.get", "admin.backup", "admin.plugins.list", "admin.plugins.reload"]

test_admin_routes_admin if {
	every route in admin_routes {
		allowed(req_user(route, admin_jwt, "alice"), "admin role", "api")
		allowed(req_user(route, admin_key, "alice"), "admin role", "api")
	}
}

test_admin_routes_user if {
	every route in admin_routes {
		denied(req_user(route, alice_jwt, "alice"), "admin role required", "api")
		denied(req_user(route, alice_key, "alice"), "admin role required", "api")
	}
}

test_admin_routes_anonymous if {
	every route in admin_routes {
		denied(req(route, anonymous), "authentication required", "api")
		denied(req(route, forged_admin), "authentication required", "api")
	}
}

test_admin_routes_not_on_admin_listener_alone if {
	every route in admin_routes {
		denied(req_admin_listener(route, alice_jwt), "admin role required", "api")
	}
}

# Every route in the table has a valid class and every class is one the host knows.

test_route_table_is_well_formed if {
	every _, r in authz.routes {
		r.class in {"auth", "did", "api", "none"}
		valid_access(r.access)
	}
}

# The result never depends on time, so it never carries valid_until_ns.

test_no_valid_until if {
	not authz.valid_until_ns with input as req("users.me", alice_jwt)
}

# Identity: a user's own DIDs and names, through a session only (the
# handler checks that the DID or name is the caller's).

session_routes := [
	"identity.dids.list",
	"identity.dids.create",
	"identity.dids.update",
	"identity.dids.delete",
	"domains.iam.register",
	"domains.iam.renew",
	"domains.external.challenge",
	"domains.external.verify",
	"domains.external.list",
	"domains.external.delete",
]

test_identity_routes_need_a_session if {
	every route in session_routes {
		allowed(req(route, alice_jwt), "session authenticated", "api")
		allowed(req(route, admin_jwt), "session authenticated", "api")
		denied(req(route, anonymous), "authentication required", "api")
		denied(req(route, forged_admin), "authentication required", "api")
		denied(req(route, alice_key), "session token required", "api")
	}
}

# Enterprise issuers: managed through a session (the handler checks that the
# caller owns the enterprise or is an admin); an enterprise's API key may
# read its own enterprise only.

enterprise_session_routes := [
	"enterprises.register",
	"enterprises.dns.initiate",
	"enterprises.dns.verify",
	"enterprises.apikeys.list",
	"enterprises.apikeys.create",
	"enterprises.apikeys.revoke",
]

req_ent(route, principal, ent) := object.union(req(route, principal), {"params": {"enterpriseId": ent}})

ent_key := {
	"authenticated": true,
	"id": "key-1",
	"roles": ["enterprise"],
	"tenant": "ent-1",
	"auth_method": "api_key",
	"permissions": ["issue_credentials", "revoke_credentials", "query_recipients"],
}

test_enterprise_routes_need_a_session if {
	every route in enterprise_session_routes {
		allowed(req_ent(route, alice_jwt, "ent-1"), "session authenticated", "api")
		allowed(req_ent(route, admin_jwt, "ent-1"), "session authenticated", "api")
		denied(req_ent(route, anonymous, "ent-1"), "authentication required", "api")
		denied(req_ent(route, forged_admin, "ent-1"), "authentication required", "api")
		denied(req_ent(route, alice_key, "ent-1"), "session token required", "api")
		denied(req_ent(route, ent_key, "ent-1"), "session token required", "api")
	}
}

test_enterprise_get_session if {
	allowed(req_ent("enterprises.get", alice_jwt, "ent-1"), "session authenticated", "api")
	allowed(req_ent("enterprises.get", admin_jwt, "ent-1"), "admin role", "api")
	allowed(req_ent("enterprises.get", admin_key, "ent-1"), "admin role", "api")
}

test_enterprise_get_own_key if {
	allowed(req_ent("enterprises.get", ent_key, "ent-1"), "own enterprise", "api")
}

test_enterprise_get_other_tenant_key if {
	denied(req_ent("enterprises.get", ent_key, "ent-2"), "not your enterprise", "api")
	denied(req("enterprises.get", ent_key), "not your enterprise", "api")
	denied(req_ent("enterprises.get", object.union(ent_key, {"tenant": ""}), ""), "not your enterprise", "api")
}

test_enterprise_get_anonymous if {
	denied(req_ent("enterprises.get", anonymous, "ent-1"), "authentication required", "api")
	denied(req_ent("enterprises.get", object.union(forged_admin, {"tenant": "ent-1", "auth_method": "api_key"}), "ent-1"), "authentication required", "api")
}

valid_access(a) if a in {"unrouted", "public", "metrics", "authenticated", "jwt", "self_or_admin", "admin", "enterprise_read", "key_or_admin", "scim"}

valid_access(a) if {
	startswith(a, "key:")
	substring(a, 4, -1) in {"issue_credentials", "revoke_credentials", "query_recipients"}
}

# Credentials: enterprise API keys with the right permission.

test_credentials_issue_needs_the_permission if {
	every route in ["credentials.issue", "credentials.bulk"] {
		allowed(req(route, ent_key), "API key with permission", "api")
		denied(req(route, object.union(ent_key, {"permissions": ["revoke_credentials"]})), "the API key lacks the issue_credentials permission", "api")
		denied(req(route, alice_jwt), "an enterprise API key is required", "api")
		denied(req(route, admin_jwt), "an enterprise API key is required", "api")
		denied(req(route, anonymous), "authentication required", "api")
		denied(req(route, object.union(forged_admin, {"auth_method": "api_key", "tenant": "ent-1", "permissions": ["issue_credentials"]})), "authentication required", "api")
		# An API-key principal without a tenant is not an enterprise key.
		denied(req(route, object.union(ent_key, {"tenant": ""})), "an enterprise API key is required", "api")
	}
}

lms_routes := [
	"lms.sync", "lms.connections.list", "lms.connections.create", "lms.connections.get", "lms.connections.update",
	"lms.connections.delete", "lms.mappings.list", "lms.mappings.create", "lms.mappings.get", "lms.mappings.delete",
	"lms.reports.list", "lms.reports.get",
]

test_lms_routes_need_an_issuing_key if {
	every route in lms_routes {
		allowed(req(route, ent_key), "API key with permission", "api")
		denied(req(route, object.union(ent_key, {"permissions": ["query_recipients"]})), "the API key lacks the issue_credentials permission", "api")
		denied(req(route, alice_jwt), "an enterprise API key is required", "api")
		denied(req(route, admin_jwt), "an enterprise API key is required", "api")
		denied(req(route, anonymous), "authentication required", "api")
		denied(req(route, object.union(forged_admin, {"auth_method": "api_key", "tenant": "ent-1", "permissions": ["issue_credentials"]})), "authentication required", "api")
		denied(req(route, object.union(ent_key, {"tenant": ""})), "an enterprise API key is required", "api")
	}
}

test_credentials_status_needs_revoke if {
	every route in ["credentials.revoke", "credentials.suspend", "credentials.unsuspend"] {
		allowed(req(route, ent_key), "API key with permission", "api")
		denied(req(route, object.union(ent_key, {"permissions": ["issue_credentials"]})), "the API key lacks the revoke_credentials permission", "api")
		denied(req(route, alice_jwt), "an enterprise API key is required", "api")
	}
}

test_credentials_read if {
	allowed(req("credentials.get", ent_key), "enterprise API key", "api")
	allowed(req("credentials.get", admin_jwt), "admin role", "api")
	denied(req("credentials.get", alice_jwt), "an enterprise API key is required", "api")
	denied(req("credentials.get", anonymous), "authentication required", "api")
	allowed(req("credentials.list", ent_key), "API key with permission", "api")
	denied(req("credentials.list", object.union(ent_key, {"permissions": []})), "the API key lacks the query_recipients permission", "api")
}

test_credentials_public_and_wallet if {
	every p in principals {
		allowed(req("credentials.verify", p), "public route", "api")
		allowed(req("statuslists.get", p), "public route", "none")
	}
	every route in ["wallet.list", "wallet.get", "wallet.delete"] {
		allowed(req(route, alice_jwt), "session authenticated", "api")
		denied(req(route, ent_key), "session token required", "api")
		denied(req(route, anonymous), "authentication required", "api")
	}
}

test_vcapi_routes if {
	allowed(req("vcapi.credentials.issue", ent_key), "API key with permission", "api")
	denied(req("vcapi.credentials.issue", alice_jwt), "an enterprise API key is required", "api")
	allowed(req("vcapi.credentials.status", ent_key), "API key with permission", "api")
	denied(req("vcapi.credentials.status", object.union(ent_key, {"permissions": ["issue_credentials"]})), "the API key lacks the revoke_credentials permission", "api")
	allowed(req("vcapi.credentials.get", ent_key), "enterprise API key", "api")
	every p in principals {
		allowed(req("vcapi.credentials.verify", p), "public route", "api")
		allowed(req("vcapi.presentations.verify", p), "public route", "api")
	}
}

test_badge_routes if {
	allowed(req("badges.issue", ent_key), "API key with permission", "api")
	denied(req("badges.issue", alice_jwt), "an enterprise API key is required", "api")
	every route in ["badges.templates", "badges.verify", "badges.share", "badges.png", "badges.svg"] {
		allowed(req(route, anonymous), "public route", "api")
	}
	allowed(req("backpack.export", alice_jwt), "authenticated", "api")
	allowed(req("backpack.export", ent_key), "authenticated", "api")
	denied(req("backpack.export", anonymous), "authentication required", "api")
}

# Treasury-wide figures, manual sponsorship, margins and reconciliation: admins only.

treasury_admin_routes := ["treasury.stats", "treasury.sponsor", "admin.billing.margins", "admin.treasury.reconcile"]

test_treasury_admin_routes if {
	every route in treasury_admin_routes {
		allowed(req(route, admin_jwt), "admin role", "api")
		not authz.allow with input as req(route, alice_jwt)
		not authz.allow with input as req(route, alice_key)
		not authz.allow with input as req(route, anonymous)
		not authz.allow with input as req(route, forged_admin)
	}
}

# An enterprise's usage and invoices: its own API keys, sessions (the handler
# checks ownership) and admins; not another enterprise's key.

test_enterprise_usage_routes if {
	every route in ["enterprises.usage", "enterprises.invoices"] {
		authz.allow with input as object.union(req(route, alice_key), {"params": {"enterpriseId": "t1"}})
		not authz.allow with input as object.union(req(route, alice_key), {"params": {"enterpriseId": "t2"}})
		authz.allow with input as object.union(req(route, alice_jwt), {"params": {"enterpriseId": "t2"}})
		not authz.allow with input as object.union(req(route, anonymous), {"params": {"enterpriseId": "t1"}})
	}
}

# SCIM: an API key of the path's enterprise with the scim permission; no
# other principal, not even an admin session.

scim_key := object.union(ent_key, {"permissions": ["scim"]})

test_scim_routes if {
	every route in ["scim.list", "scim.create", "scim.get", "scim.search", "scim.replace", "scim.patch", "scim.delete"] {
		allowed(req_ent(route, scim_key, "ent-1"), "API key with permission", "api")
		denied(req_ent(route, ent_key, "ent-1"), "the API key lacks the scim permission", "api")
		denied(req_ent(route, scim_key, "ent-2"), "not your enterprise", "api")
		denied(req(route, scim_key), "not your enterprise", "api")
		denied(req_ent(route, object.union(scim_key, {"tenant": ""}), ""), "an enterprise API key is required", "api")
		denied(req_ent(route, alice_jwt, "t1"), "an enterprise API key is required", "api")
		denied(req_ent(route, admin_jwt, "t1"), "an enterprise API key is required", "api")
		denied(req_ent(route, anonymous, "ent-1"), "authentication required", "api")
		denied(req_ent(route, object.union(forged_admin, {"auth_method": "api_key", "tenant": "ent-1", "permissions": ["scim"]}), "ent-1"), "authentication required", "api")
	}
}

test_directory_connector_routes if {
	every route in ["enterprises.directory.get", "enterprises.directory.members"] {
		allowed(req_ent(route, alice_jwt, "ent-1"), "session authenticated", "api")
		allowed(req_ent(route, scim_key, "ent-1"), "own enterprise", "api")
		denied(req_ent(route, scim_key, "ent-2"), "not your enterprise", "api")
		denied(req_ent(route, anonymous, "ent-1"), "authentication required", "api")
	}
	every route in ["enterprises.directory.put", "enterprises.directory.pull"] {
		allowed(req_ent(route, alice_jwt, "ent-1"), "session authenticated", "api")
		denied(req_ent(route, scim_key, "ent-1"), "session token required", "api")
		denied(req_ent(route, anonymous, "ent-1"), "authentication required", "api")
	}
}

# SAML SSO: the browser endpoints are public (login and ACS rate limited as
# logins); the connector's configuration like the directory connector's.
test_saml_routes if {
	every route in ["saml.login", "saml.acs", "saml.acs.redirect"] {
		allowed(req_ent(route, anonymous, "ent-1"), "public route", "auth")
		allowed(req_ent(route, alice_jwt, "ent-1"), "public route", "auth")
	}
	allowed(req_ent("saml.metadata", anonymous, "ent-1"), "public route", "api")
	allowed(req_ent("enterprises.sso.get", alice_jwt, "ent-1"), "session authenticated", "api")
	allowed(req_ent("enterprises.sso.get", ent_key, "ent-1"), "own enterprise", "api")
	denied(req_ent("enterprises.sso.get", ent_key, "ent-2"), "not your enterprise", "api")
	denied(req_ent("enterprises.sso.get", anonymous, "ent-1"), "authentication required", "api")
	every route in ["enterprises.sso.put", "enterprises.sso.delete"] {
		allowed(req_ent(route, alice_jwt, "ent-1"), "session authenticated", "api")
		denied(req_ent(route, ent_key, "ent-1"), "session token required", "api")
		denied(req_ent(route, anonymous, "ent-1"), "authentication required", "api")
	}
}
