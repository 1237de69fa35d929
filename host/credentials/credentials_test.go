package credentials

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/didkey"
	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
	"github.com/ubeu/gateway/host/vc/contexts"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/statuslist"
)

var ctx = context.Background()

// didKeys signs as did:key DIDs made from fixed seeds.
type didKeys struct{ keys map[string]ed25519.PrivateKey }

func (k *didKeys) add(seed byte) string {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	d := didkey.Format(did.CodecEd25519Pub, priv.Public().(ed25519.PublicKey))
	k.keys[d] = priv
	return d
}

func (k *didKeys) SigningKey(_ context.Context, d string) (string, ed25519.PrivateKey, error) {
	priv, ok := k.keys[d]
	if !ok {
		return "", nil, errors.New("no key")
	}
	return d + "#" + strings.TrimPrefix(d, "did:key:"), priv, nil
}

func resolveDIDKey(_ context.Context, d string) (*did.Document, error) {
	return (&didkey.Resolver{}).Document(d)
}

// countingAnchor records anchor messages.
type countingAnchor struct {
	mu   sync.Mutex
	msgs [][]byte
	fail bool
}

func (a *countingAnchor) Anchor(_ context.Context, msg []byte) (ledger.Receipt, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return ledger.Receipt{}, errors.New("ledger down")
	}
	a.msgs = append(a.msgs, msg)
	return ledger.Receipt{TopicID: "0.0.77", Sequence: uint64(len(a.msgs)), TransactionID: fmt.Sprintf("0.0.2@1700000000.%09d", len(a.msgs)), ConsensusTime: time.Now()}, nil
}

