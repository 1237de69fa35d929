package main

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// Each case is a response that must be refused, and with which code. The
// XML signature wrapping (XSW) permutations follow Somorovsky et al., "On
// Breaking SAML: Be Whoever You Want to Be" (USENIX Security 2012), XSW1-8:
// the signed element stays intact somewhere in the document while an
// unsigned evil one sits where a naive SP reads.

// evil is an unsigned assertion for mallory, otherwise valid.
func (e *env) evil(id string) *etree.Element {
	o := e.opts(id)
	o.nameID = "mallory@acme.example"
	o.noAssertSig = true
	return e.idp.assertion(o).Element()
}

func (e *env) signedFor(id string) *etree.Element {
	o := e.opts(id)
	return e.idp.signedAssertion(e.t, e.idp.assertion(o), o)
}

func docString(t *testing.T, d *etree.Document) string { return encodeDoc(t, d) }

func TestAttacksRefused(t *testing.T) {
	type attack struct {
		name string
		code abiv1.ErrorCode
		make func(e *env, id string) string
	}
	attacks := []attack{
		{"XSW evil assertion before the signed one", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			return docString(t, e.idp.response(t, e.opts(id), e.evil(id), e.signedFor(id)))
		}},
		{"XSW evil assertion after the signed one", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			return docString(t, e.idp.response(t, e.opts(id), e.signedFor(id), e.evil(id)))
		}},
		{"XSW signed assertion inside the evil one", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			ev := e.evil(id)
			ev.AddChild(e.signedFor(id))
			return docString(t, e.idp.response(t, e.opts(id), ev))
		}},
		{"XSW evil assertion inside the signed one", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			s := e.signedFor(id)
			s.AddChild(e.evil(id))
			return docString(t, e.idp.response(t, e.opts(id), s))
		}},
		{"XSW signed assertion moved into Extensions", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			d := e.idp.response(t, e.opts(id), e.evil(id))
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(e.signedFor(id))
			d.Root().InsertChildAt(2, ext)
			return docString(t, d)
		}},
		{"signed assertion only inside Extensions, none in its place", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			d := e.idp.response(t, e.opts(id))
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(e.signedFor(id))
			d.Root().InsertChildAt(2, ext)
			return docString(t, d)
		}},
		{"XSW signed assertion inside the evil one's Signature/Object", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			s := e.signedFor(id)
			ev := e.evil(id)
			sig := s.FindElement("./Signature").Copy()
			obj := sig.CreateElement("ds:Object")
			s.RemoveChild(s.FindElement("./Signature"))
			obj.AddChild(s)
			ev.AddChild(sig)
			return docString(t, e.idp.response(t, e.opts(id), ev))
		}},
		{"XSW signature copied onto an evil assertion with the signed ID", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			s := e.signedFor(id)
			ev := e.evil(id)
			ev.RemoveAttr("ID")
			ev.CreateAttr("ID", s.SelectAttrValue("ID", ""))
			ev.AddChild(s.FindElement("./Signature").Copy())
			return docString(t, e.idp.response(t, e.opts(id), ev))
		}},
		{"XSW signed response wrapped by an evil response", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.signResponse = true
			orig := e.idp.response(t, o, e.signedFor(id)).Root()
			o.signResponse = false
			d := e.idp.response(t, o, e.evil(id))
			d.Root().AddChild(orig)
			return docString(t, d)
		}},
		{"signed assertion with its NameID changed", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			s := e.signedFor(id)
			s.FindElement("./Subject/NameID").SetText("mallory@acme.example")
			return docString(t, e.idp.response(t, e.opts(id), s))
		}},
		{"comment inside the NameID", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			o := e.opts(id)
			o.nameID = "alice@acme.example.evil.test"
			s := e.idp.signedAssertion(t, e.idp.assertion(o), o)
			n := s.FindElement("./Subject/NameID")
			n.SetText("alice@acme.example")
			n.CreateComment("")
			n.CreateText(".evil.test")
			return docString(t, e.idp.response(t, o, s))
		}},
		{"two signed assertions", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.nameID = "mallory@acme.example"
			return docString(t, e.idp.response(t, e.opts(id), e.signedFor(id), e.idp.signedAssertion(t, e.idp.assertion(o), o)))
		}},
		{"unsigned assertion inside a signed response", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.signResponse, o.noAssertSig = true, true
			return e.idp.build(t, o)
		}},
		{"nothing signed", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.noAssertSig = true
			return e.idp.build(t, o)
		}},
		{"assertion signed by another key", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			other := newTestIdP(t, "attacker")
			o := e.opts(id)
			return docString(t, e.idp.response(t, o, other.signedAssertion(t, e.idp.assertion(o), o)))
		}},
		{"response signed by another key around a valid assertion", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			other := newTestIdP(t, "attacker")
			other.entityID = e.idp.entityID
			o := e.opts(id)
			o.signResponse = true
			return docString(t, other.response(t, o, e.signedFor(id)))
		}},
		{"wrong audience", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.audience = "https://other-sp.example/metadata"
			return e.idp.build(t, o)
		}},
		{"wrong destination", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.destination = "https://other-sp.example/acs"
			return e.idp.build(t, o)
		}},
		{"no destination", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.destination = ""
			return e.idp.build(t, o)
		}},
		{"wrong recipient", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.recipient = "https://other-sp.example/acs"
			return e.idp.build(t, o)
		}},
		{"expired assertion", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.now = o.now.Add(-30 * time.Minute)
			return e.idp.build(t, o)
		}},
		{"expired conditions, fresh issue instant", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.notBefore, o.notOnOrAfter = o.now.Add(-10*time.Minute), o.now.Add(-2*time.Minute)
			return e.idp.build(t, o)
		}},
		{"not yet valid assertion", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.notBefore, o.notOnOrAfter = o.now.Add(5*time.Minute), o.now.Add(10*time.Minute)
			return e.idp.build(t, o)
		}},
		{"valid for longer than the replay cache remembers", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.notOnOrAfter = o.now.Add(48 * time.Hour)
			return e.idp.build(t, o)
		}},
		{"issued in the future", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			o.now = o.now.Add(10 * time.Minute)
			return e.idp.build(t, o)
		}},
		{"mismatched InResponseTo", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			return e.idp.build(t, e.opts("id-not-the-one-sent"))
		}},
		{"InResponseTo only on the assertion", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			o := e.opts(id)
			a := e.idp.signedAssertion(t, e.idp.assertion(o), o)
			o.inResponseTo = ""
			return docString(t, e.idp.response(t, o, a))
		}},
		{"another issuer", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			other := newTestIdP(t, "idp")
			other.cert = e.idp.cert
			other.entityID = "https://evil-idp.example/metadata"
			o := e.opts(id)
			return docString(t, other.response(t, o, other.signedAssertion(t, other.assertion(o), o)))
		}},
		{"not XML", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte("this is not XML at all"))
		}},
		{"truncated XML", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			b, _ := base64.StdEncoding.DecodeString(e.idp.build(t, e.opts(id)))
			return base64.StdEncoding.EncodeToString(b[:len(b)/2])
		}},
		{"JSON instead of XML", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte(`{"SAMLResponse": "x"}`))
		}},
		{"DTD with an internal entity", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			b, _ := base64.StdEncoding.DecodeString(e.idp.build(t, e.opts(id)))
			doc := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "alice">]>` + string(b)
			return base64.StdEncoding.EncodeToString([]byte(doc))
		}},
		{"external entity", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte(`<?xml version="1.0"?><!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>`))
		}},
		{"billion laughs", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte(`<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>`))
		}},
		{"processing instruction", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			b, _ := base64.StdEncoding.DecodeString(e.idp.build(t, e.opts(id)))
			return base64.StdEncoding.EncodeToString(append([]byte(`<?xml-stylesheet href="x"?>`), b...))
		}},
		{"non-UTF-8 encoding", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte(`<?xml version="1.0" encoding="UTF-7"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
		}},
		{"base64 that is not", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return "PHNhbWxwOlJlc3BvbnNl!!!not*base64"
		}},
		{"base64 without its padding", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("<a/>x")), "=")
		}},
		{"empty SAMLResponse", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string { return "" }},
		{"oversized SAMLResponse", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return strings.Repeat("QUFB", maxEncoded/4+1)
		}},
		{"deeply nested XML", abiv1.ErrorCodeInvalidArgument, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200)))
		}},
		{"not a Response", abiv1.ErrorCodeUnauthenticated, func(e *env, id string) string {
			return base64.StdEncoding.EncodeToString([]byte(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"/>`))
		}},
	}
	e := newEnv(t, nil)
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			e.t = t
			id := e.begin()
			_, err := e.consume(map[string]string{"SAMLResponse": a.make(e, id)}, id)
			wantCode(t, err, a.code)
			t.Log(err)
		})
	}
	if n := e.host.Counter("saml_responses_ok_total"); n != 0 {
		t.Fatalf("%v responses accepted", n)
	}
	// The SP still works after all that.
	e.t = t
	id := e.begin()
	if _, err := e.consume(map[string]string{"SAMLResponse": e.idp.build(t, e.opts(id))}, id); err != nil {
		t.Fatalf("valid response after the attacks: %v", err)
	}
}

