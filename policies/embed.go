// Package policies holds the default Rego policies compiled into gatewayd.
//
// The authorisation policy is package gatewayd.authz in authz.rego; its unit
// tests are in authz_test.rego. See host/policy for how they are evaluated.
package policies

import "embed"

// FS holds the default policy files (*.rego, tests included).
//
//go:embed *.rego
var FS embed.FS