type fixture struct {
	svc    *Service
	kv     store.KV
	reg    *statuslist.Registry
	anchor *countingAnchor
	iss    Issuer
	other  Issuer
	keys   *didKeys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	sl, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: sl,
		IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{kv: st.KV(), anchor: &countingAnchor{}, keys: &didKeys{keys: map[string]ed25519.PrivateKey{}}}
	f.iss = Issuer{EnterpriseID: "ent-1", DID: f.keys.add(7), Name: "Example University"}
	f.other = Issuer{EnterpriseID: "ent-2", DID: f.keys.add(8)}
	dids := map[string]string{"ent-1": f.iss.DID, "ent-2": f.other.DID}
	f.reg, err = statuslist.New(statuslist.Options{KV: f.kv, BaseURL: "https://gw.example/status",
		IssuerID: func(_ context.Context, e string) (string, error) { return dids[e], nil },
		Signer: func(ctx context.Context, doc map[string]any) ([]byte, error) {
			vm, key, err := f.keys.SigningKey(ctx, doc["issuer"].(string))
			if err != nil {
				return nil, err
			}
			return dataintegrity.Sign(ctx, doc, key, dataintegrity.ProofOptions{VerificationMethod: vm})
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = New(Options{KV: f.kv, Sealer: sl, Keys: f.keys, Status: f.reg, Anchor: f.anchor, Resolve: resolveDIDKey,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func degree(subject string) map[string]any {
	return map[string]any{
		"@context": []any{ContextV2, contexts.ExamplesV2},
		"type":     []any{"VerifiableCredential", "ExampleDegreeCredential"},
		"credentialSubject": map[string]any{
			"id":     subject,
			"degree": map[string]any{"type": "ExampleBachelorDegree", "name": "Bachelor of Science and Arts"},
		},
	}
}

func checkOf(v *Verification, name string) Check {
	for _, c := range v.Checks {
		if c.Check == name {
			return c
		}
	}
	return Check{}
}

func mustVerify(t *testing.T, f *fixture, b []byte) *Verification {
	t.Helper()
	v, err := f.svc.Verify(ctx, b, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIssueVerifyEachFormat(t *testing.T) {
	f := newFixture(t)
	for _, o := range []IssueOptions{{}, {Cryptosuite: dataintegrity.EdDSAJCS2022}, {Format: FormatJWT}} {
		t.Run(o.Format+o.Cryptosuite, func(t *testing.T) {
			out, err := f.svc.Issue(ctx, f.iss, degree("did:example:ebfeb1f712ebc6f1c276e12ec21"), o)
			if err != nil {
				t.Fatal(err)
			}
			r := out.Record
			if !strings.HasPrefix(r.ID, "urn:uuid:") || r.State != StateActive || len(r.Status) != 2 || r.Anchor == nil {
				t.Fatalf("record %+v", r)
			}
			if sum := sha256.Sum256(out.Secured); fmt.Sprintf("%x", sum) != r.Hash {
				t.Fatal("record hash is not the SHA-256 of the secured credential")
			}
			if err := VerifyAnchorPath(out.Secured, r.Anchor); err != nil {
				t.Fatal(err)
			}
			v := mustVerify(t, f, out.Secured)
			if !v.Verified {
				t.Fatalf("not verified: %+v", v)
			}
			for _, c := range []string{"format", "proof", "validFrom", "status.revocation", "status.suspension"} {
				if checkOf(v, c).Status != Passed {
					t.Fatalf("check %s: %+v", c, v.Checks)
				}
			}
			if v.ID != r.ID || v.Issuer != f.iss.DID {
				t.Fatalf("verification names %s by %s", v.ID, v.Issuer)
			}
			// The stored copy is sealed and comes back as issued.
			raw, _, err := f.kv.Get(ctx, ns, recordKey(r.ID))
			if err != nil || bytes.Contains(raw, []byte("Bachelor")) {
				t.Fatalf("stored record holds the claims in clear (%v)", err)
			}
			_, b, err := f.svc.Get(ctx, r.ID)
			if err != nil || !bytes.Equal(b, out.Secured) {
				t.Fatalf("get: %v", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	out, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(fn func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(out.Secured, &m)
		fn(m)
		b, _ := json.Marshal(m)
		return b
	}
	other, err := f.svc.Issue(ctx, f.other, degree("did:example:abc"), IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var otherProof map[string]any
	json.Unmarshal(other.Secured, &otherProof)
	cases := map[string]struct {
		in    []byte
		check string
	}{
		"changed claim": {tamper(func(m map[string]any) {
			m["credentialSubject"].(map[string]any)["degree"].(map[string]any)["name"] = "PhD"
		}), "proof"},
		"swapped proof":       {tamper(func(m map[string]any) { m["proof"] = otherProof["proof"] }), "proof"},
		"unknown cryptosuite": {tamper(func(m map[string]any) { m["proof"].(map[string]any)["cryptosuite"] = "ecdsa-rdfc-2019" }), "proof"},
		"key not the issuer's": {tamper(func(m map[string]any) {
			m["issuer"] = f.other.DID // the proof's method is not in this issuer's DID
		}), "proof"},
		"not JSON":     {[]byte("{nope"), "format"},
		"not a VC":     {[]byte(`{"type":"Other"}`), "format"},
		"garbage jwt":  {[]byte("eyJhbGciOi.x.y"), "format"},
		"empty":        {[]byte(""), "format"},
		"oversized":    {bytes.Repeat([]byte(" "), 300<<10), "format"},
		"bad envelope": {[]byte(`{"type":"EnvelopedVerifiableCredential","id":"data:text/plain,x"}`), "format"},
	}
	for name, c := range cases {
		v := mustVerify(t, f, c.in)
		if v.Verified || checkOf(v, c.check).Status != Failed {
			t.Errorf("%s: %+v", name, v)
		}
	}
	// A key that is not an assertionMethod of the issuer's DID: a proof by
	// a key the issuer's document does not list.
	intruder := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	doc := degree("did:example:abc")
	doc["issuer"] = f.iss.DID
	forged, err := dataintegrity.Sign(ctx, doc, intruder, dataintegrity.ProofOptions{VerificationMethod: f.iss.DID + "#intruder"})
	if err != nil {
		t.Fatal(err)
	}
	if v := mustVerify(t, f, forged); v.Verified || !strings.Contains(checkOf(v, "proof").Message, "not an assertionMethod") {
		t.Fatalf("forged key: %+v", v)
	}
}

func TestValidityWindow(t *testing.T) {
	f := newFixture(t)
	c := degree("did:example:abc")
	c["validFrom"] = "2026-01-01T00:00:00Z"
	c["validUntil"] = "2099-01-01T00:00:00Z"
	out, err := f.svc.Issue(ctx, f.iss, c, IssueOptions{Cryptosuite: dataintegrity.EdDSAJCS2022})
	if err != nil {
		t.Fatal(err)
	}
	for at, check := range map[time.Time]string{
		time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC): "validFrom",
		time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC): "validUntil",
	} {
		v, _ := f.svc.Verify(ctx, out.Secured, VerifyOptions{Now: at})
		if v.Verified || checkOf(v, check).Status != Failed || checkOf(v, "proof").Status != Passed {
			t.Fatalf("at %v: %+v", at, v.Checks)
		}
	}
}

func TestStatusChanges(t *testing.T) {
	f := newFixture(t)
	out, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), IssueOptions{Format: FormatJWT})
	if err != nil {
		t.Fatal(err)
	}
	id := out.Record.ID
	if _, err := f.svc.SetStatus(ctx, f.other.EnterpriseID, id, ActionRevoke); !errors.Is(err, ErrForbidden) {
		t.Fatalf("another issuer revoked: %v", err)
	}
	if r, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, id, ActionUnsuspend); err != nil || r.State != StateActive {
		t.Fatalf("unsuspend an active credential (a no-op): %v", err)
	}
	if _, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, "urn:uuid:nope", ActionRevoke); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown credential: %v", err)
	}
	step := func(action, state, failing string) {
		t.Helper()
		r, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, id, action)
		if err != nil || r.State != state {
			t.Fatalf("%s: %v %+v", action, err, r)
		}
		v := mustVerify(t, f, out.Secured)
		if failing == "" && !v.Verified {
			t.Fatalf("after %s: %+v", action, v.Checks)
		}
		if failing != "" && (v.Verified || checkOf(v, failing).Status != Failed) {
			t.Fatalf("after %s: %+v", action, v.Checks)
		}
	}
	step(ActionSuspend, StateSuspended, "status.suspension")
	step(ActionSuspend, StateSuspended, "status.suspension") // idempotent
	step(ActionUnsuspend, StateActive, "")
	step(ActionRevoke, StateRevoked, "status.revocation")
	for _, a := range []string{ActionSuspend, ActionUnsuspend} {
		if _, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, id, a); !errors.Is(err, ErrState) {
			t.Fatalf("%s after revocation: %v", a, err)
		}
	}
}

func TestIssueRejectsInvalid(t *testing.T) {
	f := newFixture(t)
	cases := map[string]struct {
		mut   func(m map[string]any)
		opts  IssueOptions
		field string
	}{
		"no subject":          {func(m map[string]any) { delete(m, "credentialSubject") }, IssueOptions{}, "credentialSubject"},
		"empty subject":       {func(m map[string]any) { m["credentialSubject"] = map[string]any{} }, IssueOptions{}, "credentialSubject"},
		"subject id not URL":  {func(m map[string]any) { m["credentialSubject"].(map[string]any)["id"] = "not a url" }, IssueOptions{}, "credentialSubject.id"},
		"no VC type":          {func(m map[string]any) { m["type"] = []any{"ExampleDegreeCredential"} }, IssueOptions{}, "type"},
		"context order":       {func(m map[string]any) { m["@context"] = []any{contexts.ExamplesV2, ContextV2} }, IssueOptions{}, "@context"},
		"foreign issuer":      {func(m map[string]any) { m["issuer"] = "did:example:someone-else" }, IssueOptions{}, "issuer"},
		"issuer object no id": {func(m map[string]any) { m["issuer"] = map[string]any{"name": "x"} }, IssueOptions{}, "issuer.id"},
		"evidence untyped":    {func(m map[string]any) { m["evidence"] = []any{map[string]any{"id": "https://x.example/e"}} }, IssueOptions{}, "evidence[0].type"},
		"status untyped":      {func(m map[string]any) { m["credentialStatus"] = map[string]any{"id": "https://x.example/s"} }, IssueOptions{}, "credentialStatus.type"},
		"schema without id":   {func(m map[string]any) { m["credentialSchema"] = map[string]any{"type": "JsonSchema"} }, IssueOptions{}, "credentialSchema.id"},
		"terms untyped":       {func(m map[string]any) { m["termsOfUse"] = map[string]any{} }, IssueOptions{}, "termsOfUse.type"},
		"refresh untyped":     {func(m map[string]any) { m["refreshService"] = map[string]any{"id": "https://x.example/r"} }, IssueOptions{}, "refreshService.type"},
		"related no digest":   {func(m map[string]any) { m["relatedResource"] = []any{map[string]any{"id": "https://x.example/r"}} }, IssueOptions{}, "relatedResource[0]"},
		"bad validFrom":       {func(m map[string]any) { m["validFrom"] = "2026-01-01" }, IssueOptions{}, "validFrom"},
		"until before from": {func(m map[string]any) {
			m["validFrom"], m["validUntil"] = "2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"
		}, IssueOptions{}, "validUntil"},
		"already expired": {func(m map[string]any) {
			m["validFrom"], m["validUntil"] = "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"
		}, IssueOptions{}, "validUntil"},
		"with proof": {func(m map[string]any) { m["proof"] = map[string]any{} }, IssueOptions{}, "proof"},
		"unknown term rdfc": {func(m map[string]any) {
			m["@context"] = []any{ContextV2}
			m["credentialSubject"].(map[string]any)["x"] = 1
		}, IssueOptions{}, ""},
		"bad cryptosuite": {func(m map[string]any) {}, IssueOptions{Cryptosuite: "ecdsa-rdfc-2019"}, "options.cryptosuite"},
		"bad format":      {func(m map[string]any) {}, IssueOptions{Format: "mdoc"}, "options.format"},
	}
	for name, c := range cases {
		m := degree("did:example:abc")
		c.mut(m)
		_, err := f.svc.Issue(ctx, f.iss, m, c.opts)
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) || fe.Field != c.field {
			t.Errorf("%s: got %v, want a field error on %q", name, err, c.field)
		}
	}
	if _, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), IssueOptions{Format: FormatJWT, Alg: "ES256"}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ES256: %v", err)
	}
	// A related resource that matches is accepted and checked on verify;
	// one whose digest does not match fails the check.
	body, _ := contexts.Bytes(ContextV2)
	sum := sha256.Sum256(body)
	good := degree("did:example:abc")
	good["relatedResource"] = []any{map[string]any{"id": ContextV2, "digestSRI": "sha256-" + base64.StdEncoding.EncodeToString(sum[:])}}
	out, err := f.svc.Issue(ctx, f.iss, good, IssueOptions{Cryptosuite: dataintegrity.EdDSAJCS2022})
	if err != nil {
		t.Fatal(err)
	}
	if v := mustVerify(t, f, out.Secured); !v.Verified || checkOf(v, "relatedResource").Status != Passed {
		t.Fatalf("matching related resource: %+v", v.Checks)
	}
	sum[0] ^= 1
	good = degree("did:example:abc")
	good["relatedResource"] = []any{map[string]any{"id": ContextV2, "digestSRI": "sha256-" + base64.StdEncoding.EncodeToString(sum[:])}}
	out, err = f.svc.Issue(ctx, f.iss, good, IssueOptions{Cryptosuite: dataintegrity.EdDSAJCS2022})
	if err != nil {
		t.Fatal(err)
	}
	if v := mustVerify(t, f, out.Secured); v.Verified || checkOf(v, "relatedResource").Status != Failed {
		t.Fatalf("mismatching related resource: %+v", v.Checks)
	}
}

func TestBatch(t *testing.T) {
	f := newFixture(t)
	items := make([]BatchItem, 60)
	for i := range items {
		items[i].Credential = degree(fmt.Sprintf("did:example:learner%d", i))
		if i%3 == 0 {
			items[i].Options.Cryptosuite = dataintegrity.EdDSAJCS2022
		}
	}
	delete(items[7].Credential, "credentialSubject")
	items[11].Options.Format = "nope"
	res, err := f.svc.IssueBatch(ctx, f.iss, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.anchor.msgs) != 1 {
		t.Fatalf("%d anchors for one batch", len(f.anchor.msgs))
	}
	var msg anchorMessage
	if err := json.Unmarshal(f.anchor.msgs[0], &msg); err != nil || msg.Count != 58 || bytes.Contains(f.anchor.msgs[0], []byte("learner")) {
		t.Fatalf("anchor message %s (%v)", f.anchor.msgs[0], err)
	}
	seen := map[string]bool{}
	for i, r := range res {
		if i == 7 || i == 11 {
			if !errors.Is(r.Err, ErrInvalid) || r.Issued != nil {
				t.Fatalf("item %d: %+v", i, r)
			}
			continue
		}
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
		a := r.Issued.Record.Anchor
		if a.Root != msg.Root || a.Count != 58 {
			t.Fatalf("item %d anchored under %s", i, a.Root)
		}
		if err := VerifyAnchorPath(r.Issued.Secured, a); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		for _, st := range r.Issued.Record.Status {
			k := st.ListID + "#" + fmt.Sprint(st.Index)
			if seen[k] {
				t.Fatalf("status entry %s used twice", k)
			}
			seen[k] = true
		}
	}
	// Tampering with a proof path is caught.
	a := *res[0].Issued.Record.Anchor
	a.Proof = append([]string(nil), a.Proof...)
	a.Proof[0] = "R:" + strings.Repeat("0", 64)
	if VerifyAnchorPath(res[0].Issued.Secured, &a) == nil {
		t.Fatal("a forged audit path verified")
	}
	list, err := f.svc.List(ctx, false, f.iss.EnterpriseID, "", 100)
	if err != nil || len(list) != 58 {
		t.Fatalf("issuer list: %d, %v", len(list), err)
	}
	mine, err := f.svc.List(ctx, true, "did:example:learner5", "", 100)
	if err != nil || len(mine) != 1 || mine[0].SubjectDID != "did:example:learner5" {
		t.Fatalf("subject list: %+v, %v", mine, err)
	}
	// A failing ledger fails the whole batch and stores nothing.
	f.anchor.fail = true
	if _, err := f.svc.IssueBatch(ctx, f.iss, []BatchItem{{Credential: degree("did:example:late")}}); err == nil {
		t.Fatal("batch issued without its anchor")
	}
	if list, _ := f.svc.List(ctx, false, f.iss.EnterpriseID, "", 100); len(list) != 58 {
		t.Fatalf("a failed batch stored %d records", len(list)-58)
	}
}

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	o := IssueOptions{IdempotencyKey: "k1", RequestHash: "h1"}
	a, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), o)
	if err != nil || a.Replayed {
		t.Fatal(err)
	}
	b, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), o)
	if err != nil || !b.Replayed || b.Record.ID != a.Record.ID || !bytes.Equal(a.Secured, b.Secured) {
		t.Fatalf("replay: %v %+v", err, b)
	}
	if _, err := f.svc.Issue(ctx, f.iss, degree("did:example:xyz"), IssueOptions{IdempotencyKey: "k1", RequestHash: "h2"}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("reused key: %v", err)
	}
	// Keys are per issuer.
	c, err := f.svc.Issue(ctx, f.other, degree("did:example:abc"), o)
	if err != nil || c.Replayed {
		t.Fatalf("other issuer, same key: %v", err)
	}
	// A failed issue releases its key.
	bad := degree("did:example:abc")
	delete(bad, "credentialSubject")
	if _, err := f.svc.Issue(ctx, f.iss, bad, IssueOptions{IdempotencyKey: "k2", RequestHash: "h"}); err == nil {
		t.Fatal("invalid credential issued")
	}
	if d, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), IssueOptions{IdempotencyKey: "k2", RequestHash: "h"}); err != nil || d.Replayed {
		t.Fatalf("key after a failure: %v", err)
	}
	// Concurrent requests with one key issue once.
	var n atomic.Int32
	var wg sync.WaitGroup
	ids := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), IssueOptions{IdempotencyKey: "k3", RequestHash: "h"})
			if err == nil {
				ids <- r.Record.ID
				if !r.Replayed {
					n.Add(1)
				}
			} else if !errors.Is(err, ErrInProgress) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first != "" && id != first {
			t.Fatal("one idempotency key issued two credentials")
		}
		first = id
	}
	if n.Load() != 1 {
		t.Fatalf("%d fresh issues for one key", n.Load())
	}
}

