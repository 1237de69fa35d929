package hederadid

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// TestParseCanonicalSign: what Sign writes takes the fast path.
func TestParseCanonicalSign(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.5"}.String()
	for _, ev := range []Event{
		{Service: &ServiceEvent{ID: d + "#s", Type: "LinkedDomains", ServiceEndpoint: "https://example.com/<&>"}},
		{DIDDeactivate: &DeactivateEvent{ID: d}},
		{AlsoKnownAs: &AlsoKnownAsEvent{ID: d, AlsoKnownAs: []string{"été"}}},
	} {
		b, err := Sign(priv, OpCreate, d, ev, time.Unix(1700000000, 123456789))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := parseCanonical(b)
		if !ok {
			t.Fatalf("not canonical: %s", b)
		}
		if err := finish(p); err != nil {
			t.Fatal(err)
		}
		q, err := parseEnvelopeJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		samePar(t, b, p, q)
		if !p.verify(pub) {
			t.Fatal("signature does not verify")
		}
	}
}

func samePar(t *testing.T, b []byte, p, q *parsed) {
	t.Helper()
	if !bytes.Equal(p.raw, q.raw) || !bytes.Equal(p.sig, q.sig) || p.msg != q.msg || !p.created.Equal(q.created) || p.created.Location() != q.created.Location() {
		t.Fatalf("parsers differ on %q:\n%+v\n%+v", b, p, q)
	}
}

// FuzzParseEnvelope: parseEnvelope (fast path or not) and the
// encoding/json parser agree on every input.
func FuzzParseEnvelope(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.5"}.String()
	good, _ := Sign(priv, OpUpdate, d, Event{Service: &ServiceEvent{ID: d + "#s", Type: "T", ServiceEndpoint: "https://e"}}, time.Unix(2, 0))
	f.Add(good)
	f.Add(bytes.Replace(good, []byte(`"mode"`), []byte(`"Mode"`), 1))
	f.Add(bytes.Replace(good, []byte(`"did":"`), []byte(`"did":"\u0041`), 1))
	f.Add(bytes.Replace(good, []byte(`","signature"`), []byte(`","signature":"x","signature"`), 1))
	f.Add(bytes.Replace(good, []byte(`Z"`), []byte(`+01:00"`), 1))
	f.Add(bytes.Replace(good, []byte(`"}`), []byte(`" }`), 1))
	f.Add([]byte(`{"mode":"plain","message":{"timestamp":"2024-01-01T00:00:00Z","operation":"delete","did":"` + d + `","event":"bnVsbA=="},"signature":"` + strings.Repeat("A", 86) + `=="}`))
	f.Add([]byte(`{"mode":"plain","message":{"timestamp":"2024-01-01T00:00:00Z","operation":"delete","did":"","event":""},"signature":"` + strings.Repeat("A", 85) + `==="}`))
	f.Add([]byte(`{"mode":"plain","message":{"timestamp":"","operation":"","did":"","event":""},"signature":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseEnvelope(b)
		q, qerr := parseEnvelopeJSON(b)
		if (err == nil) != (qerr == nil) {
			t.Fatalf("on %q: fast %v, json %v", b, err, qerr)
		}
		if err == nil {
			samePar(t, b, p, q)
		}
	})
}

// TestReplayStreamedError: a read error is returned, the workers stop.
func TestReplayStreamedError(t *testing.T) {
	g := newTopicGen(7, 1, 2)
	g.create(0)
	for range 30 {
		g.step()
	}
	boom := errors.New("boom")
	for _, cut := range []int{0, 1, 5, len(g.msgs)} {
		st, err := replayStreamed(g.dids[0].id, func(add func(ledger.Message)) error {
			for _, m := range g.msgs[:cut] {
				add(m)
			}
			return boom
		})
		if st != nil || !errors.Is(err, boom) {
			t.Fatalf("after %d messages: %v, %v", cut, st, err)
		}
	}
}
