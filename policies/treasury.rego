# Treasury sponsorship: whether the platform treasury pays the network fees
# of one operation. gatewayd asks before every operation that writes to the
# ledger (DID creation and update, credential, badge and bulk anchors, name
# NFTs, manual sponsorship requests) and pays only if `decision.allow`.
#
# Input (see host/policy.SponsorInput):
#   {
#     "payer":     {"kind": "user" | "enterprise" | "platform", "id": "...",
#                   "tier": "individual" | "pro" | "enterprise" | ...,
#                   "subscription": "active" | "expired" | "none"},
#     "operation": "did_create",            # see host/treasury operation types
#     "estimate_microcents": 2000000,       # estimated cost, millionths of a US cent
#     "treasury":  {"low_balance": false}   # the balance is under treasury.low_balance
#   }
#
# Output: decision := {"allow": bool, "reason": string, "monthly_quota": n}
# where monthly_quota (optional) caps the payer's sponsored operations per
# calendar month; the treasury enforces it atomically. Decisions are cached
# for up to a minute per input: do not depend on the time.
#
# The defaults follow the design: unlimited sponsorship for paid tiers with a
# subscription in force; accounts without one get a small monthly allowance;
# when the treasury runs low, only paying accounts are sponsored.
package gatewayd.treasury

paid_tiers := {"individual", "pro", "enterprise"}

# An account that never subscribed gets this many sponsored operations a month;
# an expired subscription, fewer.
unsubscribed_quota := 100

expired_quota := 10

# Operations nobody may have sponsored on request.
known_operations := {
	"did_create", "did_update", "credential_issuance", "badge_issuance", "bulk_issuance",
	"domain_registration", "name_registration", "lms_sync", "anchor_setup",
	"topic_create", "message_submit", "token_create", "token_mint", "manual",
}

paying if {
	input.payer.tier in paid_tiers
	input.payer.subscription == "active"
}

default decision := {"allow": false, "reason": "not sponsored"}

decision := {"allow": false, "reason": "unknown operation"} if {
	not input.operation in known_operations
} else := {"allow": true, "reason": "platform operation"} if {
	input.payer.kind == "platform"
} else := {"allow": false, "reason": "treasury balance low: only active subscriptions are sponsored"} if {
	input.treasury.low_balance
	not paying
} else := {"allow": true, "reason": "active subscription"} if {
	paying
} else := {"allow": true, "reason": "no subscription: monthly allowance", "monthly_quota": unsubscribed_quota} if {
	input.payer.subscription == "none"
} else := {"allow": true, "reason": "subscription expired: reduced monthly allowance", "monthly_quota": expired_quota} if {
	input.payer.subscription == "expired"
}
