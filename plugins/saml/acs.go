package main

import (
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Namespaces of SAML 2.0.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsXMLEnc    = "http://www.w3.org/2001/04/xmlenc#"
	bearer      = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// validated is what a Response that passed every check asserts, read from
// the assertion's signed bytes.
type validated struct {
	ID                  string
	issuer              string
	nameID              string
	nameIDFormat        string
	sessionIndex        string
	sessionNotOnOrAfter time.Time
	expiry              time.Time // until when the assertion ID is remembered
	attrs               map[string][]string
}

// validate checks a decoded Response document (SAML Core 3.2.2, 2.3.3-2.7;
// Profiles 4.1.4.2-4.1.4.3) for the SP s. expectedID is the ID of the
// AuthnRequest the gateway sent ("" for an IdP-initiated login, which the
// caller has already allowed). The order matters: the assertion is
// decrypted and its own signature verified before anything of it is
// believed; crewjam/saml then checks the Response (its signature if any,
// Destination, InResponseTo, Issuer, Status, IssueInstant) and the same
// assertion again with its own rules.
func validate(s *sp, doc []byte, expectedID string, now time.Time) (*validated, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return nil, fmt.Errorf("not XML: %v", err)
	}
	root := d.Root()
	if root == nil || root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return nil, errors.New("the document is not a samlp:Response")
	}
	// Exactly one assertion, plain or encrypted, anywhere in the document,
	// and it is a child of the Response: an extra assertion beside, inside
	// or around the signed one (XML signature wrapping) is refused before
	// any signature is looked at.
	plain, enc := countLocal(root, "Assertion"), countLocal(root, "EncryptedAssertion")
	if plain+enc != 1 {
		return nil, fmt.Errorf("the response holds %d assertions, want exactly 1", plain+enc)
	}
	var assertionEl *etree.Element
	var parentCtx etreeutils.NSContext
	if enc == 1 {
		encEl := childNS(root, nsAssertion, "EncryptedAssertion")
		if encEl == nil {
			return nil, errors.New("the EncryptedAssertion is not a child of the Response")
		}
		if s.key == nil {
			return nil, errors.New("encrypted assertion but the SP has no key (sp_key)")
		}
		pt, err := decryptAssertion(s.key, encEl)
		if err != nil {
			return nil, err
		}
		pd := etree.NewDocument()
		if err := pd.ReadFromBytes(pt); err != nil {
			return nil, fmt.Errorf("decrypted assertion is not XML: %v", err)
		}
		assertionEl = pd.Root()
		if assertionEl == nil || assertionEl.Tag != "Assertion" || assertionEl.NamespaceURI() != nsAssertion ||
			countLocal(assertionEl, "Assertion") != 1 || countLocal(assertionEl, "EncryptedAssertion") != 0 {
			return nil, errors.New("the decrypted content is not exactly one saml:Assertion")
		}
		parentCtx = etreeutils.NewDefaultNSContext()
	} else {
		if s.conn.RequireEncryptedAssertions {
			return nil, errors.New("the connector requires encrypted assertions")
		}
		assertionEl = childNS(root, nsAssertion, "Assertion")
		if assertionEl == nil {
			return nil, errors.New("the Assertion is not a child of the Response")
		}
		var err error
		if parentCtx, err = etreeutils.NSBuildParentContext(assertionEl); err != nil {
			return nil, fmt.Errorf("namespaces: %v", err)
		}
	}
	signed, err := verifySigned(assertionEl, parentCtx, s.certs, now)
	if err != nil {
		return nil, fmt.Errorf("assertion signature: %w", err)
	}
	var a saml.Assertion
	if err := unmarshalSigned(signed, &a); err != nil {
		return nil, fmt.Errorf("signed assertion: %v", err)
	}
	v, err := checkAssertion(s, &a, expectedID, now)
	if err != nil {
		return nil, err
	}

	// The Response itself, with crewjam/saml. With an IdP-initiated login
	// allowed (and no request sent) its InResponseTo checks are off; ours
	// below require the Response and the assertion to answer no request.
	csp := *s.sp
	csp.AllowIDPInitiated = expectedID == ""
	var possible []string
	if expectedID != "" {
		possible = []string{expectedID}
	}
	saml.Clock = dsig.NewFakeClockAt(now)
	acs := s.sp.AcsURL
	ca, err := csp.ParseXMLResponse(doc, possible, acs)
	if err != nil {
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			err = ire.PrivateErr
		}
		return nil, fmt.Errorf("response: %v", err)
	}
	if ca.ID != v.ID {
		return nil, errors.New("response: the assertion crewjam/saml accepted is not the signed one")
	}
	var resp saml.Response
	if err := unmarshalSigned(root, &resp); err != nil {
		return nil, fmt.Errorf("response: %v", err)
	}
	if resp.Destination != acs.String() {
		return nil, fmt.Errorf("response: Destination %q is not this ACS %q", resp.Destination, acs.String())
	}
	if resp.InResponseTo != expectedID {
		return nil, fmt.Errorf("response: InResponseTo %q does not match the request sent (%q)", resp.InResponseTo, expectedID)
	}
	return v, nil
}

