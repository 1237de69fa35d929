// Command saml is gatewayd's SAML 2.0 service provider, a plugin serving
// the "sso" interface for every enterprise that configures a connector.
//
// It follows SAML 2.0 Core (OASIS saml-core-2.0-os), Bindings
// (saml-bindings-2.0-os: HTTP-Redirect 3.4 for the AuthnRequest, HTTP-POST
// 3.5 for the Response) and the Web Browser SSO profile
// (saml-profiles-2.0-os 4.1), with github.com/crewjam/saml for the
// protocol types, the AuthnRequest and the metadata, and
// github.com/russellhaering/goxmldsig (v1.6.1, which fixes the signature
// bypass of older versions) for XML signatures. On top of what crewjam/saml
// checks, every Response must pass the stricter rules of package doc
// acs.go: no DTD, comment or processing instruction; exactly one assertion;
// the assertion itself signed by a key of the IdP's metadata and read back
// from the signed bytes only; every audience restriction naming this SP; a
// bearer confirmation for this ACS and, unless IdP-initiated login is
// enabled and no request was sent, for the request the gateway sent; a
// validity window with a small skew; an assertion ID never seen before.
//
// Each enterprise's connector (see Connector) is stored by the host under
// "connector/<enterpriseId>" in this plugin's KV namespace, after checking
// it against config.schema.json; the plugin's own configuration may list
// connectors too ("enterprises"). The SP key, used to decrypt encrypted
// assertions and to sign AuthnRequests, is the granted secret "sp_key" (a
// PEM RSA private key, optionally followed by its certificate); without it
// the SP has no key: encrypted assertions are refused and requests are sent
// unsigned.
package main

import (
	"time"

	"github.com/crewjam/saml"

	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/sso"
)

// version is the plugin's version, as in plugin.yaml.
const version = "0.1.0"

// clockSkew is the leeway allowed between the IdP's clock and the host's
// when checking validity windows.
const clockSkew = 60 * time.Second

// maxIssueDelay is the longest time between a Response's IssueInstant and
// its arrival at the ACS.
const maxIssueDelay = 3 * time.Minute

func init() {
	sdk.SetInfo("saml", version)
	saml.TimeNow = func() time.Time { return sdk.Now().UTC() }
	saml.MaxClockSkew = clockSkew
	saml.MaxIssueDelay = maxIssueDelay
	sso.Serve(newProvider())
}

func main() { sdk.Main() }
