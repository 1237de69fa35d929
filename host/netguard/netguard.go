// Package netguard makes outbound HTTP safe to point at addresses that
// outsiders choose (did:web documents, plugin HTTP calls): an allow-list of
// scheme, host and port checked on the first URL and on every redirect,
// and at dial time a check of the address actually connected to, so that
// DNS rebinding cannot reach loopback, private, link-local or other
// special-purpose addresses unless they are granted explicitly. Responses
// are capped in size and time.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrDenied is wrapped by every refusal.
var ErrDenied = errors.New("netguard: destination not allowed")

// ErrTooLarge is returned when a response body exceeds MaxBodyBytes.
var ErrTooLarge = errors.New("netguard: response body too large")

// Rule allows one destination. Host may be an exact name or "*.example.com"
// (any subdomain, not the apex). Port 0 means the scheme's default port;
// Scheme "" means https.
type Rule struct {
	Scheme string `yaml:"scheme" json:"scheme"`
	Host   string `yaml:"host" json:"host"`
	Port   int    `yaml:"port" json:"port"`
}

// Policy is what a client may reach.
type Policy struct {
	// Allow lists the destinations; empty allows any host (the address
	// checks still apply).
	Allow []Rule
	// AllowPrivate lets the client reach loopback, private (RFC 1918, ULA),
	// link-local, CGNAT and other special-purpose addresses. Off by
	// default; tests against local servers turn it on.
	AllowPrivate bool
	// AllowedPrefixes grants specific special-purpose networks without
	// granting all of them.
	AllowedPrefixes []netip.Prefix
	// MaxBodyBytes caps a response body read through ReadBody (default 1 MiB).
	MaxBodyBytes int64
	// Timeout bounds a whole request (default 10 s).
	Timeout time.Duration
	// MaxRedirects bounds redirects (default 5).
	MaxRedirects int
}

// special lists networks that are not the public Internet.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// CheckAddr reports whether the policy lets a connection reach ip.
func (p *Policy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, pre := range p.AllowedPrefixes {
		if pre.Contains(ip) {
			return nil
		}
	}
	if p.AllowPrivate {
		return nil
	}
	for _, pre := range special {
		if pre.Contains(ip) {
			return fmt.Errorf("%w: %s is a private or special-purpose address", ErrDenied, ip)
		}
	}
	return nil
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// CheckURL reports whether the policy allows u (scheme, host and port).
func (p *Policy) CheckURL(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return fmt.Errorf("%w: scheme %q", ErrDenied, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URLs with credentials", ErrDenied)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return fmt.Errorf("%w: no host", ErrDenied)
	}
	port := defaultPort(scheme)
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q", ErrDenied, ps)
		}
		port = n
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(ip); err != nil {
			return err
		}
	}
	if len(p.Allow) == 0 {
		return nil
	}
	for _, r := range p.Allow {
		rs := r.Scheme
		if rs == "" {
			rs = "https"
		}
		rp := r.Port
		if rp == 0 {
			rp = defaultPort(rs)
		}
		if rs != scheme || rp != port {
			continue
		}
		rh := strings.ToLower(r.Host)
		if rh == host || (strings.HasPrefix(rh, "*.") && strings.HasSuffix(host, rh[1:])) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s://%s:%d is not on the allow-list", ErrDenied, scheme, host, port)
}

// Client returns an http.Client that enforces the policy on every URL,
// redirect and connection.
func (p *Policy) Client() *http.Client {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	maxRedirects := p.MaxRedirects
	if maxRedirects <= 0 {
		maxRedirects = 5
	}
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrDenied, address)
			}
			return p.CheckAddr(ap.Addr())
		},
	}
	tr := &http.Transport{
		Proxy:                  nil, // never through an environment proxy
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: guardTransport{p: p, rt: tr},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrDenied, maxRedirects)
			}
			return p.CheckURL(req.URL)
		},
	}
}

type guardTransport struct {
	p  *Policy
	rt http.RoundTripper
}

func (g guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.p.CheckURL(req.URL); err != nil {
		return nil, err
	}
	return g.rt.RoundTrip(req)
}

// ReadBody reads a response body up to the policy's cap.
func (p *Policy) ReadBody(r io.Reader) ([]byte, error) {
	max := p.MaxBodyBytes
	if max <= 0 {
		max = 1 << 20
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

// Get fetches url under the policy and returns the status and the capped
// body.
func (p *Policy) Get(ctx context.Context, client *http.Client, rawURL string, header http.Header) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := p.ReadBody(res.Body)
	return res.StatusCode, res.Header, b, err
}
