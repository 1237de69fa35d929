package dnsverify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	// maxCNAME bounds the CNAME chain followed from the record name.
	maxCNAME = 8
	// maxFound bounds the TXT values reported in Result.Found (all values
	// are compared; an answer is at most 64 KiB anyway).
	maxFound = 32
	// udpSize is the EDNS0 buffer size advertised (the DNS flag day 2020
	// recommendation).
	udpSize = 1232
)

// resolver queries one or more recursive servers: the configured one, or
// those of the system's resolver configuration, read at each lookup (so a
// machine without resolvers can still start, and a changed
// /etc/resolv.conf is followed).
type resolver struct {
	fixed      []string
	resolvConf string
}

func newResolver(server, resolvConf string) (*resolver, error) {
	if server != "" {
		return &resolver{fixed: []string{withPort(server, "53")}}, nil
	}
	return &resolver{resolvConf: resolvConf}, nil
}

// servers returns the servers to ask, in order.
func (r *resolver) servers() ([]string, error) {
	if r.fixed != nil {
		return r.fixed, nil
	}
	cfg, err := dns.ClientConfigFromFile(r.resolvConf)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrLookup, r.resolvConf, err)
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("%w: no nameserver in %s", ErrLookup, r.resolvConf)
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out, nil
}

func withPort(s, port string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), port)
}

// lookupTXT returns the TXT values at name, following CNAMEs. Each TXT
// record's character-strings are concatenated into one value. A name that
// does not exist, or has no TXT data, gives no values and no error.
func (r *resolver) lookupTXT(ctx context.Context, name string) ([]string, error) {
	cur := dns.CanonicalName(name)
	seen := map[string]bool{cur: true}
	hops := 0
	for {
		resp, err := r.query(ctx, cur)
		if err != nil {
			return nil, err
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, nil
		default:
			return nil, fmt.Errorf("%w: %s TXT: server answered %s", ErrLookup, cur, dns.RcodeToString[resp.Rcode])
		}
		// Walk the answer section: a recursive resolver returns the whole
		// CNAME chain with the target's data; an authoritative one may stop
		// at a CNAME whose target is out of its zone.
		for {
			var vals []string
			var target string
			for _, rr := range resp.Answer {
				if dns.CanonicalName(rr.Header().Name) != cur {
					continue
				}
				switch v := rr.(type) {
				case *dns.TXT:
					vals = append(vals, strings.Join(v.Txt, ""))
				case *dns.CNAME:
					target = dns.CanonicalName(v.Target)
				}
			}
			if len(vals) > 0 {
				return vals, nil
			}
			if target == "" {
				return nil, nil // NODATA
			}
			hops++
			if hops > maxCNAME {
				return nil, fmt.Errorf("%w: %s: more than %d CNAMEs", ErrLookup, name, maxCNAME)
			}
			if seen[target] {
				return nil, fmt.Errorf("%w: %s: CNAME loop at %s", ErrLookup, name, target)
			}
			seen[target] = true
			cur = target
			if !hasOwner(resp.Answer, cur) {
				break // ask for the target
			}
		}
	}
}

func hasOwner(rrs []dns.RR, name string) bool {
	for _, rr := range rrs {
		if dns.CanonicalName(rr.Header().Name) == name {
			return true
		}
	}
	return false
}

// query asks each server in turn for name's TXT records, over UDP and
// again over TCP if the answer was truncated. The first server that
// answers wins; the last error is returned if none does.
func (r *resolver) query(ctx context.Context, name string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.RecursionDesired = true
	m.SetEdns0(udpSize, false)
	servers, err := r.servers()
	if err != nil {
		return nil, err
	}
	var last error
	for i, srv := range servers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %s TXT: %w", ErrLookup, name, err)
		}
		// Share the remaining time among the servers still to try, so that
		// one dead nameserver does not use up the whole budget.
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok && i < len(servers)-1 {
			sctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(servers)-i))
		}
		resp, err := exchange(sctx, m, srv)
		cancel()
		if err == nil {
			return resp, nil
		}
		last = err
	}
	return nil, last
}

func exchange(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	udp := &dns.Client{Net: "udp", UDPSize: udpSize}
	resp, _, err := udp.ExchangeContext(ctx, m, srv)
	if err != nil {
		return nil, lookupErr(ctx, m, srv, "udp", err)
	}
	if resp.Truncated {
		tcp := &dns.Client{Net: "tcp"}
		resp, _, err = tcp.ExchangeContext(ctx, m, srv)
		if err != nil {
			return nil, lookupErr(ctx, m, srv, "tcp", err)
		}
		if resp.Truncated {
			return nil, fmt.Errorf("%w: %s TXT via %s/tcp: truncated answer", ErrLookup, m.Question[0].Name, srv)
		}
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != dns.TypeTXT {
		return nil, fmt.Errorf("%w: %s TXT via %s: answer to another question", ErrLookup, m.Question[0].Name, srv)
	}
	return resp, nil
}

func lookupErr(ctx context.Context, m *dns.Msg, srv, proto string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %s TXT via %s/%s: %w (%w)", ErrLookup, m.Question[0].Name, srv, proto, err, cerr)
	}
	return fmt.Errorf("%w: %s TXT via %s/%s: %w", ErrLookup, m.Question[0].Name, srv, proto, err)
}