// checkAssertion applies the Web Browser SSO profile's rules (Profiles
// 4.1.4.2-4.1.4.3) to the signed assertion, more strictly than
// crewjam/saml: Conditions with both bounds and at least one audience
// restriction, every one of which names this SP (Core 2.5.1.4: they are
// ANDed); a bearer SubjectConfirmation for this ACS, bounded in time and,
// for SP-initiated login, in response to the request sent; an
// AuthnStatement; a NameID.
func checkAssertion(s *sp, a *saml.Assertion, expectedID string, now time.Time) (*validated, error) {
	if a.ID == "" || a.Version != "2.0" {
		return nil, errors.New("assertion: no ID or not version 2.0")
	}
	if a.Issuer.Value != s.sp.IDPMetadata.EntityID {
		return nil, fmt.Errorf("assertion: Issuer %q is not the IdP %q", a.Issuer.Value, s.sp.IDPMetadata.EntityID)
	}
	if a.IssueInstant.IsZero() || a.IssueInstant.Add(maxIssueDelay+clockSkew).Before(now) || a.IssueInstant.Add(-clockSkew).After(now) {
		return nil, fmt.Errorf("assertion: IssueInstant %s is outside the accepted window", a.IssueInstant.Format(time.RFC3339))
	}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return nil, errors.New("assertion: no Subject NameID")
	}
	c := a.Conditions
	if c == nil || c.NotBefore.IsZero() || c.NotOnOrAfter.IsZero() {
		return nil, errors.New("assertion: Conditions must bound the validity (NotBefore and NotOnOrAfter)")
	}
	if c.NotBefore.Add(-clockSkew).After(now) {
		return nil, fmt.Errorf("assertion: not valid before %s", c.NotBefore.Format(time.RFC3339))
	}
	if !now.Before(c.NotOnOrAfter.Add(clockSkew)) {
		return nil, fmt.Errorf("assertion: expired at %s", c.NotOnOrAfter.Format(time.RFC3339))
	}
	if len(c.AudienceRestrictions) == 0 {
		return nil, errors.New("assertion: no AudienceRestriction")
	}
	for _, ar := range c.AudienceRestrictions {
		if ar.Audience.Value != s.conn.EntityID {
			return nil, fmt.Errorf("assertion: audience %q is not this SP %q", ar.Audience.Value, s.conn.EntityID)
		}
	}
	acs := s.sp.AcsURL.String()
	confirmed := false
	expiry := c.NotOnOrAfter
	for _, sc := range a.Subject.SubjectConfirmations {
		if sc.Method != bearer || sc.SubjectConfirmationData == nil {
			continue
		}
		d := sc.SubjectConfirmationData
		if d.Recipient != acs {
			return nil, fmt.Errorf("assertion: Recipient %q is not this ACS %q", d.Recipient, acs)
		}
		if d.InResponseTo != expectedID {
			return nil, fmt.Errorf("assertion: InResponseTo %q does not match the request sent (%q)", d.InResponseTo, expectedID)
		}
		if d.NotOnOrAfter.IsZero() || !now.Before(d.NotOnOrAfter.Add(clockSkew)) {
			return nil, errors.New("assertion: SubjectConfirmationData is expired or unbounded")
		}
		if !d.NotBefore.IsZero() && d.NotBefore.Add(-clockSkew).After(now) {
			return nil, errors.New("assertion: SubjectConfirmationData is not yet valid")
		}
		if d.NotOnOrAfter.After(expiry) {
			expiry = d.NotOnOrAfter
		}
		confirmed = true
	}
	if !confirmed {
		return nil, errors.New("assertion: no bearer SubjectConfirmation")
	}
	if len(a.AuthnStatements) == 0 {
		return nil, errors.New("assertion: no AuthnStatement")
	}
	v := &validated{
		ID:           a.ID,
		issuer:       a.Issuer.Value,
		nameID:       strings.TrimSpace(a.Subject.NameID.Value),
		nameIDFormat: a.Subject.NameID.Format,
		sessionIndex: a.AuthnStatements[0].SessionIndex,
		expiry:       expiry.Add(clockSkew),
		attrs:        map[string][]string{},
	}
	if t := a.AuthnStatements[0].SessionNotOnOrAfter; t != nil {
		v.sessionNotOnOrAfter = *t
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, val := range at.Values {
				v.attrs[at.Name] = append(v.attrs[at.Name], val.Value)
				if at.FriendlyName != "" && at.FriendlyName != at.Name {
					v.attrs[at.FriendlyName] = append(v.attrs[at.FriendlyName], val.Value)
				}
			}
		}
	}
	return v, nil
}

