package netguard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestLoopbackRefusedByDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	p := &Policy{}
	// By IP literal.
	if _, _, _, err := p.Get(context.Background(), p.Client(), srv.URL, nil); !errors.Is(err, ErrDenied) {
		t.Fatalf("loopback by IP: %v", err)
	}
	// By a name that resolves to loopback: refused at dial time.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if _, _, _, err := p.Get(context.Background(), p.Client(), u, nil); !errors.Is(err, ErrDenied) {
		t.Fatalf("loopback by name: %v", err)
	}
	// Granted explicitly.
	g := &Policy{AllowPrivate: true}
	st, _, b, err := g.Get(context.Background(), g.Client(), u, nil)
	if err != nil || st != 200 || string(b) != "ok" {
		t.Fatalf("granted: %d %q %v", st, b, err)
	}
	g2 := &Policy{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if _, _, _, err := g2.Get(context.Background(), g2.Client(), srv.URL, nil); err != nil {
		t.Fatalf("granted prefix: %v", err)
	}
}

func TestRedirectsRechecked(t *testing.T) {
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:1/", "http://[::1]/", "file:///etc/passwd", "http://other.example/"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		}))
		host := strings.TrimPrefix(srv.URL, "http://")
		u, _ := url.Parse(srv.URL)
		p := &Policy{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Allow: []Rule{{Scheme: "http", Host: "127.0.0.1", Port: atoi(u.Port())}}}
		_, _, _, err := p.Get(context.Background(), p.Client(), "http://"+host+"/", nil)
		if !errors.Is(err, ErrDenied) {
			t.Errorf("redirect to %s: %v", target, err)
		}
		srv.Close()
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestCheckURL(t *testing.T) {
	p := &Policy{Allow: []Rule{{Host: "api.example.com"}, {Host: "*.example.org"}, {Scheme: "http", Host: "plain.example", Port: 8080}}}
	ok := []string{"https://api.example.com/x", "https://API.example.com:443/", "https://a.example.org/", "http://plain.example:8080/"}
	bad := []string{"http://api.example.com/", "https://api.example.com:8443/", "https://example.org/", "https://evil.com/", "ftp://api.example.com/",
		"https://user:pw@api.example.com/", "http://plain.example/", "https://10.0.0.1/", "https://[fe80::1]/"}
	for _, s := range ok {
		u, _ := url.Parse(s)
		if err := p.CheckURL(u); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range bad {
		u, _ := url.Parse(s)
		if err := p.CheckURL(u); err == nil {
			t.Errorf("%s allowed", s)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	p := &Policy{}
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "0.0.0.0"} {
		if p.CheckAddr(netip.MustParseAddr(s)) == nil {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"} {
		if err := p.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestBodyCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 2048)) }))
	defer srv.Close()
	p := &Policy{AllowPrivate: true, MaxBodyBytes: 1024}
	if _, _, _, err := p.Get(context.Background(), p.Client(), srv.URL, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("cap: %v", err)
	}
}