func TestHolderDelete(t *testing.T) {
	f := newFixture(t)
	out, err := f.svc.Issue(ctx, f.iss, degree("did:example:holder"), IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.HolderDelete(ctx, "did:example:someone", out.Record.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("someone else deleted: %v", err)
	}
	if err := f.svc.HolderDelete(ctx, "did:example:holder", out.Record.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := f.svc.List(ctx, true, "did:example:holder", "", 10); len(l) != 0 {
		t.Fatal("deleted credential still listed for its holder")
	}
	// The issuer's record, and its verification, stay.
	if v := mustVerify(t, f, out.Secured); !v.Verified {
		t.Fatal("holder deletion broke verification")
	}
}

// TestProofCache: a second verification of the same bytes skips the
// signature but not the key check — once the issuer's DID no longer lists
// the key, the credential fails again; other bytes are never served from
// the cache.
func TestProofCache(t *testing.T) {
	f := newFixture(t)
	var rotated atomic.Bool
	f.svc.o.Resolve = func(ctx context.Context, d string) (*did.Document, error) {
		doc, err := resolveDIDKey(ctx, d)
		if err == nil && rotated.Load() {
			other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32)).Public().(ed25519.PublicKey)
			doc.VerificationMethod[0].PublicKeyMultibase = did.EncodeMultikey(did.CodecEd25519Pub, other)
		}
		return doc, err
	}
	for _, o := range []IssueOptions{{Cryptosuite: dataintegrity.EdDSAJCS2022}, {Format: FormatJWT}} {
		rotated.Store(false)
		out, err := f.svc.Issue(ctx, f.iss, degree("did:example:abc"), o)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if v := mustVerify(t, f, out.Secured); !v.Verified {
				t.Fatalf("%s: %+v", o.Format, v.Checks)
			}
		}
		// Revocation is seen on a cached proof.
		if _, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, out.Record.ID, ActionSuspend); err != nil {
			t.Fatal(err)
		}
		if v := mustVerify(t, f, out.Secured); v.Verified || checkOf(v, "status.suspension").Status != Failed {
			t.Fatalf("suspended, cached proof: %+v", v.Checks)
		}
		if _, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, out.Record.ID, ActionUnsuspend); err != nil {
			t.Fatal(err)
		}
		// Whitespace around the same bytes is the same credential; one
		// changed byte is not.
		if v := mustVerify(t, f, append(append([]byte(" "), out.Secured...), '\n')); !v.Verified {
			t.Fatalf("padded: %+v", v.Checks)
		}
		changed := bytes.Replace(out.Secured, []byte("Bachelor"), []byte("Bachelar"), 1)
		if o.Format != FormatJWT {
			if v := mustVerify(t, f, changed); v.Verified {
				t.Fatal("a changed credential verified from the cache")
			}
		}
		rotated.Store(true)
		if v := mustVerify(t, f, out.Secured); v.Verified || checkOf(v, "proof").Status != Failed {
			t.Fatalf("%s after the key left the DID: %+v", o.Format, v.Checks)
		}
	}
}

