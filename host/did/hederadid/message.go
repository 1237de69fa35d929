package hederadid

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ubeu/gateway/host/did"
)

// Operations of a DID message (spec §3, §3.1).
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpRevoke = "revoke"
	OpDelete = "delete"
)

// Verification relationship types of a VerificationRelationship event
// (§3.2.4).
var relationshipTypes = map[string]bool{
	"authentication": true, "assertionMethod": true, "keyAgreement": true,
	"capabilityInvocation": true, "capabilityDelegation": true,
}

// Verification method types gatewayd writes and accepts in events.
const (
	TypeEd25519_2020 = "Ed25519VerificationKey2020"
	TypeEd25519_2018 = "Ed25519VerificationKey2018" // the spec's examples
)

// Message is the signed part of a DID message (§3 "message"). Its fields are
// marshalled in this order, the order of the reference SDK's JSON.stringify.
type Message struct {
	Timestamp string `json:"timestamp"` // creation time, XSD dateTime in UTC ("Z")
	Operation string `json:"operation"`
	DID       string `json:"did"`
	Event     string `json:"event"` // base64 of the event JSON
}

// Envelope is a DID message as submitted to the topic (§3).
type Envelope struct {
	Mode      string          `json:"mode"`
	Message   json.RawMessage `json:"message"`
	Signature string          `json:"signature"` // base64 Ed25519 signature of the exact Message bytes
}

// Event is the decoded event payload: exactly one member is set (§3.2).
// AlsoKnownAs is a gatewayd extension; resolvers that do not know it ignore
// the message.
type Event struct {
	DIDOwner                 *OwnerEvent        `json:"DIDOwner,omitempty"`
	VerificationMethod       *MethodEvent       `json:"VerificationMethod,omitempty"`
	VerificationRelationship *RelationshipEvent `json:"VerificationRelationship,omitempty"`
	Service                  *ServiceEvent      `json:"Service,omitempty"`
	DIDDeactivate            *DeactivateEvent   `json:"DIDDeactivate,omitempty"`
	AlsoKnownAs              *AlsoKnownAsEvent  `json:"AlsoKnownAs,omitempty"`
}

