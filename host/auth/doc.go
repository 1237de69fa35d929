// Package auth holds gatewayd's credentials: password hashing and policy,
// the Ed25519 JWT signing keyring, access-token issue and verification with a
// verified-token cache and a revocation list, refresh tokens and enterprise
// API keys.
package auth
