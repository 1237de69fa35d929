package samlidp_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/crewjam/saml"

	"github.com/ubeu/gateway/interop/samlidp"
)

// TestSimpleSAMLphpLogin checks the helper itself: SimpleSAMLphp starts,
// serves its metadata, answers an AuthnRequest with its login form, and
// after the headless login posts a signed Response that crewjam/saml's own
// service provider accepts for the user's attributes.
func TestSimpleSAMLphpLogin(t *testing.T) {
	const spEntity, acs = "http://127.0.0.1:1/sp/metadata", "http://127.0.0.1:1/sp/acs"
	idp := samlidp.Start(t, samlidp.Options{SPEntityID: spEntity, SPACSURL: acs})
	meta, err := idp.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(meta, &ed); err != nil || ed.EntityID != idp.EntityID {
		t.Fatalf("metadata: %v %s", err, meta)
	}
	u, _ := url.Parse(acs)
	sp := &saml.ServiceProvider{EntityID: spEntity, AcsURL: *u, IDPMetadata: &ed}
	ar, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := ar.Redirect("rs1", sp)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	form, err := idp.Login(context.Background(), &http.Client{Jar: jar}, redirect.String(), "alice", "alicepass")
	if err != nil {
		t.Fatal(err)
	}
	if form.Action != acs || form.Fields.Get("RelayState") != "rs1" {
		t.Fatalf("form: %+v", form)
	}
	raw, err := base64.StdEncoding.DecodeString(form.Fields.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := sp.ParseXMLResponse(raw, []string{ar.ID}, *u)
	if err != nil {
		if e, ok := err.(*saml.InvalidResponseError); ok {
			err = e.PrivateErr
		}
		t.Fatalf("crewjam/saml refused SimpleSAMLphp's response: %v\n%s", err, raw)
	}
	if a.Subject.NameID.Value != "alice@acme.example" {
		t.Fatalf("NameID %q", a.Subject.NameID.Value)
	}
	// A wrong password gets the form again, not a response.
	jar2, _ := cookiejar.New(nil)
	if _, err := idp.Login(context.Background(), &http.Client{Jar: jar2}, redirect.String(), "alice", "wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
}
