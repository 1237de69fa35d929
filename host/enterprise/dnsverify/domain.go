package dnsverify

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidDomain is returned (wrapped) for a domain NormalizeDomain
// refuses.
var ErrInvalidDomain = errors.New("dnsverify: invalid domain")

// maxDomainLen is the longest domain accepted: the textual form of a DNS
// name is at most 253 octets without the trailing dot, and the challenge
// record name (RecordPrefix + "." + domain) must fit as well.
const maxDomainLen = 253 - len(RecordPrefix) - 1

// specialUseTLDs are top-level labels reserved for special use (RFC 6761,
// RFC 6762, RFC 7686, RFC 8375 via .arpa, ICANN's .internal): a proof of
// control over a name below them means nothing, so they are refused.
var specialUseTLDs = map[string]bool{
	"localhost": true, "invalid": true, "test": true, "example": true,
	"local": true, "onion": true, "arpa": true, "internal": true,
	"home": true, "corp": true, "lan": true,
}

// NormalizeDomain validates a parent domain and returns its canonical form.
//
// The rules are deliberately IDNA-free: a domain is ASCII letters, digits
// and hyphens only (an internationalised domain must be given in its
// "xn--" A-label form), compared in lower case. One trailing dot is
// accepted and removed. Each label is 1 to 63 octets, neither starts nor
// ends with a hyphen; the whole name is at most 233 octets so that the
// challenge record name fits in 253. The domain must look registrable: at
// least two labels, a top-level label that is not all digits (which also
// refuses IPv4 literals; IPv6 literals fail the LDH rule) and not a
// special-use name (localhost, test, example, invalid, local, onion, arpa,
// internal, home, corp, lan).
func NormalizeDomain(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidDomain)
	}
	d := strings.TrimSuffix(s, ".")
	if d == "" || len(d) > maxDomainLen {
		return "", fmt.Errorf("%w: length %d", ErrInvalidDomain, len(d))
	}
	var b strings.Builder
	b.Grow(len(d))
	labels := 0
	labelStart := 0
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			l := d[labelStart:i]
			if len(l) == 0 {
				return "", fmt.Errorf("%w: empty label", ErrInvalidDomain)
			}
			if len(l) > 63 {
				return "", fmt.Errorf("%w: label longer than 63 octets", ErrInvalidDomain)
			}
			if l[0] == '-' || l[len(l)-1] == '-' {
				return "", fmt.Errorf("%w: label %q starts or ends with a hyphen", ErrInvalidDomain, l)
			}
			labels++
			labelStart = i + 1
			if i < len(d) {
				b.WriteByte('.')
			}
			continue
		}
		c := d[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + ('a' - 'A'))
		default:
			return "", fmt.Errorf("%w: character %q not allowed (letters, digits and hyphens only)", ErrInvalidDomain, c)
		}
	}
	if labels < 2 {
		return "", fmt.Errorf("%w: at least two labels required", ErrInvalidDomain)
	}
	out := b.String()
	tld := out[strings.LastIndexByte(out, '.')+1:]
	if strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("%w: numeric top-level label (IP address?)", ErrInvalidDomain)
	}
	if specialUseTLDs[tld] {
		return "", fmt.Errorf("%w: special-use top-level domain %q", ErrInvalidDomain, tld)
	}
	return out, nil
}
