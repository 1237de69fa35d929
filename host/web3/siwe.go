package web3

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrMessage is the cause of every parse failure of a SIWE message.
var ErrMessage = errors.New("web3: not a valid EIP-4361 message")

// MaxMessageBytes bounds the SIWE messages ParseMessage reads.
const MaxMessageBytes = 8 << 10

// Message is an EIP-4361 Sign-In with Ethereum message. Times keep the
// exact text they were parsed from (Raw fields), so that a parsed message
// prints back byte for byte.
type Message struct {
	Scheme    string // optional
	Domain    string // RFC 3986 authority
	Address   string // 0x + 40 hex digits, EIP-55 where mixed case
	Statement string // optional; no LF, RFC 3986 reserved/unreserved/space only
	URI       string
	Version   string // "1"
	ChainID   uint64
	Nonce     string // at least 8 alphanumerics
	IssuedAt  time.Time
	// ExpirationTime and NotBefore are zero when absent.
	ExpirationTime time.Time
	NotBefore      time.Time
	RequestID      string // optional
	Resources      []string

	issuedAtRaw, expirationRaw, notBeforeRaw string
	// emptyResources: a parsed "Resources:" line with no resource after it
	// (the ABNF allows it), printed back.
	emptyResources bool
	// emptyRequestID: likewise a "Request ID: " line with an empty value.
	emptyRequestID bool
}

const (
	siweHeader   = " wants you to sign in with your Ethereum account:"
	siweTimeForm = "2006-01-02T15:04:05Z07:00"
)

// String encodes m per the ABNF of EIP-4361. Times are written in RFC 3339
// UTC with whole seconds unless they came from a parsed message.
func (m *Message) String() string {
	var b strings.Builder
	if m.Scheme != "" {
		b.WriteString(m.Scheme + "://")
	}
	b.WriteString(m.Domain + siweHeader + "\n")
	b.WriteString(m.Address + "\n\n")
	if m.Statement != "" {
		b.WriteString(m.Statement + "\n")
	}
	b.WriteString("\nURI: " + m.URI)
	b.WriteString("\nVersion: " + m.Version)
	b.WriteString("\nChain ID: " + strconv.FormatUint(m.ChainID, 10))
	b.WriteString("\nNonce: " + m.Nonce)
	b.WriteString("\nIssued At: " + pick(m.issuedAtRaw, m.IssuedAt))
	if !m.ExpirationTime.IsZero() {
		b.WriteString("\nExpiration Time: " + pick(m.expirationRaw, m.ExpirationTime))
	}
	if !m.NotBefore.IsZero() {
		b.WriteString("\nNot Before: " + pick(m.notBeforeRaw, m.NotBefore))
	}
	if m.RequestID != "" || m.emptyRequestID {
		b.WriteString("\nRequest ID: " + m.RequestID)
	}
	if len(m.Resources) > 0 || m.emptyResources {
		b.WriteString("\nResources:")
		for _, r := range m.Resources {
			b.WriteString("\n- " + r)
		}
	}
	return b.String()
}

func pick(raw string, t time.Time) string {
	if raw != "" {
		return raw
	}
	return t.UTC().Truncate(time.Second).Format(siweTimeForm)
}

// Validate checks every field against the ABNF (what String needs to
// produce a message ParseMessage accepts).
func (m *Message) Validate() error {
	if m.Scheme != "" && !validScheme(m.Scheme) {
		return fmt.Errorf("%w: scheme %q", ErrMessage, m.Scheme)
	}
	if !validAuthority(m.Domain) {
		return fmt.Errorf("%w: domain %q is not an RFC 3986 authority", ErrMessage, m.Domain)
	}
	if _, _, err := ParseAddress(m.Address); err != nil {
		return fmt.Errorf("%w: address: %w", ErrMessage, err)
	}
	if !validStatement(m.Statement) {
		return fmt.Errorf("%w: statement has characters outside RFC 3986 reserved, unreserved and space", ErrMessage)
	}
	if !validURI(m.URI) {
		return fmt.Errorf("%w: uri %q is not an RFC 3986 URI", ErrMessage, m.URI)
	}
	if m.Version != "1" {
		return fmt.Errorf("%w: version must be 1", ErrMessage)
	}
	if !validNonce(m.Nonce) {
		return fmt.Errorf("%w: nonce must be at least 8 letters and digits", ErrMessage)
	}
	if m.IssuedAt.IsZero() {
		return fmt.Errorf("%w: issued-at is required", ErrMessage)
	}
	for i := 0; i < len(m.RequestID); i++ {
		if !isPchar(m.RequestID, i) {
			return fmt.Errorf("%w: request-id has characters outside pchar", ErrMessage)
		}
		if m.RequestID[i] == '%' {
			i += 2
		}
	}
	for _, r := range m.Resources {
		if !validURI(r) {
			return fmt.Errorf("%w: resource %q is not an RFC 3986 URI", ErrMessage, r)
		}
	}
	return nil
}