// TestDeflateBomb sends a SAMLResponse over the HTTP-Redirect binding
// whose DEFLATE stream inflates to 8 MiB: refused after inflating at
// most maxXML bytes, fast.
func TestDeflateBomb(t *testing.T) {
	e := newEnv(t, nil)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write([]byte("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">"))
	zeros := make([]byte, 1<<20)
	for i := range zeros {
		zeros[i] = ' '
	}
	for range 8 {
		w.Write(zeros)
	}
	w.Close()
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	if len(enc) > maxEncoded {
		t.Fatalf("bomb %d bytes encoded: does not test inflation", len(enc))
	}
	start := time.Now()
	id := e.begin()
	_, err := e.cli.ConsumeResponse(t.Context(), &abiv1.ConsumeResponseRequest{EnterpriseID: entID, ExpectedRequestID: id,
		Form: map[string]string{"SAMLResponse": enc}, ContentType: contentTypeRedirect})
	wantCode(t, err, abiv1.ErrorCodeInvalidArgument)
	if !strings.Contains(err.Error(), "too large") {
		t.Fatalf("refused for another reason: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("bomb took %v", d)
	}
	// Garbage that does not inflate.
	_, err = e.cli.ConsumeResponse(t.Context(), &abiv1.ConsumeResponseRequest{EnterpriseID: entID, ExpectedRequestID: id,
		Form: map[string]string{"SAMLResponse": base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0x00, 0x12})}, ContentType: contentTypeRedirect})
	wantCode(t, err, abiv1.ErrorCodeInvalidArgument)
	// A valid response over the Redirect binding is accepted (the
	// assertion's own signature is what counts).
	raw, _ := base64.StdEncoding.DecodeString(e.idp.build(t, e.opts(id)))
	buf.Reset()
	w, _ = flate.NewWriter(&buf, flate.BestCompression)
	w.Write(raw)
	w.Close()
	if _, err := e.cli.ConsumeResponse(t.Context(), &abiv1.ConsumeResponseRequest{EnterpriseID: entID, ACSURL: acsURL, ExpectedRequestID: id,
		Form: map[string]string{"SAMLResponse": base64.StdEncoding.EncodeToString(buf.Bytes())}, ContentType: contentTypeRedirect}); err != nil {
		t.Fatalf("valid response over the Redirect binding: %v", err)
	}
}
