package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

const (
	entID    = "ent-1"
	spEntity = "https://gw.example.test/saml/ent-1/metadata"
	acsURL   = "https://gw.example.test/saml/ent-1/acs"
)

// clock is a settable host clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	idp   *testIdP
	host  *plugintest.Host
	cli   *abiv1.SSOClient
	clock *clock
}

func connectorJSON(t testing.TB, idp *testIdP, mutate func(*Connector)) []byte {
	c := &Connector{Enabled: true, EntityID: spEntity, ACSURL: acsURL, IdPMetadataXML: idp.metadata(t)}
	if mutate != nil {
		mutate(c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newEnv(t *testing.T, mutate func(*Connector)) *env {
	t.Helper()
	idp := newTestIdP(t, "idp")
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	h := plugintest.New(t, plugintest.Options{
		KV:      map[string][]byte{connectorKey(entID): connectorJSON(t, idp, mutate)},
		Secrets: map[string]string{"sp_key": pemKey(testKey(t, "sp"))},
		Now:     clk.now,
	})
	return &env{t: t, idp: idp, host: h, cli: abiv1.NewSSOClient(h.Transport()), clock: clk}
}

// begin starts a login and returns the AuthnRequest's ID.
func (e *env) begin() string {
	e.t.Helper()
	r, err := e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID, ACSURL: acsURL, RelayState: "state-123"})
	if err != nil {
		e.t.Fatalf("BeginLogin: %v", err)
	}
	return r.RequestID
}

// opts are the options of a valid response to request id.
func (e *env) opts(id string) respOpts {
	return respOpts{now: e.clock.now(), inResponseTo: id, audience: spEntity, recipient: acsURL, destination: acsURL,
		nameID: "alice@acme.example", attrs: map[string][]string{"mail": {"alice@acme.example"}, "displayName": {"Alice Doe"}}}
}

func (e *env) consume(form map[string]string, expected string) (*abiv1.ConsumeResponseResponse, error) {
	return e.cli.ConsumeResponse(context.Background(), &abiv1.ConsumeResponseRequest{
		EnterpriseID: entID, ACSURL: acsURL, ExpectedRequestID: expected, Form: form, ContentType: contentTypeForm})
}

func wantCode(t *testing.T, err error, code abiv1.ErrorCode) {
	t.Helper()
	var e *abiv1.Error
	if !errors.As(err, &e) {
		t.Fatalf("want error code %v, got %v", code, err)
	}
	if e.Code != code {
		t.Fatalf("want error code %v, got %v (%s)", code, e.Code, e.Message)
	}
}

func TestBeginLoginRedirect(t *testing.T) {
	e := newEnv(t, nil)
	r, err := e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID, ACSURL: acsURL, RelayState: "abc_DEF-1", ForceAuthn: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(r.RedirectURL)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != e.idp.ssoURL {
		t.Fatalf("redirect to %q, want the IdP's SSO URL", r.RedirectURL)
	}
	if u.Query().Get("RelayState") != "abc_DEF-1" {
		t.Fatalf("RelayState %q", u.Query().Get("RelayState"))
	}
	raw, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var ar saml.AuthnRequest
	if err := xml.Unmarshal(x, &ar); err != nil {
		t.Fatal(err)
	}
	if ar.ID != r.RequestID || ar.ID == "" || ar.Destination != e.idp.ssoURL || ar.AssertionConsumerServiceURL != acsURL ||
		ar.Issuer.Value != spEntity || ar.ProtocolBinding != saml.HTTPPostBinding || ar.ForceAuthn == nil || !*ar.ForceAuthn {
		t.Fatalf("AuthnRequest: %s", x)
	}
	// Two logins get two request IDs.
	if id2 := e.begin(); id2 == r.RequestID {
		t.Fatal("request ID reused")
	}
	// RelayState must be short and URL-safe; enterprise IDs well-formed.
	_, err = e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID, RelayState: "a&b=c"})
	wantCode(t, err, abiv1.ErrorCodeInvalidArgument)
	_, err = e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID, RelayState: strings.Repeat("a", 81)})
	wantCode(t, err, abiv1.ErrorCodeInvalidArgument)
	_, err = e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: "../x"})
	wantCode(t, err, abiv1.ErrorCodeInvalidArgument)
	_, err = e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: "other"})
	wantCode(t, err, abiv1.ErrorCodeNotFound)
	_, err = e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID, ACSURL: "https://evil.test/acs"})
	wantCode(t, err, abiv1.ErrorCodeInvalidArgument)
}

