package didweb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/netguard"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"did:web:w3c-ccg.github.io":             "https://w3c-ccg.github.io/.well-known/did.json",
		"did:web:w3c-ccg.github.io:user:alice":  "https://w3c-ccg.github.io/user/alice/did.json",
		"did:web:example.com%3A3000:user:alice": "https://example.com:3000/user/alice/did.json",
		"did:web:example.com%3a3000":            "https://example.com:3000/.well-known/did.json",
		"did:web:example.com:a%20b":             "https://example.com/a%20b/did.json",
	} {
		got, err := URL(in)
		if err != nil || got != want {
			t.Errorf("URL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"did:web:", "did:key:z6Mk", "did:web:example.com/path", "did:web:example.com#frag", "did:web:exa mple.com",
		"did:web:example.com:..:x", "did:web:example.com:a%2Fb", "did:web:example.com::x", "did:web:example.com%3A0080",
		"did:web:example.com%3Ahttp", "did:web:example.com%40evil.com", "did:web:-a.com", "did:web:a..com",
	} {
		if _, err := URL(in); !errors.Is(err, did.ErrInvalidDID) {
			t.Errorf("URL(%q) err = %v, want invalidDid", in, err)
		}
	}
}

// guarded enforces the policy's URL checks on a transport that trusts the
// test server's certificate (netguard's own transport trusts system roots).
type guarded struct {
	p  *netguard.Policy
	rt http.RoundTripper
}

func (g guarded) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := g.p.CheckURL(r.URL); err != nil {
		return nil, err
	}
	return g.rt.RoundTrip(r)
}

func testResolver(t *testing.T, srv *httptest.Server, maxBytes int64, timeout time.Duration) *Resolver {
	pol := &netguard.Policy{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	c := pol.Client() // keeps netguard's redirect checks
	tr := srv.Client().Transport.(*http.Transport).Clone()
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		return pol.CheckAddr(ap.Addr())
	}}
	tr.DialContext = d.DialContext
	c.Transport = guarded{pol, tr}
	return New(Options{Policy: pol, Client: c, MaxBytes: maxBytes, Timeout: timeout})
}

func TestResolve(t *testing.T) {
	var didStr string
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/did.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"@context":"https://www.w3.org/ns/did/v1","id":%q,"verificationMethod":[{"id":"%s#k","type":"Multikey","controller":%q,"publicKeyMultibase":"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"}],"authentication":["%s#k"]}`, didStr, didStr, didStr, didStr)
	})
	mux.HandleFunc("/user/alice/did.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":"did:web:evil.example"}`)
	})
	mux.HandleFunc("/broken/did.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q,`, didStr+":broken")
	})
	mux.HandleFunc("/trailing/did.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q} {"id":"x"}`, didStr+":trailing")
	})
	mux.HandleFunc("/huge/did.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q,"alsoKnownAs":["%s"]}`, didStr+":huge", strings.Repeat("a", 300<<10))
	})
	mux.HandleFunc("/metadata/did.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/did.json", http.StatusFound)
	})
	mux.HandleFunc("/slow/did.json", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/down/did.json", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	didStr = "did:web:" + strings.Replace(strings.TrimPrefix(srv.URL, "https://"), ":", "%3A", 1)
	r := testResolver(t, srv, 256<<10, 500*time.Millisecond)
	ctx := context.Background()

	res, err := r.Resolve(ctx, didStr, did.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Document.ID != didStr || len(res.Document.Authentication) != 1 || res.Document.Authentication[0].Ref != didStr+"#k" {
		t.Fatalf("document %+v", res.Document)
	}
	for path, code := range map[string]string{
		":user:alice": did.CodeInternalError, // id mismatch
		":broken":     did.CodeInternalError,
		":trailing":   did.CodeInternalError,
		":huge":       did.CodeInternalError,
		":metadata":   did.CodeNotFound, // redirect to a link-local address refused
		":slow":       did.CodeUnavailable,
		":down":       did.CodeUnavailable,
		":missing":    did.CodeNotFound,
	} {
		_, err := r.Resolve(ctx, didStr+path, did.ResolveOptions{})
		if did.Code(err) != code {
			t.Errorf("%s: err = %v, want %s", path, err, code)
		}
	}
	// The default policy (no grant) refuses the loopback server outright.
	def := New(Options{})
	if _, err := def.Resolve(ctx, didStr, did.ResolveOptions{}); did.Code(err) != did.CodeNotFound || !errors.Is(err, netguard.ErrDenied) {
		t.Fatalf("default policy: %v", err)
	}
}
