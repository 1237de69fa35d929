package gatewayd.treasury_test

import data.gatewayd.treasury

req(kind, tier, sub, op, low) := {
	"payer": {"kind": kind, "id": "p1", "tier": tier, "subscription": sub},
	"operation": op,
	"estimate_microcents": 2000000,
	"treasury": {"low_balance": low},
}

test_paid_tiers_unlimited if {
	every tier in {"individual", "pro", "enterprise"} {
		d := treasury.decision with input as req("user", tier, "active", "did_create", false)
		d.allow
		not d.monthly_quota
	}
}

test_paid_tiers_sponsored_when_low if {
	d := treasury.decision with input as req("enterprise", "pro", "active", "bulk_issuance", true)
	d.allow
}

test_unsubscribed_gets_allowance if {
	d := treasury.decision with input as req("user", "individual", "none", "did_create", false)
	d.allow
	d.monthly_quota == 100
}

test_expired_gets_less if {
	d := treasury.decision with input as req("enterprise", "pro", "expired", "credential_issuance", false)
	d.allow
	d.monthly_quota == 10
}

test_low_balance_blocks_unpaid if {
	d := treasury.decision with input as req("user", "individual", "none", "did_create", true)
	not d.allow
	d.reason == "treasury balance low: only active subscriptions are sponsored"
}

test_unknown_tier_not_paying if {
	d := treasury.decision with input as req("user", "gold", "active", "did_create", true)
	not d.allow
}

test_unknown_operation_refused if {
	d := treasury.decision with input as req("platform", "", "none", "mine_bitcoin", false)
	not d.allow
	d.reason == "unknown operation"
}

test_platform_sponsored if {
	d := treasury.decision with input as req("platform", "", "none", "anchor_setup", true)
	d.allow
}

test_unknown_subscription_state_refused if {
	d := treasury.decision with input as req("user", "individual", "lapsed", "did_create", false)
	not d.allow
}
