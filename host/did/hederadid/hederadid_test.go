package hederadid

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

func newKV(t testing.TB) (store.KV, *seal.Sealer) {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(context.Background(), badgerstore.Options{InMemory: true, Sealer: s, IndexKey: bytes.Repeat([]byte{9}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.KV(), s
}

func newService(t testing.TB) (*Service, *memLedger, *Keys) {
	t.Helper()
	l := newMemLedger()
	kv, s := newKV(t)
	keys := NewKeys(kv, s)
	svc, err := New(Options{Ledger: l, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc, l, keys
}

func TestParse(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	id := ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.1234"}
	s := id.String()
	if !strings.HasPrefix(s, "did:hedera:testnet:z6Mk") || !strings.HasSuffix(s, "_0.0.1234") {
		t.Fatalf("String() = %s", s)
	}
	back, err := Parse(s)
	if err != nil || back.String() != s || !back.PublicKey.Equal(pub) {
		t.Fatalf("Parse(%s) = %+v, %v", s, back, err)
	}
	mb := did.EncodeMultikey(did.CodecEd25519Pub, pub)
	for _, bad := range []string{
		"", "did:hedera:", "did:hedera:testnet", "did:hedera:testnet:" + mb, "did:hedera:testnet:" + mb + "_0.0",
		"did:hedera:testnet:" + mb + "_0.0.01", "did:hedera:testnet:" + mb + "_0.0.1.2", "did:hedera:testnet:" + mb + "_0.0.x",
		"did:hedera:testnet:" + mb[1:] + "_0.0.1", // bare base58, no multibase prefix
		"did:hedera:testnet:" + did.EncodeMultikey(did.CodecSecp256k1Pub, make([]byte, 33)) + "_0.0.1",
		"did:hedera:TestNet:" + mb + "_0.0.1", "DID:hedera:testnet:" + mb + "_0.0.1",
		"did:hedera:testnet:" + mb + "_0.0.99999999999999999999",
	} {
		if _, err := Parse(bad); !errors.Is(err, did.ErrInvalidDID) {
			t.Errorf("Parse(%q) err = %v, want invalidDid", bad, err)
		}
	}
	if _, err := Parse("did:hedera:devnet:" + mb + "_0.0.1"); !errors.Is(err, ErrUnsupportedNetwork) || errors.Is(err, did.ErrInvalidDID) {
		t.Errorf("devnet: err = %v, want unsupportedNetwork", err)
	}
	for _, n := range []string{"mainnet", "testnet", "previewnet", "local"} {
		if _, err := Parse("did:hedera:" + n + ":" + mb + "_0.0.1"); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	pub := make(ed25519.PublicKey, 32)
	f.Add(ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.1234"}.String())
	f.Add("did:hedera:mainnet:z6Mk_0.0.1")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if c := did.Code(err); c != did.CodeInvalidDID && c != did.CodeUnsupportedNetwork {
				t.Fatalf("code %q", c)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("accepted non-canonical %q (canonical %q)", s, id.String())
		}
	})
}

func resolve(t *testing.T, svc *Service, d string) *did.Resolution {
	t.Helper()
	res, err := svc.Resolve(context.Background(), d, did.ResolveOptions{})
	if err != nil {
		t.Fatalf("Resolve(%s): %v", d, err)
	}
	return res
}

func serviceIDs(doc *did.Document) []string {
	var out []string
	for _, s := range doc.Service {
		out = append(out, s.ID)
	}
	return out
}

func TestCreateResolveReadYourWrites(t *testing.T) {
	ctx := context.Background()
	svc, l, keys := newService(t)
	topic, err := svc.CreateTopic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.setLag(1000) // the read side shows nothing
	d, doc, err := svc.Create(ctx, topic, CreateOptions{Services: []did.Service{{ID: "#vcs", Type: "LinkedDomains", ServiceEndpoint: "https://example.com"}}, AlsoKnownAs: []string{"https://alice.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if doc.ID != d || len(doc.VerificationMethod) != 2 || doc.VerificationMethod[0].ID != d+"#did-root-key" || doc.VerificationMethod[1].ID != d+"#key-1" {
		t.Fatalf("document %+v", doc)
	}
	if doc.Authentication[0].Ref != d+"#did-root-key" || doc.AssertionMethod[0].Ref != d+"#did-root-key" {
		t.Fatalf("relationships %+v %+v", doc.Authentication, doc.AssertionMethod)
	}
	res := resolve(t, svc, d)
	if !slices.Equal(serviceIDs(res.Document), []string{d + "#vcs"}) || !slices.Equal(res.Document.AlsoKnownAs, []string{"https://alice.example"}) {
		t.Fatalf("resolved before the ledger shows the writes: %+v", res.Document)
	}
	if res.DocumentMetadata.Created.IsZero() || res.DocumentMetadata.VersionID == "" {
		t.Fatalf("metadata %+v", res.DocumentMetadata)
	}
	// Another gateway (a fresh Service over the same ledger) sees nothing
	// while the read side lags, and the same document once it catches up.
	other, _ := New(Options{Ledger: l, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if _, err := other.Resolve(ctx, d, did.ResolveOptions{}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("lagging ledger, other gateway: err = %v, want notFound", err)
	}
	l.setLag(0)
	a, _ := json.Marshal(resolve(t, svc, d).Document)
	b, _ := json.Marshal(resolve(t, other, d).Document)
	if string(a) != string(b) {
		t.Fatalf("cached and fresh differ:\n%s\n%s", a, b)
	}
	tc := svc.acquire(topic)
	n := len(tc.pending)
	svc.release(tc)
	if n != 0 {
		t.Fatal("pending writes not dropped once the ledger showed them")
	}
	if r, err := keys.Record(ctx, d); err != nil || r.Current != d[len("did:hedera:local:"):strings.Index(d, "_")] {
		t.Fatalf("key record %+v %v", r, err)
	}
}

func TestUpdateRotateDeactivate(t *testing.T) {
	ctx := context.Background()
	svc, l, keys := newService(t)
	topic, _ := svc.CreateTopic(ctx)
	d, _, err := svc.Create(ctx, topic, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := Parse(d)
	oldPriv, err := keys.PrivateKey(ctx, id.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := svc.Update(ctx, d, Update{AddServices: []did.Service{{ID: "#a", Type: "LinkedDomains", ServiceEndpoint: "https://a.example"}, {ID: d + "#b", Type: "DIDCommMessaging", ServiceEndpoint: "https://b.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(serviceIDs(doc), []string{d + "#a", d + "#b"}) {
		t.Fatalf("services %v", serviceIDs(doc))
	}
	if _, err := svc.Update(ctx, d, Update{RemoveServiceIDs: []string{"#nope"}}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("remove unknown service: %v", err)
	}
	doc, err = svc.Update(ctx, d, Update{RemoveServiceIDs: []string{"#a"}, RotateKey: true, AlsoKnownAs: []string{"did:web:alice.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(serviceIDs(doc), []string{d + "#b"}) || !slices.Equal(doc.AlsoKnownAs, []string{"did:web:alice.example"}) {
		t.Fatalf("after update: %+v", doc)
	}
	rec, _ := keys.Record(ctx, d)
	if len(rec.Retired) != 1 || rec.Retired[0].Key != did.EncodeMultikey(did.CodecEd25519Pub, id.PublicKey) {
		t.Fatalf("key record %+v", rec)
	}
	if doc.VerificationMethod[0].PublicKeyMultibase != rec.Current || doc.VerificationMethod[1].PublicKeyMultibase != rec.Current {
		t.Fatalf("root key / key-1 not rotated: %+v (current %s)", doc.VerificationMethod, rec.Current)
	}
	// The DID keeps its identifier (derived from the first key).
	if doc.ID != d {
		t.Fatal("id changed")
	}
	// A message signed with the retired key no longer applies.
	forged, _ := Sign(oldPriv, OpCreate, d, Event{Service: &ServiceEvent{ID: d + "#evil", Type: "LinkedDomains", ServiceEndpoint: "https://evil.example"}}, time.Now())
	if _, err := l.Submit(ctx, topic, forged); err != nil {
		t.Fatal(err)
	}
	// Still updatable with the new key.
	doc, err = svc.Update(ctx, d, Update{AddServices: []did.Service{{ID: "#c", Type: "LinkedDomains", ServiceEndpoint: "https://c.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(serviceIDs(doc), []string{d + "#b", d + "#c"}) {
		t.Fatalf("services after forged message: %v", serviceIDs(doc))
	}
	before := resolve(t, svc, d)
	if err := svc.Deactivate(ctx, d); err != nil {
		t.Fatal(err)
	}
	res := resolve(t, svc, d)
	if !res.DocumentMetadata.Deactivated || len(res.Document.VerificationMethod) != 0 || res.Document.ID != d {
		t.Fatalf("after deactivate: %+v", res)
	}
	if _, err := svc.Update(ctx, d, Update{AlsoKnownAs: []string{}}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("update after deactivate: %v", err)
	}
	// Versioned resolution: the version before deactivation.
	v, err := svc.Resolve(ctx, d, did.ResolveOptions{VersionID: before.DocumentMetadata.VersionID})
	if err != nil || v.DocumentMetadata.Deactivated || !slices.Equal(serviceIDs(v.Document), []string{d + "#b", d + "#c"}) {
		t.Fatalf("versionId: %+v %v", v, err)
	}
	created := before.DocumentMetadata.Created
	v, err = svc.Resolve(ctx, d, did.ResolveOptions{VersionTime: &created})
	if err != nil || len(v.Document.Service) != 0 || len(v.Document.VerificationMethod) != 1 {
		t.Fatalf("versionTime=created: %+v %v", v, err)
	}
	early := created.Add(-time.Nanosecond)
	if _, err := svc.Resolve(ctx, d, did.ResolveOptions{VersionTime: &early}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("versionTime before creation: %v", err)
	}
	if _, err := svc.Resolve(ctx, d, did.ResolveOptions{VersionID: "1.000000000"}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("unknown versionId: %v", err)
	}
	// Uncached replay agrees with the cache.
	u, err := svc.ResolveUncached(ctx, d)
	if err != nil || !u.DocumentMetadata.Deactivated || u.DocumentMetadata.VersionID != res.DocumentMetadata.VersionID {
		t.Fatalf("uncached: %+v %v", u, err)
	}
}

func TestMultiDIDTopic(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	topic, _ := svc.CreateTopic(ctx)
	personal, _, err := svc.Create(ctx, topic, CreateOptions{Services: []did.Service{{ID: "#p", Type: "LinkedDomains", ServiceEndpoint: "https://me.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	work, _, err := svc.Create(ctx, topic, CreateOptions{Services: []did.Service{{ID: "#w", Type: "LinkedDomains", ServiceEndpoint: "https://work.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Deactivate(ctx, work); err != nil {
		t.Fatal(err)
	}
	p := resolve(t, svc, personal)
	if p.DocumentMetadata.Deactivated || !slices.Equal(serviceIDs(p.Document), []string{personal + "#p"}) {
		t.Fatalf("personal: %+v", p)
	}
	if w := resolve(t, svc, work); !w.DocumentMetadata.Deactivated {
		t.Fatalf("work: %+v", w)
	}
	// A DID of another topic, or never created, is not found.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := svc.Resolve(ctx, ID{Network: "local", PublicKey: pub, TopicID: topic}.String(), did.ResolveOptions{}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("unknown DID: %v", err)
	}
	if _, err := svc.Resolve(ctx, ID{Network: "local", PublicKey: pub, TopicID: "0.0.77"}.String(), did.ResolveOptions{}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, err := svc.Resolve(ctx, ID{Network: "testnet", PublicKey: pub, TopicID: topic}.String(), did.ResolveOptions{}); !errors.Is(err, ErrUnsupportedNetwork) {
		t.Fatalf("other network: %v", err)
	}
}

// TestReplayRules drives Replay with hand-made messages.
func TestReplayRules(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	id := ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.5"}
	d := id.String()
	mb := did.EncodeMultikey(did.CodecEd25519Pub, pub)
	owner := Event{DIDOwner: &OwnerEvent{ID: d + "#did-root-key", Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: mb}}
	svc := func(n string) Event {
		return Event{Service: &ServiceEvent{ID: d + "#" + n, Type: "LinkedDomains", ServiceEndpoint: "https://x.example/" + n}}
	}
	var msgs []ledger.Message
	clock := time.Unix(1_700_000_000, 0)
	add := func(b []byte) {
		clock = clock.Add(time.Second)
		msgs = append(msgs, ledger.Message{TopicID: "0.0.5", Sequence: uint64(len(msgs) + 1), ConsensusTime: clock, Contents: b})
	}
	sign := func(k ed25519.PrivateKey, op string, ev Event) []byte {
		b, err := Sign(k, op, d, ev, clock)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	add(sign(priv, OpCreate, svc("early"))) // before DIDOwner: ignored
	add(sign(other, OpCreate, owner))       // wrong signer: ignored
	add(sign(priv, OpCreate, owner))        // valid create
	add(sign(priv, OpCreate, owner))        // second create: ignored
	add(sign(priv, OpCreate, svc("one")))   // applied
	dup := sign(priv, OpCreate, svc("two"))
	add(dup)
	add(sign(priv, OpRevoke, svc("two")))
	add(dup) // replayed message (duplicate signature): ignored
	add(sign(other, OpCreate, svc("forged")))
	// Tampered: valid signature of other bytes.
	tampered := bytes.Replace(sign(priv, OpCreate, svc("three")), []byte(`"operation":"create"`), []byte(`"operation":"update"`), 1)
	add(tampered)
	// The signature covers the raw bytes: a message with extra whitespace,
	// signed as it stands, is valid even though re-encoding would differ.
	evJSON, _ := json.Marshal(svc("spaced"))
	raw := []byte(`{ "timestamp": "2024-01-01T00:00:00.000Z", "operation": "create", "did": "` + d + `", "event": "` + base64.StdEncoding.EncodeToString(evJSON) + `" }`)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, raw))
	// The same message re-encoded (compacted) does not verify: the
	// signature is over the bytes as they were written.
	var compact bytes.Buffer
	_ = json.Compact(&compact, raw)
	add([]byte(`{"mode":"plain","message":` + compact.String() + `,"signature":"` + sig + `"}`))
	add([]byte(`{"mode":"plain", "message": ` + string(raw) + `, "signature":"` + sig + `"}`))
	add([]byte(`{"mode":"plain","message":{},"signature":""}`))
	add([]byte(`not json`))
	st, _ := Replay(id, msgs, Cut{})
	got := serviceIDs(st.Document())
	if !slices.Equal(got, []string{d + "#one", d + "#spaced"}) {
		t.Fatalf("services = %v", got)
	}
	if st.Created != msgs[2].ConsensusTime {
		t.Fatalf("created = %v, want %v", st.Created, msgs[2].ConsensusTime)
	}
	if st.VersionID != VersionID(msgs[11].ConsensusTime) {
		t.Fatalf("versionId = %s", st.VersionID)
	}
}

// FuzzReplay replays an arbitrary message after a valid create, and a
// random topic (from seed) with the message inserted, comparing the
// parallel replay with the sequential one. Each input signs and replays a
// topic several times, and most inputs reach new coverage, so the default
// minimization (60s per input) dominates; run it with -fuzzminimizetime 1x
// or similar.
func FuzzReplay(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	id := ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.5"}
	d := id.String()
	owner := Event{DIDOwner: &OwnerEvent{ID: d + "#did-root-key", Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: did.EncodeMultikey(did.CodecEd25519Pub, pub)}}
	create, _ := Sign(priv, OpCreate, d, owner, time.Unix(1, 0))
	sv, _ := Sign(other, OpCreate, d, Event{Service: &ServiceEvent{ID: d + "#s", Type: "T", ServiceEndpoint: "https://e"}}, time.Unix(2, 0))
	f.Add(sv, uint64(0))
	f.Add([]byte(`{"mode":"plain","message":{"timestamp":"2024-01-01T00:00:00Z","operation":"delete","did":"`+d+`","event":"bnVsbA=="},"signature":"`+strings.Repeat("A", 86)+`=="}`), uint64(1))
	f.Add([]byte(`{}`), uint64(2))
	// A message of the generated topic, so mutations start from a valid one.
	g := newTopicGen(3, 1, 2)
	g.create(0)
	g.step()
	f.Add(g.msgs[1].Contents, uint64(3))
	// Sequential checks ahead of the fold: the same code paths, with
	// deterministic coverage (see maxWorkers). TestReplayParallelMatchesSequential
	// covers the goroutines.
	maxWorkers = 1
	f.Cleanup(func() { maxWorkers = 0 })
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		msgs := []ledger.Message{
			{TopicID: "0.0.5", Sequence: 1, ConsensusTime: time.Unix(10, 0), Contents: create},
			{TopicID: "0.0.5", Sequence: 2, ConsensusTime: time.Unix(11, 0), Contents: b},
		}
		st, _ := Replay(id, msgs, Cut{})
		if !st.Exists() {
			t.Fatal("valid create lost")
		}
		// Only the holder of priv can sign; the fuzzer cannot forge a
		// signature, so the arbitrary message must not have applied
		// (unless it is an exact duplicate, which is ignored as well).
		if st.Sequence != 1 {
			t.Fatalf("arbitrary message applied: %q", b)
		}
		_ = st.Document()

		g := newTopicGen(seed, 1+int(seed%3), 3)
		for i := range g.dids {
			g.create(i)
		}
		for range seed % 16 {
			g.step()
		}
		g.add(b)
		for range (seed >> 4) % 8 {
			g.step()
		}
		compareReplays(t, g)
	})
}

func TestKeysSealed(t *testing.T) {
	ctx := context.Background()
	kv, s := newKV(t)
	keys := NewKeys(kv, s)
	pub, err := keys.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := keys.PrivateKey(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := kv.Get(ctx, KeysNamespace, keyRecordKey(pub))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, priv.Seed()) {
		t.Fatal("seed stored in clear")
	}
	// A sealed key moved to another record does not open.
	pub2, _ := keys.Generate(ctx)
	if _, err := kv.Put(ctx, KeysNamespace, keyRecordKey(pub2), raw, store.KVCond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.PrivateKey(ctx, pub2); err == nil {
		t.Fatal("moved sealed key opened")
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := keys.PrivateKey(ctx, other); !errors.Is(err, ErrNoKey) {
		t.Fatalf("unknown key: %v", err)
	}
}

// topic20 writes a DID and 19 updates (20 messages) and returns the DID.
func topic20(b testing.TB, svc *Service) string {
	ctx := context.Background()
	topic, _ := svc.CreateTopic(ctx)
	d, _, err := svc.Create(ctx, topic, CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 18; i++ {
		if _, err := svc.Update(ctx, d, Update{AddServices: []did.Service{{ID: "#s" + string(rune('a'+i)), Type: "LinkedDomains", ServiceEndpoint: "https://example.com/" + string(rune('a'+i))}}}); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

func TestTopic20(t *testing.T) {
	svc, l, _ := newService(t)
	d := topic20(t, svc)
	id, _ := Parse(d)
	if n := len(l.topics[id.TopicID]); n != 20 {
		t.Fatalf("%d messages", n)
	}
	res, err := svc.ResolveUncached(context.Background(), d)
	if err != nil || len(res.Document.Service) != 18 {
		t.Fatalf("%+v %v", res, err)
	}
}

func BenchmarkVerifyMessage(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := ID{Network: "testnet", PublicKey: pub, TopicID: "0.0.5"}.String()
	msg, _ := Sign(priv, OpUpdate, d, Event{Service: &ServiceEvent{ID: d + "#s", Type: "LinkedDomains", ServiceEndpoint: "https://example.com"}}, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		p, err := parseEnvelope(msg)
		if err != nil || !p.verify(pub) {
			b.Fatal("verify failed")
		}
		if _, err := p.event(); err != nil {
			b.Fatal(err)
		}
	}
}
