package statuslist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// specListCredential is the example of § BitstringStatusListCredential.
const specListCredential = `{
  "@context": ["https://www.w3.org/ns/credentials/v2"],
  "id": "https://example.com/credentials/status/3",
  "type": ["VerifiableCredential", "BitstringStatusListCredential"],
  "issuer": "did:example:12345",
  "validFrom": "2021-04-05T14:27:40Z",
  "credentialSubject": {
    "id": "https://example.com/status/3#list",
    "type": "BitstringStatusList",
    "statusPurpose": "revocation",
    "encodedList": "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
  }
}`

// specEntry is the credentialStatus of the example "A Revocable Verifiable
// Credential".
func specEntry() map[string]any {
	return map[string]any{
		"id":                   "https://example.com/credentials/status/3#94567",
		"type":                 "BitstringStatusListEntry",
		"statusPurpose":        "revocation",
		"statusListIndex":      "94567",
		"statusListCredential": "https://example.com/credentials/status/3",
	}
}

type countingFetch struct {
	n    atomic.Int32
	body []byte
	err  error
}

func (f *countingFetch) fetch(_ context.Context, url string) ([]byte, error) {
	f.n.Add(1)
	return f.body, f.err
}

func listCredential(t testing.TB, purpose any, bits Bitstring, extra map[string]any) []byte {
	t.Helper()
	enc, err := bits.Encode()
	if err != nil {
		t.Fatal(err)
	}
	subj := map[string]any{"type": "BitstringStatusList", "statusPurpose": purpose, "encodedList": enc}
	vc := map[string]any{"type": []any{"VerifiableCredential", "BitstringStatusListCredential"},
		"credentialSubject": subj, "validFrom": "2026-01-01T00:00:00Z"}
	for k, v := range extra {
		if k == "ttl" {
			subj[k] = v
		} else {
			vc[k] = v
		}
	}
	b, _ := json.Marshal(vc)
	return b
}