// OwnerEvent is a DIDOwner event (§3.2.2).
type OwnerEvent struct {
	ID                 string `json:"id"` // <did>#did-root-key
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// MethodEvent is a VerificationMethod event (§3.2.3).
type MethodEvent struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// RelationshipEvent is a VerificationRelationship event (§3.2.4).
type RelationshipEvent struct {
	ID                 string `json:"id"`
	RelationshipType   string `json:"relationshipType"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// ServiceEvent is a Service event (§3.2.5).
type ServiceEvent struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

// DeactivateEvent is the event gatewayd writes with a delete operation. The
// spec (§3.1.5) says the payload of a delete is ignored, so any payload
// deactivates.
type DeactivateEvent struct {
	ID string `json:"id"`
}

// AlsoKnownAsEvent sets the document's alsoKnownAs (gatewayd extension).
type AlsoKnownAsEvent struct {
	ID          string   `json:"id"`
	AlsoKnownAs []string `json:"alsoKnownAs"`
}

// Timestamp formats t as the message timestamp: UTC with milliseconds, like
// JavaScript's Date.toISOString.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Sign builds a signed envelope for one event. The signature covers the
// exact bytes of the marshalled message.
func Sign(key ed25519.PrivateKey, op, didStr string, ev Event, now time.Time) ([]byte, error) {
	evJSON, err := marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("hederadid: encode event: %w", err)
	}
	msg, err := marshal(Message{Timestamp: Timestamp(now), Operation: op, DID: didStr, Event: base64.StdEncoding.EncodeToString(evJSON)})
	if err != nil {
		return nil, fmt.Errorf("hederadid: encode message: %w", err)
	}
	return marshal(Envelope{Mode: "plain", Message: msg, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))})
}

// marshal encodes like JSON.stringify: no HTML escaping, no newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// parsed is a decoded DID message whose signature has not been checked yet.
//
// It remembers the last signature check (the key and its result) and the
// decoded event, so that a replay can verify messages in parallel ahead of
// applying them in order. A parsed is not safe for concurrent use: one
// goroutine at a time may call verify or event.
type parsed struct {
	raw     []byte // the exact bytes of the "message" member
	sig     []byte
	msg     Message
	created time.Time

	vkey ed25519.PublicKey // key of the last verify, nil if none
	vok  bool              // its result

	ev    *Event // decoded event, once evErr or ev is set
	evErr error
}

var errMalformed = errors.New("hederadid: malformed DID message")

// parseEnvelope decodes a topic message into its parts, keeping the raw
// bytes of the message member for verification.
//
// Messages in the canonical form Sign writes (see parseCanonical) are
// decoded by a single scan without encoding/json; anything else goes
// through parseEnvelopeJSON. Both give the same result for every input
// (FuzzParseEnvelope).
func parseEnvelope(b []byte) (*parsed, error) {
	if p, ok := parseCanonical(b); ok {
		return p, finish(p)
	}
	return parseEnvelopeJSON(b)
}

// parseEnvelopeJSON is the general parser, with encoding/json.
func parseEnvelopeJSON(b []byte) (*parsed, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if env.Mode != "plain" {
		return nil, fmt.Errorf("%w: mode %q", errMalformed, env.Mode)
	}
	if len(env.Message) == 0 || env.Message[0] != '{' {
		return nil, fmt.Errorf("%w: message is not an object", errMalformed)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: bad signature encoding", errMalformed)
	}
	p := &parsed{raw: env.Message, sig: sig}
	if err := json.Unmarshal(env.Message, &p.msg); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return p, finish(p)
}

// finish checks the timestamp of a decoded message and sets p.created.
func finish(p *parsed) error {
	// §3: the timestamp is an XSD dateTime normalised to UTC ("Z").
	ts := p.msg.Timestamp
	if len(ts) == 0 || ts[len(ts)-1] != 'Z' {
		return fmt.Errorf("%w: timestamp not in UTC", errMalformed)
	}
	var err error
	if p.created, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf("%w: timestamp: %w", errMalformed, err)
	}
	return nil
}

// parseCanonical decodes b if it is exactly in the form Sign writes:
//
//	{"mode":"plain","message":{"timestamp":S,"operation":S,"did":S,"event":S},"signature":S}
//
// with no whitespace, where every S is a JSON string of printable ASCII
// without escapes, and the signature decodes to 64 bytes. For such input
// encoding/json yields the same fields verbatim, so the result equals
// parseEnvelopeJSON's; ok is false for any other input, which the caller
// then hands to parseEnvelopeJSON. p.raw aliases b.
func parseCanonical(b []byte) (p *parsed, ok bool) {
	const (
		head = `{"mode":"plain","message":`
		mid  = `"},"signature":"`
		tail = `"}`
	)
	if len(b) < len(head)+len(tail) || string(b[:len(head)]) != head || string(b[len(b)-len(tail):]) != tail {
		return nil, false
	}
	end := len(b) - len(tail)
	i := len(head) // scan position in b
	var bounds [4][2]int
	for k, name := range [4]string{`{"timestamp":"`, `","operation":"`, `","did":"`, `","event":"`} {
		if end-i < len(name) || string(b[i:i+len(name)]) != name {
			return nil, false
		}
		i += len(name)
		n := plainLen(b[i:end])
		bounds[k] = [2]int{i, i + n}
		i += n
	}
	if end-i < len(mid) || string(b[i:i+len(mid)]) != mid {
		return nil, false
	}
	rawEnd := i + 2 // through the message's closing brace
	sigText := b[i+len(mid) : end]
	if plainLen(sigText) != len(sigText) || base64.StdEncoding.DecodedLen(len(sigText)) > ed25519.SignatureSize+3 {
		return nil, false
	}
	var sig [ed25519.SignatureSize + 3]byte
	n, err := base64.StdEncoding.Decode(sig[:], sigText)
	if err != nil || n != ed25519.SignatureSize {
		return nil, false
	}
	p = &parsed{raw: b[len(head):rawEnd:rawEnd], sig: make([]byte, ed25519.SignatureSize)}
	copy(p.sig, sig[:n])
	// One allocation for the four strings.
	all := string(b[len(head):rawEnd])
	str := func(k int) string { return all[bounds[k][0]-len(head) : bounds[k][1]-len(head)] }
	p.msg = Message{Timestamp: str(0), Operation: str(1), DID: str(2), Event: str(3)}
	return p, true
}

// plainLen returns the length of the longest prefix of b made of printable
// ASCII other than '"' and '\\': string contents that JSON decodes
// verbatim.
func plainLen(b []byte) int {
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return i
		}
	}
	return len(b)
}

// verify checks the signature with key over the raw message bytes. The
// result for the last key checked is remembered.
func (p *parsed) verify(key ed25519.PublicKey) bool {
	if len(key) != ed25519.PublicKeySize {
		return false
	}
	if p.vkey != nil && p.vkey.Equal(key) {
		return p.vok
	}
	p.vok = ed25519.Verify(key, p.raw, p.sig)
	p.vkey = key
	return p.vok
}

// event decodes the base64 event payload; exactly one member must be set.
// The result is remembered. The Event must not be modified.
func (p *parsed) event() (*Event, error) {
	if p.ev == nil && p.evErr == nil {
		p.ev, p.evErr = decodeEvent(p.msg.Event)
	}
	return p.ev, p.evErr
}

func decodeEvent(s string) (*Event, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: event is not base64", errMalformed)
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%w: event: %w", errMalformed, err)
	}
	n := 0
	for _, set := range []bool{ev.DIDOwner != nil, ev.VerificationMethod != nil, ev.VerificationRelationship != nil, ev.Service != nil, ev.DIDDeactivate != nil, ev.AlsoKnownAs != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: event must have exactly one known member, has %d", errMalformed, n)
	}
	return &ev, nil
}

// decodeEd25519 decodes a publicKeyMultibase that must be an Ed25519
// multikey.
func decodeEd25519(mb string) (ed25519.PublicKey, error) {
	codec, raw, err := did.DecodeMultikey(mb)
	if err != nil {
		return nil, err
	}
	if codec != did.CodecEd25519Pub || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("hederadid: not an Ed25519 multikey")
	}
	return ed25519.PublicKey(raw), nil
}