// verifySigned verifies el's enveloped signature (XML-DSig; the Reference
// must be el itself) with one of certs and returns the element as signed:
// what goxmldsig digested, so nothing outside the signature is read.
func verifySigned(el *etree.Element, parent etreeutils.NSContext, certs []*x509.Certificate, now time.Time) (*etree.Element, error) {
	if childNS(el, nsDSig, "Signature") == nil {
		return nil, errors.New("not signed")
	}
	ctx, err := parent.SubContext(el)
	if err != nil {
		return nil, err
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	// A KeyInfo without a certificate (a bare key value) cannot name a
	// trusted key: drop it so that the metadata's certificates are used.
	if sig := childNS(det, nsDSig, "Signature"); sig != nil && det.FindElement("./Signature/KeyInfo/X509Data/X509Certificate") == nil {
		if ki := sig.FindElement("KeyInfo"); ki != nil {
			sig.RemoveChild(ki)
		}
	}
	return vc.Validate(det)
}

// decryptAssertion decrypts an EncryptedAssertion (XML Encryption 1.0: an
// EncryptedData whose key is an EncryptedKey for the SP's RSA key) and
// checks the plaintext like a response.
func decryptAssertion(key any, encEl *etree.Element) ([]byte, error) {
	data := childNS(encEl, nsXMLEnc, "EncryptedData")
	if data == nil {
		return nil, errors.New("EncryptedAssertion without EncryptedData")
	}
	var pt []byte
	var err error
	if keyEl := childNS(encEl, nsXMLEnc, "EncryptedKey"); keyEl != nil {
		// The key beside the data (SAML Core 2.3.4).
		cek, kerr := xmlenc.Decrypt(key, keyEl)
		if kerr != nil {
			return nil, fmt.Errorf("decrypting the key: %v", kerr)
		}
		pt, err = xmlenc.Decrypt(cek, data)
	} else {
		// The key inside the data's KeyInfo.
		pt, err = xmlenc.Decrypt(key, data)
	}
	if err != nil {
		return nil, fmt.Errorf("decrypting the assertion: %v", err)
	}
	if len(pt) > maxXML {
		return nil, errTooLarge
	}
	if err := checkXML(pt, false); err != nil {
		return nil, fmt.Errorf("decrypted assertion: %w", err)
	}
	return pt, nil
}

// unmarshalSigned decodes el (with the namespaces it declares) into v.
func unmarshalSigned(el *etree.Element, v any) error {
	d := etree.NewDocument()
	d.SetRoot(el.Copy())
	b, err := d.WriteToBytes()
	if err != nil {
		return err
	}
	return xml.Unmarshal(b, v)
}

// childNS returns el's only child in namespace ns with local name tag, or
// nil if there is none or more than one.
func childNS(el *etree.Element, ns, tag string) *etree.Element {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// countLocal counts the elements of el's subtree (el included) whose local
// name is tag, whatever their namespace.
func countLocal(el *etree.Element, tag string) int {
	n := 0
	if el.Tag == tag {
		n++
	}
	for _, c := range el.ChildElements() {
		n += countLocal(c, tag)
	}
	return n
}
