package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

// testIdP is an identity provider played by the tests: its own RSA key and
// self-signed certificate, its metadata, and responses built with
// crewjam/saml's types and signed with goxmldsig (exclusive c14n, RSA-SHA256,
// as SimpleSAMLphp and most IdPs sign).
type testIdP struct {
	entityID string
	ssoURL   string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
}

var (
	keyMu    sync.Mutex
	keyCache = map[string]*rsa.PrivateKey{}
)

// testKey returns an RSA-2048 key, one per name for the whole test binary.
func testKey(t testing.TB, name string) *rsa.PrivateKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	if k := keyCache[name]; k != nil {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[name] = k
	return k
}

func selfSigned(t testing.TB, key *rsa.PrivateKey, cn string) *x509.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestIdP(t testing.TB, keyName string) *testIdP {
	k := testKey(t, keyName)
	return &testIdP{entityID: "https://idp.example.test/metadata", ssoURL: "https://idp.example.test/sso",
		key: k, cert: selfSigned(t, k, "test idp "+keyName)}
}

// metadata is the IdP's EntityDescriptor.
func (idp *testIdP) metadata(t testing.TB) string {
	ed := saml.EntityDescriptor{
		EntityID: idp.entityID,
		IDPSSODescriptors: []saml.IDPSSODescriptor{{
			SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
				ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
				KeyDescriptors: []saml.KeyDescriptor{{Use: "signing", KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
					X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(idp.cert.Raw)}}}}}},
			}},
			SingleSignOnServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: idp.ssoURL}},
		}},
	}
	b, err := xml.Marshal(ed)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// respOpts describes one response the test IdP sends.
type respOpts struct {
	now          time.Time
	inResponseTo string
	audience     string
	recipient    string
	destination  string
	nameID       string
	assertionID  string
	notBefore    time.Time // zero: now-1m
	notOnOrAfter time.Time // zero: now+5m
	signResponse bool
	noAssertSig  bool
	encryptFor   *x509.Certificate
	attrs        map[string][]string
}

// assertion is the saml.Assertion for o.
func (idp *testIdP) assertion(o respOpts) *saml.Assertion {
	nb, na := o.notBefore, o.notOnOrAfter
	if nb.IsZero() {
		nb = o.now.Add(-time.Minute)
	}
	if na.IsZero() {
		na = o.now.Add(5 * time.Minute)
	}
	id := o.assertionID
	if id == "" {
		id = "_a" + randHex(16)
	}
	sessEnd := o.now.Add(8 * time.Hour)
	a := &saml.Assertion{
		ID: id, IssueInstant: o.now, Version: "2.0",
		Issuer: saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: idp.entityID},
		Subject: &saml.Subject{
			NameID: &saml.NameID{Format: string(saml.EmailAddressNameIDFormat), Value: o.nameID},
			SubjectConfirmations: []saml.SubjectConfirmation{{Method: bearer, SubjectConfirmationData: &saml.SubjectConfirmationData{
				InResponseTo: o.inResponseTo, NotOnOrAfter: na, Recipient: o.recipient}}},
		},
		Conditions: &saml.Conditions{NotBefore: nb, NotOnOrAfter: na,
			AudienceRestrictions: []saml.AudienceRestriction{{Audience: saml.Audience{Value: o.audience}}}},
		AuthnStatements: []saml.AuthnStatement{{AuthnInstant: o.now, SessionIndex: "_s" + randHex(8), SessionNotOnOrAfter: &sessEnd,
			AuthnContext: saml.AuthnContext{AuthnContextClassRef: &saml.AuthnContextClassRef{Value: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}}}},
	}
	if len(o.attrs) > 0 {
		var st saml.AttributeStatement
		for n, vs := range o.attrs {
			at := saml.Attribute{Name: n, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
			for _, v := range vs {
				at.Values = append(at.Values, saml.AttributeValue{Type: "xs:string", Value: v})
			}
			st.Attributes = append(st.Attributes, at)
		}
		a.AttributeStatements = []saml.AttributeStatement{st}
	}
	return a
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	const hx = "0123456789abcdef"
	out := make([]byte, 2*n)
	for i, c := range b {
		out[2*i], out[2*i+1] = hx[c>>4], hx[c&15]
	}
	return string(out)
}

func (idp *testIdP) signer(t testing.TB, key *rsa.PrivateKey, cert *x509.Certificate) *dsig.SigningContext {
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// signedAssertion returns the assertion element, signed by the IdP's key
// unless noAssertSig.
func (idp *testIdP) signedAssertion(t testing.TB, a *saml.Assertion, o respOpts) *etree.Element {
	el := a.Element()
	if o.noAssertSig {
		return el
	}
	signed, err := idp.signer(t, idp.key, idp.cert).SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// response builds the Response document around assertion element ael.
func (idp *testIdP) response(t testing.TB, o respOpts, ael ...*etree.Element) *etree.Document {
	r := &saml.Response{
		ID: "_r" + randHex(16), InResponseTo: o.inResponseTo, Version: "2.0", IssueInstant: o.now,
		Destination: o.destination,
		Issuer:      &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: idp.entityID},
		Status:      saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	el := r.Element()
	for _, a := range ael {
		el.AddChild(a)
	}
	if o.signResponse {
		s, err := idp.signer(t, idp.key, idp.cert).SignEnveloped(el)
		if err != nil {
			t.Fatal(err)
		}
		el = s
	}
	d := etree.NewDocument()
	d.SetRoot(el)
	return d
}

// build is the whole response for o, as the SAMLResponse form value.
func (idp *testIdP) build(t testing.TB, o respOpts) string {
	a := idp.assertion(o)
	ael := idp.signedAssertion(t, a, o)
	if o.encryptFor != nil {
		ael = encryptAssertion(t, ael, o.encryptFor)
	}
	return encodeDoc(t, idp.response(t, o, ael))
}

func encryptAssertion(t testing.TB, ael *etree.Element, cert *x509.Certificate) *etree.Element {
	d := etree.NewDocument()
	d.SetRoot(ael)
	buf, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := xmlenc.OAEP()
	enc.BlockCipher = xmlenc.AES256CBC
	enc.DigestMethod = &xmlenc.SHA256
	data, err := enc.Encrypt(cert, buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", nsAssertion)
	ea.AddChild(data)
	return ea
}

func encodeDoc(t testing.TB, d *etree.Document) string {
	b, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func pemKey(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}
