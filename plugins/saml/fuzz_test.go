package main

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"testing"
	"time"
)

// FuzzDecodeResponse feeds the ACS's input decoding (base64, DEFLATE for
// the Redirect binding, the XML checks) arbitrary form values: it never
// panics, and what it accepts is well within the limits and passes
// checkXML again.
func FuzzDecodeResponse(f *testing.F) {
	idp := newTestIdP(f, "idp")
	now := time.Now().UTC()
	valid := idp.build(f, respOpts{now: now, inResponseTo: "id-1", audience: spEntity, recipient: acsURL, destination: acsURL, nameID: "alice@acme.example"})
	f.Add(valid, false)
	raw, _ := base64.StdEncoding.DecodeString(valid)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 9)
	w.Write(raw)
	w.Close()
	f.Add(base64.StdEncoding.EncodeToString(buf.Bytes()), true)
	f.Add("", false)
	f.Add("PD94bWwgdmVyc2lvbj0iMS4wIj8+PCFET0NUWVBFIHggW10+PHgvPg==", false) // a DOCTYPE
	f.Add("PGEvPjwhLS0gLS0+", false)                                         // <a/><!-- -->
	f.Add("%%%", true)
	f.Fuzz(func(t *testing.T, value string, redirect bool) {
		out, err := decodeResponse(value, redirect)
		if err != nil {
			return
		}
		if len(out) == 0 || len(out) > maxXML {
			t.Fatalf("accepted %d bytes", len(out))
		}
		if err := checkXML(out, false); err != nil {
			t.Fatalf("accepted XML that checkXML refuses: %v", err)
		}
	})
}

// FuzzValidate mutates a valid signed response: whatever validate accepts
// asserts exactly what the IdP signed (alice), never anything else, and
// nothing panics.
func FuzzValidate(f *testing.F) {
	idp := newTestIdP(f, "idp")
	now := time.Now().UTC().Truncate(time.Second)
	conn := &Connector{Enabled: true, EntityID: spEntity, ACSURL: acsURL, IdPMetadataXML: idp.metadata(f)}
	p := newProvider()
	s, err := p.build(conn, []byte(conn.IdPMetadataXML), nil)
	if err != nil {
		f.Fatal(err)
	}
	o := respOpts{now: now, inResponseTo: "id-1", audience: spEntity, recipient: acsURL, destination: acsURL, nameID: "alice@acme.example"}
	valid, _ := base64.StdEncoding.DecodeString(idp.build(f, o))
	f.Add(valid)
	o.signResponse = true
	signedToo, _ := base64.StdEncoding.DecodeString(idp.build(f, o))
	f.Add(signedToo)
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/></samlp:Response>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if checkXML(doc, false) != nil {
			return
		}
		v, err := validate(s, doc, "id-1", now)
		if err != nil {
			return
		}
		if v.nameID != "alice@acme.example" || v.issuer != idp.entityID {
			t.Fatalf("accepted an identity the IdP did not sign: %q from %q", v.nameID, v.issuer)
		}
	})
}
