package hederadid

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger/local"
)

// localService returns a Service over the embedded ledger in a temporary
// directory (on disk, SyncWrites).
func localService(t testing.TB) (*Service, *local.Ledger) {
	t.Helper()
	kv, s := newKV(t)
	l, err := local.Open(local.Options{Dir: t.TempDir(), Sealer: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	svc, err := New(Options{Ledger: l, Keys: NewKeys(kv, s), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc, l
}

// TestLocalLedgerEndToEnd drives the registrar and resolver over the real
// embedded ledger: a topic, two DIDs, 18 updates (services, a key rotation),
// current and versioned resolution, deactivation of one DID.
func TestLocalLedgerEndToEnd(t *testing.T) {
	ctx := context.Background()
	svc, l := localService(t)
	topic, err := svc.CreateTopic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := svc.Create(ctx, topic, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.Create(ctx, topic, CreateOptions{Services: []did.Service{{ID: "#home", Type: "LinkedDomains", ServiceEndpoint: "https://b.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	var versions []time.Time // consensus time after each update of a
	var added []string       // services of a
	for i := range 18 {
		letter := string(rune('a' + i))
		target, u := a, Update{}
		switch {
		case i%4 == 3:
			target = b
			u.AddServices = []did.Service{{ID: "#b" + letter, Type: "LinkedDomains", ServiceEndpoint: "https://b.example/" + letter}}
		case i == 8:
			u.RotateKey = true
		case i%3 == 2 && len(added) > 0:
			u.RemoveServiceIDs = []string{added[len(added)-1]}
			added = added[:len(added)-1]
		default:
			u.AddServices = []did.Service{{ID: "#s" + letter, Type: "LinkedDomains", ServiceEndpoint: "https://a.example/" + letter}}
			added = append(added, "#s"+letter)
		}
		if _, err := svc.Update(ctx, target, u); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if target == a {
			versions = append(versions, resolve(t, svc, a).DocumentMetadata.Updated)
		}
	}
	msgs, err := l.Messages(ctx, topic, time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 22 {
		t.Fatalf("%d messages on the topic", len(msgs))
	}

	// Current version: the cache, a fresh resolver and the uncached replay
	// agree.
	fresh, err := New(Options{Ledger: l, Keys: svc.keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{a, b} {
		cached := resolve(t, svc, d)
		other := resolve(t, fresh, d)
		unc, err := svc.ResolveUncached(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !docEqual(cached.Document, other.Document) || !docEqual(cached.Document, unc.Document) || cached.DocumentMetadata != unc.DocumentMetadata {
			t.Fatalf("%s: cached, fresh and uncached resolution differ", d)
		}
	}
	resA := resolve(t, svc, a)
	root := resA.Document.VerificationMethod[0].PublicKeyMultibase
	if root == a[len("did:hedera:local:"):len("did:hedera:local:")+len(root)] {
		t.Fatal("root key not rotated")
	}
	var want []string
	for _, id := range added {
		want = append(want, a+id)
	}
	if got := serviceIDs(resA.Document); !slices.Equal(got, want) {
		t.Fatalf("a services %v, want %v", got, want)
	}
	resB := resolve(t, svc, b)
	if got := serviceIDs(resB.Document); !slices.Contains(got, b+"#home") {
		t.Fatalf("b services %v", got)
	}

	// versionTime: the document as of an early update, with the next
	// update named.
	vt := versions[2]
	early, err := svc.Resolve(ctx, a, did.ResolveOptions{VersionTime: &vt})
	if err != nil {
		t.Fatal(err)
	}
	if !early.DocumentMetadata.Updated.Equal(vt) || early.DocumentMetadata.VersionID != VersionID(vt) {
		t.Fatalf("versionTime: %+v", early.DocumentMetadata)
	}
	if !early.DocumentMetadata.NextUpdate.Equal(versions[3]) || early.DocumentMetadata.NextVersionID != VersionID(versions[3]) {
		t.Fatalf("versionTime: next %+v, want %v", early.DocumentMetadata, versions[3])
	}
	if len(early.Document.Service) >= len(resA.Document.Service)+2 || slices.Equal(serviceIDs(early.Document), serviceIDs(resA.Document)) {
		t.Fatalf("versionTime: services %v, current %v", serviceIDs(early.Document), serviceIDs(resA.Document))
	}
	// versionId: the same version.
	byID, err := svc.Resolve(ctx, a, did.ResolveOptions{VersionID: VersionID(vt)})
	if err != nil {
		t.Fatal(err)
	}
	if !docEqual(byID.Document, early.Document) || byID.DocumentMetadata != early.DocumentMetadata {
		t.Fatal("versionId and versionTime answers differ")
	}
	if _, err := svc.Resolve(ctx, a, did.ResolveOptions{VersionID: "1.000000001"}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("unknown versionId: %v", err)
	}
	// The latest version has no next one.
	last := versions[len(versions)-1]
	latest, err := svc.Resolve(ctx, a, did.ResolveOptions{VersionTime: &last})
	if err != nil || latest.DocumentMetadata.NextVersionID != "" {
		t.Fatalf("latest version: %+v %v", latest, err)
	}

	// Deactivate b; a is unaffected.
	if err := svc.Deactivate(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Service{svc, fresh} {
		res := resolve(t, r, b)
		if !res.DocumentMetadata.Deactivated || len(res.Document.VerificationMethod) != 0 {
			t.Fatalf("b after deactivation: %+v", res)
		}
	}
	if _, err := svc.Update(ctx, b, Update{AlsoKnownAs: []string{"x"}}); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("update of a deactivated DID: %v", err)
	}
	if res := resolve(t, fresh, a); res.DocumentMetadata.Deactivated || !docEqual(res.Document, resA.Document) {
		t.Fatal("a changed by the deactivation of b")
	}
	if err := l.Verify(ctx, topic); err != nil {
		t.Fatal(err)
	}
}

func docEqual(x, y *did.Document) bool {
	a, _ := marshal(x)
	b, _ := marshal(y)
	return string(a) == string(b)
}

// benchDurations runs f b.N times and reports the median and 99th
// percentile of one call, in microseconds.
func benchDurations(b *testing.B, f func()) {
	var ds []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		f()
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	pct := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkResolveUncached20 resolves a DID by reading its 20-message topic
// from the embedded ledger on disk and replaying it.
func BenchmarkResolveUncached20(b *testing.B) {
	svc, _ := localService(b)
	d := topic20(b, svc)
	ctx := context.Background()
	benchDurations(b, func() {
		if _, err := svc.ResolveUncached(ctx, d); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkResolveCached20 resolves the same DID from the topic cache (one
// ledger read for messages after the last one folded).
func BenchmarkResolveCached20(b *testing.B) {
	svc, _ := localService(b)
	d := topic20(b, svc)
	ctx := context.Background()
	benchDurations(b, func() {
		if _, err := svc.Resolve(ctx, d, did.ResolveOptions{}); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkEd25519Verify is one signature check of a DID-message-sized
// payload, the unit cost the replay spreads over GOMAXPROCS.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := ID{Network: "local", PublicKey: pub, TopicID: "0.0.5"}.String()
	msg, _ := Sign(priv, OpUpdate, d, Event{Service: &ServiceEvent{ID: d + "#s", Type: "LinkedDomains", ServiceEndpoint: "https://example.com"}}, time.Now())
	p, err := parseEnvelope(msg)
	if err != nil {
		b.Fatal(err)
	}
	benchDurations(b, func() {
		if !ed25519.Verify(pub, p.raw, p.sig) {
			b.Fatal("verify failed")
		}
	})
}

// BenchmarkResolveUncached20Mem is BenchmarkResolveUncached20 over the
// in-memory test ledger: the replay without the storage.
func BenchmarkResolveUncached20Mem(b *testing.B) {
	svc, _, _ := newService(b)
	d := topic20(b, svc)
	ctx := context.Background()
	benchDurations(b, func() {
		if _, err := svc.ResolveUncached(ctx, d); err != nil {
			b.Fatal(err)
		}
	})
}
