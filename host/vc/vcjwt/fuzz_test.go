package vcjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"strings"
	"testing"
)

// fixedKeys are deterministic so the fuzz corpus stays meaningful between
// runs.
func fixedKeys() keys {
	ed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	scalar := make([]byte, 32)
	scalar[31] = 0x5e
	p, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		panic(err)
	}
	return keys{ed, p}
}

// FuzzVerify: Verify never panics, and never accepts anything but a token
// whose signing input (header.payload) is one the fuzz harness signed itself
// — the fuzzer cannot forge a signature, so any other success is a bug.
// (ES256 signatures are malleable, so the signature part may differ.)
func FuzzVerify(f *testing.F) {
	k := fixedKeys()
	ctx := context.Background()
	var signed []string
	for _, s := range []struct {
		key crypto.Signer
		kid string
	}{{k.ed, kidEd}, {k.p256, kidP256}} {
		tok, err := Sign(ctx, []byte(credential), s.key, s.kid)
		if err != nil {
			f.Fatal(err)
		}
		signed = append(signed, tok[:strings.LastIndexByte(tok, '.')])
		f.Add(tok)
		f.Add(tok[:len(tok)-3])
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	f.Add(specExample1)
	f.Add(hand(`{"alg":"none","typ":"vc+jwt","kid":"`+kidEd+`"}`, credential, nil))
	f.Add("")
	f.Add("..")
	resolve := k.resolver(nil)
	f.Fuzz(func(t *testing.T, token string) {
		got, h, err := Verify(ctx, token, resolve)
		if err != nil {
			if got != nil || h != (Header{}) {
				t.Fatalf("data returned with error %v", err)
			}
			return
		}
		input := token[:strings.LastIndexByte(token, '.')]
		for _, s := range signed {
			if input == s {
				return
			}
		}
		t.Fatalf("verified a token the harness never signed: %q", token)
	})
}