func TestCheckSpecExample(t *testing.T) {
	c := NewChecker(CheckerOptions{})
	f := &countingFetch{body: []byte(specListCredential)}
	st, err := c.Check(ctx, specEntry(), f.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if st.Set || st.Purpose != PurposeRevocation || st.Value != 0 {
		t.Fatalf("status %+v", st)
	}
	// Purpose mismatch: STATUS_VERIFICATION_ERROR.
	e := specEntry()
	e["statusPurpose"] = "suspension"
	if _, err := c.Check(ctx, e, f.fetch); !errors.Is(err, ErrVerification) {
		t.Fatalf("purpose mismatch: %v", err)
	}
	// Index == list length: RANGE_ERROR.
	e = specEntry()
	e["statusListIndex"] = "131072"
	if _, err := c.Check(ctx, e, f.fetch); !errors.Is(err, ErrRange) {
		t.Fatalf("index at the length: %v", err)
	}
	e["statusListIndex"] = "99999999999999999999999"
	if _, err := c.Check(ctx, e, f.fetch); !errors.Is(err, ErrRange) {
		t.Fatalf("huge index: %v", err)
	}
	if f.n.Load() != 1 {
		t.Fatalf("fetched %d times; the list should be cached", f.n.Load())
	}
}

func TestCheckSetBits(t *testing.T) {
	bits, _ := NewBitstring(MinEntries)
	_ = bits.Set(94567, true)
	c := NewChecker(CheckerOptions{})
	f := &countingFetch{body: listCredential(t, []any{"revocation", "suspension"}, bits, nil)}
	for _, p := range []string{"revocation", "suspension"} {
		e := specEntry()
		e["statusPurpose"] = p
		st, err := c.Check(ctx, e, f.fetch)
		if err != nil || !st.Set || st.Value != 1 {
			t.Fatalf("%s: %+v %v", p, st, err)
		}
	}
	e := specEntry()
	e["statusListIndex"] = "94568"
	if st, err := c.Check(ctx, e, f.fetch); err != nil || st.Set {
		t.Fatalf("neighbour: %+v %v", st, err)
	}
}

func TestCheckMessage(t *testing.T) {
	bits, _ := NewBitstring(2 * MinEntries)
	// Entry 5 of 2-bit entries = bits 10, 11: value 0b10.
	_ = bits.Set(10, true)
	f := &countingFetch{body: listCredential(t, "message", bits, nil)}
	e := map[string]any{
		"type": "BitstringStatusListEntry", "statusPurpose": "message", "statusListIndex": "5",
		"statusSize": float64(2), "statusListCredential": "https://example.com/status/8",
		"statusMessage": []any{
			map[string]any{"status": "0x0", "message": "pending_review"},
			map[string]any{"status": "0x1", "message": "accepted"},
			map[string]any{"status": "0x2", "message": "rejected"},
			map[string]any{"status": "0x3", "message": "undefined"},
		},
	}
	st, err := NewChecker(CheckerOptions{}).Check(ctx, e, f.fetch)
	if err != nil || st.Value != 2 || st.Message != "rejected" || !st.Set {
		t.Fatalf("message status %+v %v", st, err)
	}
	e["statusMessage"] = e["statusMessage"].([]any)[:3]
	if _, err := NewChecker(CheckerOptions{}).Check(ctx, e, f.fetch); !errors.Is(err, ErrMalformed) {
		t.Fatalf("three messages for two bits: %v", err)
	}
	// 2-bit entries in a 16 KiB list are only 65,536 entries.
	small, _ := NewBitstring(MinEntries)
	f2 := &countingFetch{body: listCredential(t, "message", small, nil)}
	e["statusMessage"] = []any{
		map[string]any{"status": "0x0", "message": "a"}, map[string]any{"status": "0x1", "message": "b"},
		map[string]any{"status": "0x2", "message": "c"}, map[string]any{"status": "0x3", "message": "d"},
	}
	if _, err := NewChecker(CheckerOptions{}).Check(ctx, e, f2.fetch); !errors.Is(err, ErrListLength) {
		t.Fatalf("short list: %v", err)
	}
}

func TestCheckBadInput(t *testing.T) {
	bits, _ := NewBitstring(MinEntries)
	good := listCredential(t, "revocation", bits, nil)
	cases := []struct {
		name string
		edit func(map[string]any)
		body []byte
		ferr error
		want error
	}{
		{"unknown purpose", func(e map[string]any) { e["statusPurpose"] = "bogus" }, good, nil, ErrUnsupportedPurpose},
		{"wrong type", func(e map[string]any) { e["type"] = "StatusList2021Entry" }, good, nil, ErrMalformed},
		{"numeric index", func(e map[string]any) { e["statusListIndex"] = float64(5) }, good, nil, ErrMalformed},
		{"negative index", func(e map[string]any) { e["statusListIndex"] = "-1" }, good, nil, ErrMalformed},
		{"signed index", func(e map[string]any) { e["statusListIndex"] = "+1" }, good, nil, ErrMalformed},
		{"relative URL", func(e map[string]any) { e["statusListCredential"] = "status/3" }, good, nil, ErrMalformed},
		{"statusSize 0", func(e map[string]any) { e["statusSize"] = float64(0) }, good, nil, ErrMalformed},
		{"statusSize 2 without messages", func(e map[string]any) { e["statusSize"] = float64(2) }, good, nil, ErrMalformed},
		{"fetch fails", nil, nil, errors.New("connection refused"), ErrRetrieval},
		{"not JSON", nil, []byte("<html>"), nil, ErrMalformed},
		{"not a status list", nil, []byte(`{"type":["VerifiableCredential"],"credentialSubject":{}}`), nil, ErrMalformed},
		{"bad encodedList", nil, []byte(`{"type":["VerifiableCredential","BitstringStatusListCredential"],
			"credentialSubject":{"type":"BitstringStatusList","statusPurpose":"revocation","encodedList":"zAAAA"}}`), nil, ErrMalformed},
		{"short list", nil, []byte(fmt.Sprintf(`{"type":["VerifiableCredential","BitstringStatusListCredential"],
			"credentialSubject":{"type":"BitstringStatusList","statusPurpose":"revocation","encodedList":%q}}`, gz(t, make([]byte, 1024)))), nil, ErrListLength},
		{"expired list", nil, listCredential(t, "revocation", bits, map[string]any{"validUntil": "2026-02-01T00:00:00Z"}), nil, ErrVerification},
		{"future list", nil, listCredential(t, "revocation", bits, map[string]any{"validFrom": "2027-01-01T00:00:00Z"}), nil, ErrVerification},
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range cases {
		e := specEntry()
		if c.edit != nil {
			c.edit(e)
		}
		f := &countingFetch{body: c.body, err: c.ferr}
		chk := NewChecker(CheckerOptions{Now: func() time.Time { return now }})
		if _, err := chk.Check(ctx, e, f.fetch); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestCheckCacheTTL(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	bits, _ := NewBitstring(MinEntries)
	// The list's ttl (60 s) is below the checker's (5 min) and wins.
	f := &countingFetch{body: listCredential(t, "revocation", bits, map[string]any{"ttl": 60000})}
	c := NewChecker(CheckerOptions{Now: clk.Now})
	check := func() Status {
		st, err := c.Check(ctx, specEntry(), f.fetch)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	check()
	clk.Add(59 * time.Second)
	check()
	if f.n.Load() != 1 {
		t.Fatalf("fetched %d times within the ttl", f.n.Load())
	}
	// After the ttl the list is fetched again and a revocation seen.
	_ = bits.Set(94567, true)
	f.body = listCredential(t, "revocation", bits, map[string]any{"ttl": 60000})
	clk.Add(2 * time.Second)
	if st := check(); !st.Set || f.n.Load() != 2 {
		t.Fatalf("after the ttl: %+v, %d fetches", st, f.n.Load())
	}
}

// The full loop: issue through the registry, serve, fetch, check.
func TestRegistryToChecker(t *testing.T) {
	r, clk := newRegistry(t, Options{})
	c := NewChecker(CheckerOptions{Now: clk.Now, TTL: time.Second})
	fetch := func(ctx context.Context, url string) ([]byte, error) {
		var id string
		fmt.Sscanf(url[len("https://gw.example/status/ent1/"):], "%s", &id)
		b, _, _, err := r.ServeBytes(ctx, id)
		return b, err
	}
	e, _ := r.Allocate(ctx, "ent1", PurposeSuspension)
	for _, v := range []bool{true, false} {
		if err := r.Set(ctx, e.ListID, e.Index, PurposeSuspension, v); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Second)
		st, err := c.Check(ctx, e.CredentialStatus(), fetch)
		if err != nil || st.Set != v {
			t.Fatalf("suspended=%v: check %+v %v", v, st, err)
		}
	}
}

func BenchmarkCheckCached(b *testing.B) {
	bits, _ := NewBitstring(MinEntries)
	f := &countingFetch{body: listCredential(b, "revocation", bits, nil)}
	c := NewChecker(CheckerOptions{})
	e := specEntry()
	for b.Loop() {
		if _, err := c.Check(ctx, e, f.fetch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	bits, _ := NewBitstring(MinEntries)
	for i := 0; i < bits.Len(); i += 97 {
		_ = bits.Set(i, true)
	}
	enc, _ := bits.Encode()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckEntryTagged: with a TaggedFetcher the list is decoded again
// only when the tag changes (the bytes are not hashed), and a new tag
// brings the new status at once.
func TestCheckEntryTagged(t *testing.T) {
	c := NewChecker(CheckerOptions{TTL: time.Nanosecond})
	e := specEntry()
	e["statusListIndex"] = "7"
	pe, err := ParseEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	clear, err := NewBitstring(MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := NewBitstring(MinEntries)
	if err := set.Set(7, true); err != nil {
		t.Fatal(err)
	}
	body, tag := listCredential(t, PurposeRevocation, clear, nil), `"a"`
	fetch := func(context.Context, string) ([]byte, string, error) { return body, tag, nil }
	check := func() bool {
		t.Helper()
		time.Sleep(time.Microsecond) // past the TTL: every check fetches
		st, err := c.CheckEntry(ctx, pe, fetch)
		if err != nil {
			t.Fatal(err)
		}
		return st.Set
	}
	if check() {
		t.Fatal("set in a clear list")
	}
	// New bytes under the same tag: the decoded list is reused.
	body = listCredential(t, PurposeRevocation, set, nil)
	if check() {
		t.Fatal("the tag did not change, yet the list was decoded again")
	}
	tag = `"b"`
	if !check() {
		t.Fatal("a new tag did not bring the new list")
	}
	// An empty tag falls back to hashing the bytes.
	body, tag = listCredential(t, PurposeRevocation, clear, nil), ""
	if check() {
		t.Fatal("changed bytes without a tag were not decoded again")
	}
}
