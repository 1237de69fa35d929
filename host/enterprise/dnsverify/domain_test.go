package dnsverify

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o600) }

func TestNormalizeDomain(t *testing.T) {
	good := map[string]string{
		"acme.com":                      "acme.com",
		"ACME.Com.":                     "acme.com",
		"sub.acme.co.uk":                "sub.acme.co.uk",
		"xn--bcher-kva.de":              "xn--bcher-kva.de",
		"a-b.c0m":                       "a-b.c0m",
		"1.2.3.com":                     "1.2.3.com",
		strings.Repeat("a", 63) + ".io": strings.Repeat("a", 63) + ".io",
	}
	for in, want := range good {
		got, err := NormalizeDomain(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	long := strings.Repeat(strings.Repeat("a", 60)+".", 4) + "com" // 247 octets
	bad := []string{
		"", ".", "com", "com.", "acme.com..", ".acme.com", "acme..com",
		"-acme.com", "acme-.com", "acme.-com", "1.2.3.4", "10.0.0.1.", "acme.123",
		"[::1]", "::1", "acme.com:443", "acme.com/x", "ac me.com", " acme.com",
		"acme_x.com", "*.acme.com", "bücher.de", "acme.com\x00",
		strings.Repeat("a", 64) + ".com", long,
		"foo.localhost", "foo.test", "foo.example", "foo.invalid", "x.local",
		"1.0.0.127.in-addr.arpa", "x.internal", "x.onion",
	}
	for _, in := range bad {
		if got, err := NormalizeDomain(in); !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want ErrInvalidDomain", in, got, err)
		}
	}
	// Longest accepted domain: the record name is exactly 253 octets.
	edge := strings.Repeat("a", maxDomainLen-4) + ".com"
	edge = edge[:63] + "." + edge[64:127] + "." + edge[128:191] + "." + edge[192:]
	if len(edge) != maxDomainLen {
		t.Fatalf("edge length %d", len(edge))
	}
	if _, err := NormalizeDomain(edge); err != nil {
		t.Fatalf("edge: %v", err)
	}
	if n := RecordName(edge); len(n) != 253 || !dns.IsFqdn(n+".") {
		t.Fatalf("record name %d", len(n))
	}
	if _, err := NormalizeDomain("b" + edge); err == nil {
		t.Fatal("one octet too long accepted")
	}
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"acme.com", "ACME.com.", "1.2.3.4", "xn--bcher-kva.de", "a..b", "-a.com", "a.b.c.d.e.f", "bücher.de", "", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormalizeDomain(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDomain) {
				t.Fatalf("error not ErrInvalidDomain: %v", err)
			}
			return
		}
		// Idempotent, lower-case LDH, a valid DNS name with room for the
		// challenge label, equal to the input modulo case and one final dot.
		if d2, err := NormalizeDomain(d); err != nil || d2 != d {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, d, d2, err)
		}
		if !strings.EqualFold(strings.TrimSuffix(s, "."), d) {
			t.Fatalf("%q normalised to unrelated %q", s, d)
		}
		for i := 0; i < len(d); i++ {
			c := d[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
				t.Fatalf("%q: byte %q", d, c)
			}
		}
		if strings.HasSuffix(d, ".") || strings.Count(d, ".") < 1 {
			t.Fatalf("%q: shape", d)
		}
		n := RecordName(d)
		if len(n) > 253 {
			t.Fatalf("record name %d octets", len(n))
		}
		if _, ok := dns.IsDomainName(n + "."); !ok {
			t.Fatalf("record name %q not a DNS name", n)
		}
		for _, l := range strings.Split(d, ".") {
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("%q: label %q", d, l)
			}
		}
	})
}