func TestVerifyPresentation(t *testing.T) {
	f := newFixture(t)
	holder := f.keys.add(21)
	out, err := f.svc.Issue(ctx, f.iss, degree(holder), IssueOptions{Cryptosuite: dataintegrity.EdDSAJCS2022})
	if err != nil {
		t.Fatal(err)
	}
	var vc any
	json.Unmarshal(out.Secured, &vc)
	vp := func() map[string]any {
		return map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder, "verifiableCredential": []any{vc}}
	}
	vm, key, _ := f.keys.SigningKey(ctx, holder)
	sign := func(doc map[string]any, challenge string, k ed25519.PrivateKey) []byte {
		b, err := dataintegrity.Sign(ctx, doc, k, dataintegrity.ProofOptions{VerificationMethod: vm, ProofPurpose: "authentication", Challenge: challenge, Domain: "verifier.example"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(name string, in []byte, o PresentationOptions, want bool) *PresentationVerification {
		t.Helper()
		pv, err := f.svc.VerifyPresentation(ctx, in, o)
		if err != nil {
			t.Fatal(err)
		}
		if pv.Verified != want {
			t.Fatalf("%s: verified %v, want %v: %+v %+v", name, pv.Verified, want, pv.Checks, pv.Credentials)
		}
		return pv
	}
	signed := sign(vp(), "n-123", key)
	pv := check("signed", signed, PresentationOptions{Challenge: "n-123", Domain: "verifier.example"}, true)
	if len(pv.Credentials) != 1 || !pv.Credentials[0].Verified || pv.Holder != holder {
		t.Fatalf("credential results %+v", pv)
	}
	check("replayed challenge", signed, PresentationOptions{Challenge: "n-456"}, false)
	check("other domain", signed, PresentationOptions{Challenge: "n-123", Domain: "evil.example"}, false)
	unsigned, _ := json.Marshal(vp())
	if pv := check("unsigned", unsigned, PresentationOptions{}, true); len(pv.Warnings) == 0 {
		t.Fatal("unsigned presentation without a warning")
	}
	check("unsigned with challenge", unsigned, PresentationOptions{Challenge: "x"}, false)
	// A proof by a key that is not the holder's.
	other := vp()
	other["holder"] = f.iss.DID
	check("not the holder's key", sign(other, "n", key), PresentationOptions{}, false)
	// A proof of the wrong purpose.
	b, _ := dataintegrity.Sign(ctx, vp(), key, dataintegrity.ProofOptions{VerificationMethod: vm})
	check("assertion purpose", b, PresentationOptions{}, false)
	// A tampered credential inside a valid presentation.
	bad := vp()
	var tampered map[string]any
	json.Unmarshal(out.Secured, &tampered)
	tampered["credentialSubject"].(map[string]any)["degree"].(map[string]any)["name"] = "PhD"
	bad["verifiableCredential"] = []any{tampered}
	check("tampered credential", sign(bad, "n", key), PresentationOptions{Challenge: "n"}, false)
	// A revoked credential inside.
	if _, err := f.svc.SetStatus(ctx, f.iss.EnterpriseID, out.Record.ID, ActionRevoke); err != nil {
		t.Fatal(err)
	}
	check("revoked credential", signed, PresentationOptions{Challenge: "n-123"}, false)
	check("garbage", []byte("[1,2]"), PresentationOptions{}, false)
	check("not a VP", []byte(`{"type":"VerifiableCredential"}`), PresentationOptions{}, false)
}

// TestForeignStatusLists: a status list of another host is fetched, its
// proof and issuer checked; a list that fails to load, is malformed, is
// signed by someone else or carries the bit each fails the check
// precisely.
func TestForeignStatusLists(t *testing.T) {
	f := newFixture(t)
	// A second registry stands for the issuer's lists hosted elsewhere.
	other, err := statuslist.New(statuslist.Options{KV: f.kv, BaseURL: "https://lists.example/status",
		IssuerID: func(_ context.Context, e string) (string, error) {
			if e == "ent-2" {
				return f.other.DID, nil
			}
			return f.iss.DID, nil
		},
		Signer: func(ctx context.Context, doc map[string]any) ([]byte, error) {
			vm, key, err := f.keys.SigningKey(ctx, doc["issuer"].(string))
			if err != nil {
				return nil, err
			}
			return dataintegrity.Sign(ctx, doc, key, dataintegrity.ProofOptions{VerificationMethod: vm})
		}})
	if err != nil {
		t.Fatal(err)
	}
	entry, err := other.Allocate(ctx, "ent-1", statuslist.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	vm, key, _ := f.keys.SigningKey(ctx, f.iss.DID)
	c := degree("did:example:abc")
	c["issuer"] = f.iss.DID
	c["credentialStatus"] = entry.CredentialStatus()
	signed, err := dataintegrity.Sign(ctx, c, key, dataintegrity.ProofOptions{Cryptosuite: dataintegrity.EdDSAJCS2022, VerificationMethod: vm})
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	serve := func(fn func() ([]byte, error)) {
		f.svc.o.Fetch = func(_ context.Context, u string) ([]byte, error) {
			fetches.Add(1)
			if u != entry.ListURL {
				return nil, fmt.Errorf("unexpected fetch of %s", u)
			}
			return fn()
		}
		f.svc.foreign = statuslist.NewChecker(statuslist.CheckerOptions{TTL: time.Minute})
	}
	status := func(name string) Check {
		t.Helper()
		v := mustVerify(t, f, signed)
		c := checkOf(v, "status.revocation")
		if v.Verified != (c.Status == Passed) {
			t.Fatalf("%s: verified %v with status check %+v", name, v.Verified, c)
		}
		return c
	}
	own := func() ([]byte, error) { b, _, _, err := other.ServeBytes(ctx, entry.ListID); return b, err }
	serve(own)
	if c := status("good list"); c.Status != Passed {
		t.Fatalf("good list: %+v", c)
	}
	status("cached")
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cached for the ttl)", n)
	}
	serve(func() ([]byte, error) { return nil, errors.New("connection refused") })
	if c := status("unreachable"); c.Status != Failed || !strings.Contains(c.Message, "connection refused") {
		t.Fatalf("unreachable: %+v", c)
	}
	serve(func() ([]byte, error) { return []byte(`{"not":"a list"`), nil })
	if c := status("malformed"); c.Status != Failed {
		t.Fatalf("malformed: %+v", c)
	}
	// A list signed by another issuer.
	otherEntry, _ := other.Allocate(ctx, "ent-2", statuslist.PurposeRevocation)
	serve(func() ([]byte, error) { b, _, _, err := other.ServeBytes(ctx, otherEntry.ListID); return b, err })
	if c := status("foreign issuer"); c.Status != Failed || !strings.Contains(c.Message, "not by the credential's issuer") {
		t.Fatalf("list of another issuer: %+v", c)
	}
	// A list whose proof is broken.
	serve(func() ([]byte, error) {
		b, err := own()
		return bytes.Replace(b, []byte(`"revocation"`), []byte(`"suspension"`), 1), err
	})
	if c := status("tampered list"); c.Status != Failed {
		t.Fatalf("tampered list: %+v", c)
	}
	// The bit set.
	if err := other.Set(ctx, entry.ListID, entry.Index, statuslist.PurposeRevocation, true); err != nil {
		t.Fatal(err)
	}
	serve(own)
	if c := status("revoked"); c.Status != Failed || !strings.Contains(c.Message, "revoked") {
		t.Fatalf("revoked: %+v", c)
	}
	// No fetcher configured: a precise failure, not a pass.
	f.svc.o.Fetch = nil
	f.svc.foreign = statuslist.NewChecker(statuslist.CheckerOptions{})
	if c := status("no fetcher"); c.Status != Failed {
		t.Fatalf("no fetcher: %+v", c)
	}
}