func TestSignedAuthnRequest(t *testing.T) {
	e := newEnv(t, func(c *Connector) { c.SignAuthnRequests = true })
	r, err := e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID, RelayState: "s"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(r.RedirectURL)
	if u.Query().Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || u.Query().Get("Signature") == "" {
		t.Fatalf("unsigned redirect: %s", r.RedirectURL)
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, nil)
	r, err := e.cli.Metadata(context.Background(), &abiv1.MetadataRequest{EnterpriseID: entID})
	if err != nil {
		t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(r.XML, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != spEntity || len(ed.SPSSODescriptors) != 1 {
		t.Fatalf("metadata: %s", r.XML)
	}
	d := ed.SPSSODescriptors[0]
	if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Location != acsURL || d.AssertionConsumerServices[0].Binding != saml.HTTPPostBinding {
		t.Fatalf("ACS: %+v", d.AssertionConsumerServices)
	}
	if d.WantAssertionsSigned == nil || !*d.WantAssertionsSigned || len(d.KeyDescriptors) != 1 || d.KeyDescriptors[0].Use != "encryption" {
		t.Fatalf("keys: %s", r.XML)
	}
	// The same key gives the same certificate after a restart.
	k, c1, err := parseSPKey([]byte(pemKey(testKey(t, "sp"))))
	if err != nil {
		t.Fatal(err)
	}
	_, c2, _ := parseSPKey([]byte(pemKey(k)))
	if !bytes.Equal(c1.Raw, c2.Raw) || base64.StdEncoding.EncodeToString(c1.Raw) != strings.Join(strings.Fields(d.KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data), "") {
		t.Fatal("SP certificate not deterministic")
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	id := e.begin()
	form := map[string]string{"SAMLResponse": e.idp.build(t, e.opts(id)), "RelayState": "state-123"}
	r, err := e.consume(form, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Identity.Subject != "alice@acme.example" || r.Identity.Email != "alice@acme.example" || r.Identity.Issuer != e.idp.entityID ||
		r.RelayState != "state-123" || r.Identity.SessionIndex == "" || r.Identity.SessionNotOnOrAfterUnix == 0 {
		t.Fatalf("identity: %+v", r.Identity)
	}
	got := map[string][]string{}
	for _, a := range r.Identity.Attributes {
		got[a.Name] = a.Values
	}
	if got["displayName"][0] != "Alice Doe" || got["email"][0] != "alice@acme.example" {
		t.Fatalf("attributes: %v", got)
	}
	if e.host.Counter("saml_responses_ok_total") != 1 {
		t.Fatal("counter not incremented")
	}
}

func TestLoginSignedResponseToo(t *testing.T) {
	e := newEnv(t, nil)
	id := e.begin()
	o := e.opts(id)
	o.signResponse = true
	if _, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, id); err != nil {
		t.Fatal(err)
	}
}

func TestEncryptedAssertion(t *testing.T) {
	e := newEnv(t, func(c *Connector) { c.RequireEncryptedAssertions = true })
	_, spCert, err := parseSPKey([]byte(pemKey(testKey(t, "sp"))))
	if err != nil {
		t.Fatal(err)
	}
	id := e.begin()
	o := e.opts(id)
	o.encryptFor = spCert
	r, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Identity.Subject != "alice@acme.example" {
		t.Fatalf("identity %+v", r.Identity)
	}
	// Plaintext refused when encryption is required.
	id = e.begin()
	_, err = e.consume(map[string]string{"SAMLResponse": e.idp.build(t, e.opts(id))}, id)
	wantCode(t, err, abiv1.ErrorCodeUnauthenticated)
	// Encrypted for another key: refused.
	id = e.begin()
	o = e.opts(id)
	o.encryptFor = selfSigned(t, testKey(t, "other"), "other sp")
	_, err = e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, id)
	wantCode(t, err, abiv1.ErrorCodeUnauthenticated)
}

func TestAttributeMapping(t *testing.T) {
	e := newEnv(t, func(c *Connector) {
		c.AttributeMapping = map[string]string{"email": "urn:oid:0.9.2342.19200300.100.1.3", "groups": "memberOf"}
	})
	id := e.begin()
	o := e.opts(id)
	o.nameID = "a1b2c3"
	o.attrs = map[string][]string{"urn:oid:0.9.2342.19200300.100.1.3": {"Bob@Acme.Example"}, "memberOf": {"eng", "admins"}, "mail": {"ignored@x"}}
	r, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, a := range r.Identity.Attributes {
		got[a.Name] = a.Values
	}
	if r.Identity.Email != "Bob@Acme.Example" || strings.Join(got["groups"], ",") != "eng,admins" || r.Identity.Subject != "a1b2c3" {
		t.Fatalf("mapping: %+v %v", r.Identity, got)
	}
}

func TestIdPInitiated(t *testing.T) {
	e := newEnv(t, nil)
	o := e.opts("")
	_, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, "")
	wantCode(t, err, abiv1.ErrorCodePermissionDenied)

	e2 := newEnvShared(t, e, func(c *Connector) { c.AllowIdPInitiated = true })
	if _, err := e2.consume(map[string]string{"SAMLResponse": e2.idp.build(t, e2.opts(""))}, ""); err != nil {
		t.Fatalf("IdP-initiated login when enabled: %v", err)
	}
	// Unsolicited, yet answering some request: refused (a response stolen
	// from another login, replayed as unsolicited).
	_, err = e2.consume(map[string]string{"SAMLResponse": e2.idp.build(t, e2.opts("id-someone-elses"))}, "")
	wantCode(t, err, abiv1.ErrorCodeUnauthenticated)
}

// newEnvShared replaces the stored connector of e's host.
func newEnvShared(t *testing.T, e *env, mutate func(*Connector)) *env {
	t.Helper()
	if _, err := e.host.KVPut(context.Background(), &abiv1.KVPutRequest{Key: connectorKey(entID), Value: connectorJSON(t, e.idp, mutate)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDisabledConnector(t *testing.T) {
	e := newEnv(t, func(c *Connector) { c.Enabled = false })
	_, err := e.cli.BeginLogin(context.Background(), &abiv1.BeginLoginRequest{EnterpriseID: entID})
	wantCode(t, err, abiv1.ErrorCodePermissionDenied)
	_, err = e.consume(map[string]string{"SAMLResponse": e.idp.build(t, e.opts("x"))}, "x")
	wantCode(t, err, abiv1.ErrorCodePermissionDenied)
}

func TestReplayRefused(t *testing.T) {
	e := newEnv(t, nil)
	id := e.begin()
	resp := e.idp.build(t, e.opts(id))
	if _, err := e.consume(map[string]string{"SAMLResponse": resp}, id); err != nil {
		t.Fatal(err)
	}
	_, err := e.consume(map[string]string{"SAMLResponse": resp}, id)
	wantCode(t, err, abiv1.ErrorCodeUnauthenticated)
	if !strings.Contains(err.Error(), "replay") {
		t.Fatalf("not refused as a replay: %v", err)
	}
	// Same assertion ID in a fresh response: still a replay.
	id2 := e.begin()
	o := e.opts(id2)
	o.assertionID = "_fixed-id"
	if _, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, id2); err != nil {
		t.Fatal(err)
	}
	id3 := e.begin()
	o = e.opts(id3)
	o.assertionID = "_fixed-id"
	_, err = e.consume(map[string]string{"SAMLResponse": e.idp.build(t, o)}, id3)
	wantCode(t, err, abiv1.ErrorCodeUnauthenticated)
	// Entries are swept once expired.
	if _, ok := e.host.KVValue("seen/" + entID + "/" + sha256hex("_fixed-id")); !ok {
		t.Fatal("assertion ID not remembered")
	}
	e.clock.add(10 * time.Minute)
	id4 := e.begin()
	if _, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, e.opts(id4))}, id4); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.host.KVValue("seen/" + entID + "/" + sha256hex("_fixed-id")); ok {
		t.Fatal("expired assertion ID not swept")
	}
}

func sha256hex(s string) string {
	sum := sha256Sum([]byte(s))
	return hexEncode(sum[:])
}

var _ = etree.NewDocument
