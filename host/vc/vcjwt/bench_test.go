package vcjwt

import (
	"context"
	"crypto"
	"testing"
)

func benchKeys(b *testing.B) (keys, []struct {
	name string
	key  crypto.Signer
	kid  string
}) {
	k := newKeys(b)
	return k, []struct {
		name string
		key  crypto.Signer
		kid  string
	}{{"EdDSA", k.ed, kidEd}, {"ES256", k.p256, kidP256}}
}

func BenchmarkSign(b *testing.B) {
	_, cases := benchKeys(b)
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(ctx, []byte(credential), c.key, c.kid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	k, cases := benchKeys(b)
	ctx := context.Background()
	resolve := k.resolver(nil)
	for _, c := range cases {
		tok, err := Sign(ctx, []byte(credential), c.key, c.kid)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Verify(ctx, tok, resolve); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
