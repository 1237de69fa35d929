package web3

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	eipAddr    = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
	anvilAddr0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	// eipExample is the first example message of EIP-4361 ("Examples").
	eipExample = `example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json`
)

// TestParseEIPExamples parses the three examples of EIP-4361 and prints
// them back byte for byte.
func TestParseEIPExamples(t *testing.T) {
	port := strings.Replace(eipExample, "example.com wants", "example.com:3388 wants", 1)
	scheme := strings.Replace(eipExample, "example.com wants", "https://example.com wants", 1)
	for _, ex := range []string{eipExample, port, scheme} {
		m, err := ParseMessage(ex)
		if err != nil {
			t.Fatalf("%v\n%s", err, ex)
		}
		if m.String() != ex {
			t.Errorf("round trip:\n%s\n---\n%s", m.String(), ex)
		}
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
		if m.Address != eipAddr || m.ChainID != 1 || m.Nonce != "32891756" || m.URI != "https://example.com/login" ||
			m.Statement != "I accept the ExampleOrg Terms of Service: https://example.com/tos" || len(m.Resources) != 2 ||
			!m.IssuedAt.Equal(time.Date(2021, 9, 30, 16, 25, 24, 0, time.UTC)) || m.Version != "1" {
			t.Errorf("fields: %+v", m)
		}
	}
	m, _ := ParseMessage(port)
	if m.Domain != "example.com:3388" || m.Scheme != "" {
		t.Errorf("port: %q %q", m.Scheme, m.Domain)
	}
	m, _ = ParseMessage(scheme)
	if m.Domain != "example.com" || m.Scheme != "https" {
		t.Errorf("scheme: %q %q", m.Scheme, m.Domain)
	}
}

func TestBuildAllFields(t *testing.T) {
	now := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	m := &Message{Domain: "gw.example:8443", Scheme: "https", Address: anvilAddr0, URI: "https://gw.example:8443/",
		Version: "1", ChainID: 137, Nonce: "abcDEF123456", IssuedAt: now, ExpirationTime: now.Add(10 * time.Minute),
		NotBefore: now, RequestID: "req-1%20x", Resources: []string{"https://gw.example/1.0/identifiers/alice.crypto"}}
	want := "https://gw.example:8443 wants you to sign in with your Ethereum account:\n" + anvilAddr0 + "\n\n\n" +
		"URI: https://gw.example:8443/\nVersion: 1\nChain ID: 137\nNonce: abcDEF123456\nIssued At: 2026-12-03T06:00:00Z\n" +
		"Expiration Time: 2026-12-03T06:10:00Z\nNot Before: 2026-12-03T06:00:00Z\nRequest ID: req-1%20x\n" +
		"Resources:\n- https://gw.example/1.0/identifiers/alice.crypto"
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.String() != want {
		t.Fatalf("built:\n%q\nwant\n%q", m.String(), want)
	}
	p, err := ParseMessage(want)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != want || !p.ExpirationTime.Equal(m.ExpirationTime) || p.RequestID != m.RequestID || p.Statement != "" {
		t.Fatalf("parsed back: %+v", p)
	}
}

func TestParseRefuses(t *testing.T) {
	rep := func(old, new string) string { return strings.Replace(eipExample, old, new, 1) }
	for name, msg := range map[string]string{
		"empty":               "",
		"CRLF":                strings.ReplaceAll(eipExample, "\n", "\r\n"),
		"trailing LF":         eipExample + "\n",
		"header case":         rep("wants you to sign in", "Wants you to sign in"),
		"no address":          rep(eipAddr+"\n", ""),
		"bad checksum":        rep(eipAddr, "0xc02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"),
		"0X prefix":           rep(eipAddr, "0XC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"),
		"short address":       rep(eipAddr, eipAddr[:41]),
		"statement LF":        rep("Terms of Service: ", "Terms\nof Service: "),
		"statement non-ASCII": rep("ExampleOrg", "ExampleÖrg"),
		"statement percent":   rep("ExampleOrg", "Example%20Org"),
		"version 2":           rep("Version: 1", "Version: 2"),
		"chain id empty":      rep("Chain ID: 1", "Chain ID: "),
		"chain id hex":        rep("Chain ID: 1", "Chain ID: 0x1"),
		"chain id huge":       rep("Chain ID: 1", "Chain ID: 99999999999999999999999"),
		"short nonce":         rep("Nonce: 32891756", "Nonce: 3289175"),
		"nonce symbol":        rep("Nonce: 32891756", "Nonce: 32891756-"),
		"issued-at":           rep("2021-09-30T16:25:24Z", "2021-09-30 16:25:24"),
		"issued-at lower z":   rep("2021-09-30T16:25:24Z", "2021-09-30T16:25:24z"),
		"fields out of order": rep("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"),
		"unknown field":       rep("Resources:", "Color: blue\nResources:"),
		"resource no dash":    rep("- ipfs://", "ipfs://"),
		"resource not a URI":  rep("- ipfs://", "- not a uri "),
		"duplicate expiry":    rep("Resources:", "Expiration Time: 2021-09-30T16:25:24Z\nExpiration Time: 2021-09-30T16:25:24Z\nResources:"),
		"uri space":           rep("URI: https://example.com/login", "URI: https://example.com/log in"),
		"uri relative":        rep("URI: https://example.com/login", "URI: /login"),
		"domain space":        rep("example.com wants", "exa mple.com wants"),
		"double space":        rep("URI: ", "URI:  "),
		"missing issued-at":   eipExample[:strings.Index(eipExample, "\nIssued At")],
		"huge":                eipExample + strings.Repeat("\n- https://e.x", MaxMessageBytes),
		"empty statement ln":  rep("\n\nI accept", "\n\n\nI accept"),
	} {
		if _, err := ParseMessage(msg); !errors.Is(err, ErrMessage) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// Without a statement: three line breaks after the address.
	noStmt := rep("I accept the ExampleOrg Terms of Service: https://example.com/tos\n", "")
	m, err := ParseMessage(noStmt)
	if err != nil || m.Statement != "" || m.String() != noStmt {
		t.Fatalf("no statement: %v %+v", err, m)
	}
}
