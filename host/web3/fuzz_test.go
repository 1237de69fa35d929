package web3

import (
	"strings"
	"testing"
)

// FuzzParseMessage: the parser never panics, and whatever it accepts
// prints back to the same bytes and validates.
func FuzzParseMessage(f *testing.F) {
	f.Add(eipExample)
	f.Add(strings.Replace(eipExample, "example.com wants", "https://example.com:3388 wants", 1))
	f.Add(strings.Replace(eipExample, "Resources:", "Expiration Time: 2021-10-01T00:00:00.5+02:00\nNot Before: 2021-09-30T00:00:00Z\nRequest ID: a%20b\nResources:", 1))
	f.Add("a wants you to sign in with your Ethereum account:\n0x" + strings.Repeat("0", 40) + "\n\n\nURI: a:b\nVersion: 1\nChain ID: 1\nNonce: 12345678\nIssued At: 2021-09-30T16:25:24Z")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMessage(s)
		if err != nil {
			return
		}
		if m.String() != s {
			t.Fatalf("accepted message prints differently:\n%q\n%q", s, m.String())
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted message does not validate: %v", err)
		}
	})
}

// FuzzDecodeSignature: the decoder never panics; what it accepts is 65
// bytes with a canonical v and low s, and recovery never panics.
func FuzzDecodeSignature(f *testing.F) {
	good := SignPersonal(key(f, anvilKey0), []byte("hello"))
	f.Add(good)
	f.Add(good[2:])
	f.Add(good[:len(good)-2] + "00")
	f.Add(good[:len(good)-2] + "1d")
	f.Add("0x")
	f.Add(strings.Repeat("f", 130))
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := DecodeSignature(s)
		if err != nil {
			return
		}
		if sig[0] != 27 && sig[0] != 28 {
			t.Fatalf("recovery byte %d", sig[0])
		}
		_, _ = RecoverAddress(PersonalHash([]byte("hello")), sig)
	})
}

// FuzzNormaliseName: never panics; an accepted name is lower case, has a
// dot and is accepted again unchanged.
func FuzzNormaliseName(f *testing.F) {
	for _, s := range []string{"alice.eth", "ALICE.ETH", "a..eth", "🦊.eth", "x\u200d.eth", "brad.crypto", "a.b.c.nft", ".eth"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, tld, err := NormaliseName(s)
		if err != nil {
			return
		}
		if n != strings.ToLower(n) || !strings.HasSuffix(n, "."+tld) {
			t.Fatalf("%q → %q %q", s, n, tld)
		}
		if n2, _, err := NormaliseName(n); err != nil || n2 != n {
			t.Fatalf("not idempotent: %q → %q %v", n, n2, err)
		}
	})
}