// ParseMessage parses an EIP-4361 message strictly: the lines in the order
// of the ABNF, exact case and spacing, LF line ends only, nothing after the
// last field, every value checked against its rule. A mixed-case address
// must carry a valid EIP-55 checksum.
func ParseMessage(s string) (*Message, error) {
	if len(s) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMessage, MaxMessageBytes)
	}
	lines := strings.Split(s, "\n")
	i := 0
	next := func() (string, bool) {
		if i >= len(lines) {
			return "", false
		}
		i++
		return lines[i-1], true
	}
	fail := func(format string, a ...any) (*Message, error) {
		return nil, fmt.Errorf("%w: line %d: %s", ErrMessage, i, fmt.Sprintf(format, a...))
	}
	m := &Message{}
	l, _ := next()
	origin, ok := strings.CutSuffix(l, siweHeader)
	if !ok {
		return fail("want %q", "<domain>"+siweHeader)
	}
	if sch, dom, ok := strings.Cut(origin, "://"); ok {
		m.Scheme, m.Domain = sch, dom
		if !validScheme(sch) {
			return fail("invalid scheme")
		}
	} else {
		m.Domain = origin
	}
	if !validAuthority(m.Domain) {
		return fail("invalid domain")
	}
	if l, ok = next(); !ok {
		return fail("missing address")
	}
	if _, _, err := ParseAddress(l); err != nil || l[1] != 'x' {
		return fail("invalid address")
	}
	m.Address = l
	if l, ok = next(); !ok || l != "" {
		return fail("want an empty line after the address")
	}
	if l, ok = next(); !ok {
		return fail("truncated")
	}
	if l != "" {
		if !validStatement(l) {
			return fail("invalid statement")
		}
		m.Statement = l
		if l, ok = next(); !ok || l != "" {
			return fail("want an empty line after the statement")
		}
	}
	field := func(name string) (string, error) {
		l, ok := next()
		if !ok {
			return "", fmt.Errorf("%w: line %d: missing %s", ErrMessage, i, name)
		}
		v, ok := strings.CutPrefix(l, name+": ")
		if !ok {
			return "", fmt.Errorf("%w: line %d: want %q", ErrMessage, i, name+": ")
		}
		return v, nil
	}
	var err error
	if m.URI, err = field("URI"); err != nil {
		return nil, err
	}
	if !validURI(m.URI) {
		return fail("invalid URI")
	}
	if m.Version, err = field("Version"); err != nil {
		return nil, err
	}
	if m.Version != "1" {
		return fail("version must be 1")
	}
	cid, err := field("Chain ID")
	if err != nil {
		return nil, err
	}
	if !allDigits(cid) || len(cid) > 19 {
		return fail("invalid chain ID")
	}
	if m.ChainID, err = strconv.ParseUint(cid, 10, 64); err != nil {
		return fail("invalid chain ID")
	}
	if m.Nonce, err = field("Nonce"); err != nil {
		return nil, err
	}
	if !validNonce(m.Nonce) {
		return fail("nonce must be at least 8 letters and digits")
	}
	if m.issuedAtRaw, err = field("Issued At"); err != nil {
		return nil, err
	}
	if m.IssuedAt, err = parseDateTime(m.issuedAtRaw); err != nil {
		return fail("issued-at: %v", err)
	}
	// The optional fields, each at most once and in this order.
	order := []string{"Expiration Time: ", "Not Before: ", "Request ID: ", "Resources:"}
	at := 0
	for i < len(lines) {
		l, _ := next()
		k := -1
		for j := at; j < len(order); j++ {
			if strings.HasPrefix(l, order[j]) {
				k = j
				break
			}
		}
		if k < 0 {
			return fail("unexpected line %q", truncate(l))
		}
		at = k + 1
		v := l[len(order[k]):]
		switch k {
		case 0:
			if m.ExpirationTime, err = parseDateTime(v); err != nil {
				return fail("expiration-time: %v", err)
			}
			m.expirationRaw = v
		case 1:
			if m.NotBefore, err = parseDateTime(v); err != nil {
				return fail("not-before: %v", err)
			}
			m.notBeforeRaw = v
		case 2:
			m.RequestID, m.emptyRequestID = v, v == ""
			for j := 0; j < len(v); j++ {
				if !isPchar(v, j) {
					return fail("invalid request-id")
				}
				if v[j] == '%' {
					j += 2
				}
			}
		case 3:
			if v != "" {
				return fail("want a line break after Resources:")
			}
			for i < len(lines) {
				l, _ := next()
				r, ok := strings.CutPrefix(l, "- ")
				if !ok || !validURI(r) {
					return fail("invalid resource")
				}
				m.Resources = append(m.Resources, r)
			}
			m.emptyResources = len(m.Resources) == 0
		}
	}
	return m, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// parseDateTime parses an RFC 3339 §5.6 date-time, checking its shape
// first (time.Parse is lenient, e.g. with one-digit hours):
// YYYY-MM-DD "T" hh:mm:ss [.frac] ("Z" / ±hh:mm). Upper-case T and Z only,
// so that a message has one spelling.
func parseDateTime(s string) (time.Time, error) {
	bad := errors.New("not an RFC 3339 date-time")
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(shape)+1 {
		return time.Time{}, bad
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' && !isDigit(s[i]) || shape[i] != 'd' && s[i] != shape[i] {
			return time.Time{}, bad
		}
	}
	rest := s[len(shape):]
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		if j == 1 {
			return time.Time{}, bad
		}
		rest = rest[j:]
	}
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && isDigit(rest[1]) && isDigit(rest[2]) && rest[3] == ':' && isDigit(rest[4]) && isDigit(rest[5]):
	default:
		return time.Time{}, bad
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, bad
	}
	return t, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isUnreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelim(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }

func isReserved(c byte) bool { return isSubDelim(c) || strings.IndexByte(":/?#[]@", c) >= 0 }

// isPchar reports whether s[i] starts a pchar (RFC 3986 §3.3).
func isPchar(s string, i int) bool {
	c := s[i]
	if c == '%' {
		return i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2])
	}
	return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@'
}

func isHexDigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func validStatement(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isReserved(c) && !isUnreserved(c) && c != ' ' {
			return false
		}
	}
	return true
}

func validNonce(s string) bool {
	if len(s) < 8 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// validAuthority checks an RFC 3986 authority: [userinfo "@"] host [":" port],
// host a reg-name or an IP literal in brackets.
func validAuthority(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		for i := 0; i < at; i++ {
			if c := s[i]; c != ':' && !(isUnreserved(c) || isSubDelim(c)) && !(c == '%' && isPchar(s[:at], i)) {
				return false
			}
		}
		s = s[at+1:]
	}
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, s = s[1:end], s[end+1:]
		if host == "" {
			return false
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; !isHexDigit(c) && c != ':' && c != '.' {
				return false
			}
		}
		if s != "" && s[0] != ':' {
			return false
		}
		if s != "" {
			return allDigits(s[1:]) || s == ":"
		}
		return true
	}
	if h, port, ok := strings.Cut(s, ":"); ok {
		if port != "" && !allDigits(port) {
			return false
		}
		host = h
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == '%' {
			if !isPchar(host, i) {
				return false
			}
			i += 2
			continue
		}
		if !isUnreserved(c) && !isSubDelim(c) {
			return false
		}
	}
	return true
}

// validURI checks an absolute RFC 3986 URI: a scheme, then only characters
// a URI may hold, well-formed percent-escapes, and what net/url accepts.
func validURI(s string) bool {
	sch, _, ok := strings.Cut(s, ":")
	if !ok || !validScheme(sch) || len(s) > 2048 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if !isPchar(s, i) {
				return false
			}
			i += 2
			continue
		}
		if !isReserved(c) && !isUnreserved(c) {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != ""
}
