package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pevm "github.com/ubeu/gateway/plugins/internal/evm"
)

// TestNormalisationVectors runs the official ENSIP-15 validation vectors
// that go-ens-normalize ships (ensip15/tests.json,
// https://docs.ens.domains/ensip/15) through the plugin's normalise, and a
// sample of the names they refuse through the compiled plugin, which must
// answer INVALID_ARGUMENT before any RPC (it has no peer to reach).
func TestNormalisationVectors(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/adraffy/go-ens-normalize").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "ensip15", "tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []vector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	var refused []string
	if raceEnabled {
		// Under the race detector building the ENSIP-15 tables in process
		// alone costs ~10 s of CPU: only the compiled plugin is checked,
		// with the names the vectors refuse.
		for _, v := range vectors[1:] {
			if v.Error {
				refused = append(refused, v.Name)
			}
		}
	} else {
		refused = checkVectorsInProcess(t, vectors)
	}
	if len(refused) < 1000 {
		t.Fatalf("only %d refused vectors", len(refused))
	}
	p := sharedPlugin(t)
	ctx := context.Background()
	for i := 0; i < len(refused); i += 40 {
		_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: refused[i]})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
		_, err = p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: refused[i], Address: &abiv1.Address{Address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
	}
	// And names the vectors accept are not refused (the answer depends on
	// the chain: NOT_FOUND there, UNAVAILABLE without it). Names with a
	// format character or a variation selector are left out: the plugin
	// refuses those ENSIP-15 ignores.
	accepted := 0
	for i := 1; i < len(vectors); i += 97 {
		v := vectors[i]
		if v.Error || v.Name == "" || strings.ContainsFunc(v.Name, func(r rune) bool {
			return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r)
		}) {
			continue
		}
		_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: v.Name})
		if e := abiv1.AsError(err); err != nil && e.Code == abiv1.ErrorCodeInvalidArgument {
			t.Errorf("%+q refused: %v", v.Name, err)
		}
		accepted++
	}
	if accepted < 100 {
		t.Fatalf("only %d accepted vectors tried", accepted)
	}
	// Named cases of the issue: mixed scripts, invisible characters,
	// refused emoji sequences.
	for _, n := range []string{"аpple.eth" /* Cyrillic а + Latin */, "ali\u200bce.eth", "a\u2060b.eth", "💩\ufe0f\u200d.eth", "xn--.eth", "a_b.eth", ""} {
		_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: n})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
	}
}

// vector is one entry of ENSIP-15's tests.json.
type vector struct {
	Name  string  `json:"name"`
	Norm  *string `json:"norm"`
	Error bool    `json:"error"`
}

// checkVectorsInProcess runs every vector through normalise and returns
// the names it refuses.
func checkVectorsInProcess(t *testing.T, vectors []vector) (refused []string) {
	for _, v := range vectors[1:] { // [0] is the version record
		got, err := normalise(v.Name)
		_, hidden := invisible(v.Name)
		switch {
		case hidden:
			// Valid ENSIP-15 input that drops an invisible character: the
			// plugin refuses it (see normalise).
			if err == nil {
				t.Errorf("%+q with an invisible character accepted", v.Name)
			}
			refused = append(refused, v.Name)
		case v.Name == "":
			if err == nil {
				t.Errorf("empty name accepted")
			}
		case v.Error:
			if err == nil {
				t.Errorf("%+q normalised to %+q, want an error", v.Name, got)
			}
			refused = append(refused, v.Name)
		default:
			want := v.Name
			if v.Norm != nil {
				want = *v.Norm
			}
			if err != nil || got != want {
				t.Errorf("%+q: %+q, %v; want %+q", v.Name, got, err, want)
			}
		}
	}
	return refused
}

func TestConfig(t *testing.T) {
	if _, err := parseConfig([]byte(`{"rpcUrls":["https://x"],"unknown":1}`)); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := parseConfig([]byte(`{"registry":"0x123"}`)); err == nil {
		t.Error("bad registry accepted")
	}
	s, err := parseConfig([]byte(`{}`))
	if err != nil || s.client.ChainID != 1 || s.registry.Hex() != mainnetRegistry || !s.hasWrapper {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	if s, err := parseConfig([]byte(`{"nameWrapper":""}`)); err != nil || s.hasWrapper {
		t.Fatalf("no wrapper: %v", err)
	}
	// The shipped configuration decodes.
	raw, err := os.ReadFile("config.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseConfig(raw); err != nil {
		t.Fatalf("config.json: %v", err)
	}
}

func TestOwned(t *testing.T) {
	p, c, f := onChain(t)
	ctx := context.Background()
	r, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "Alice.ETH"})
	if err != nil {
		t.Fatal(err)
	}
	chain := "eip155:1337"
	if len(r.Owners) != 1 || r.Owners[0].Chain != chain || r.Owners[0].Address != checksum(t, f.alice) {
		t.Fatalf("owners %+v", r.Owners)
	}
	want := map[string]string{
		"addr.60":         checksum(t, f.alice),
		"addr.2147483785": checksum(t, f.alice),
		"addr.0":          "0x76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
		"text.url":        "https://alice.example",
		"text.com.github": "alice",
	}
	if len(r.Records) != len(want) {
		t.Errorf("records %v, want %v", r.Records, want)
	}
	for k, v := range want {
		if r.Records[k] != v {
			t.Errorf("record %s = %q, want %q", k, r.Records[k], v)
		}
	}
	if r.ResolverContract == nil || r.ResolverContract.Address != checksum(t, c.ENS.PublicResolver) || r.ResolverContract.Chain != chain {
		t.Errorf("resolver %+v", r.ResolverContract)
	}
	exp := time.Unix(r.ExpiresUnix, 0)
	if time.Until(exp) < 9*year || time.Until(exp) > 11*year {
		t.Errorf("expires %v", exp)
	}
	o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: chain, Address: strings.ToLower(f.alice)}})
	if err != nil || !o.Owns {
		t.Fatalf("alice owns alice.eth: %+v %v", o, err)
	}
	block, _ := c.BlockNumber(ctx)
	ev := o.Evidence
	if ev["chain"] != chain || ev["kind"] != "registrant" || ev["contract"] != checksum(t, c.ENS.BaseRegistrar) ||
		ev["registry"] != checksum(t, c.ENS.Registry) || ev["owner"] != checksum(t, f.alice) || ev["block"] == "" || ev["expires"] == "" {
		t.Errorf("evidence %v (block now %d)", ev, block)
	}
	o, err = p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Address: f.bob}})
	if err != nil || o.Owns || o.Evidence["reason"] != "owned by another address" {
		t.Fatalf("bob does not own alice.eth: %+v %v", o, err)
	}
	o, err = p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:137", Address: f.alice}})
	if err != nil || !o.Owns {
		t.Fatalf("the same key named with another EVM chain: %+v %v", o, err)
	}
	o, err = p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "cosmos:cosmoshub-4", Address: f.alice}})
	if err != nil || o.Owns || o.Evidence["reason"] == "" {
		t.Fatalf("an address of a non-EVM chain: %+v %v", o, err)
	}
	// A subname owned in the registry, with no resolver anywhere that
	// serves it: owner only.
	r, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "owned.alice.eth"})
	if err != nil || len(r.Owners) != 1 || r.Owners[0].Address != checksum(t, f.eve) || r.ResolverContract != nil || len(r.Records) != 0 || r.ExpiresUnix != 0 {
		t.Fatalf("owned.alice.eth: %+v %v", r, err)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "owned.alice.eth", Address: &abiv1.Address{Address: f.eve}}); err != nil || !o.Owns || o.Evidence["kind"] != "registry" {
		t.Fatalf("eve owns owned.alice.eth: %+v %v", o, err)
	}
	// Networks the plugin does not serve.
	_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "alice.eth", Networks: []string{"eip155:137"}})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
	// Bad addresses.
	for _, a := range []*abiv1.Address{nil, {Address: ""}, {Address: "0x1234"}, {Address: "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}} {
		_, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: a})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
	}
}

func TestUnowned(t *testing.T) {
	p, _, f := onChain(t)
	ctx := context.Background()
	_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "nobody-here.eth"})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
	o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "nobody-here.eth", Address: &abiv1.Address{Address: f.alice}})
	if err != nil || o.Owns || o.Evidence["reason"] != "not registered" {
		t.Fatalf("%+v %v", o, err)
	}
	// No resolver of its own, and its parent's PublicResolver does not
	// implement ENSIP-10: nothing serves it.
	_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "deep.sub.alice.eth"})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
	_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "nothing.tld-nobody-has"})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
}

func TestWrapped(t *testing.T) {
	p, c, f := onChain(t)
	ctx := context.Background()
	// The registry and the BaseRegistrar both say the NameWrapper...
	reg, _ := c.OwnerOf(ctx, c.ENS.Registry, "owner(bytes32)", "bob.eth")
	if !strings.EqualFold(reg, c.ENS.NameWrapper) {
		t.Fatalf("registry owner of bob.eth %s, want the wrapper", reg)
	}
	// ...and the plugin answers the wrapper's owner.
	r, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "bob.eth"})
	if err != nil || len(r.Owners) != 1 || r.Owners[0].Address != checksum(t, f.bob) || r.Records["addr.60"] != checksum(t, f.bob) {
		t.Fatalf("%+v %v", r, err)
	}
	o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.eth", Address: &abiv1.Address{Address: f.bob}})
	if err != nil || !o.Owns || o.Evidence["kind"] != "wrapped" || o.Evidence["contract"] != checksum(t, c.ENS.NameWrapper) {
		t.Fatalf("%+v %v", o, err)
	}
	if o, _ := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.eth", Address: &abiv1.Address{Address: c.ENS.NameWrapper}}); o.Owns {
		t.Fatal("the wrapper contract itself is not the owner")
	}
}

// TestTransferred: after carol transferred the registration of carol.eth
// to dave, the registry still names carol (the manager) but the registrant,
// who owns it, is dave.
func TestTransferred(t *testing.T) {
	p, c, f := onChain(t)
	ctx := context.Background()
	reg, _ := c.OwnerOf(ctx, c.ENS.Registry, "owner(bytes32)", "carol.eth")
	if !strings.EqualFold(reg, f.carol) {
		t.Fatalf("registry owner %s, want carol (not reclaimed)", reg)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "carol.eth", Address: &abiv1.Address{Address: f.carol}}); err != nil || o.Owns {
		t.Fatalf("carol: %+v %v", o, err)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "carol.eth", Address: &abiv1.Address{Address: f.dave}}); err != nil || !o.Owns {
		t.Fatalf("dave: %+v %v", o, err)
	}
	// A transfer while the plugin is in use: bob passes bob.eth (wrapped)
	// to eve, and the next answer follows; then it goes back.
	if err := c.TransferWrapped(ctx, "bob.eth", f.bob, f.eve); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.TransferWrapped(ctx, "bob.eth", f.eve, f.bob); err != nil {
			t.Fatal(err)
		}
	}()
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.eth", Address: &abiv1.Address{Address: f.bob}}); err != nil || o.Owns {
		t.Fatalf("bob after transfer: %+v %v", o, err)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.eth", Address: &abiv1.Address{Address: f.eve}}); err != nil || !o.Owns {
		t.Fatalf("eve after transfer: %+v %v", o, err)
	}
}

// TestExpired moves the chain's clock past short.eth's expiry and its
// 90-day grace period: the registry still lists alice, but the name is
// nobody's.
func TestExpired(t *testing.T) {
	p, c, f := onChain(t)
	ctx := context.Background()
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "short.eth", Address: &abiv1.Address{Address: f.alice}}); err != nil || !o.Owns {
		t.Fatalf("before expiry: %+v %v", o, err)
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Revert(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}()
	if err := c.IncreaseTime(ctx, time.Hour+90*24*time.Hour+time.Minute); err != nil {
		t.Fatal(err)
	}
	reg, _ := c.OwnerOf(ctx, c.ENS.Registry, "owner(bytes32)", "short.eth")
	if !strings.EqualFold(reg, f.alice) {
		t.Fatalf("registry owner %s", reg)
	}
	o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "short.eth", Address: &abiv1.Address{Address: f.alice}})
	if err != nil || o.Owns || o.Evidence["reason"] != "expired" || o.Evidence["owner"] != "" {
		t.Fatalf("after expiry: %+v %v", o, err)
	}
	_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "short.eth"})
	if e := mustCode(t, err, abiv1.ErrorCodeNotFound); !strings.Contains(e.Message, "expired") {
		t.Fatalf("message %q", e.Message)
	}
}

func TestReverse(t *testing.T) {
	p, c, f := onChain(t)
	ctx := context.Background()
	for _, n := range []string{strings.TrimPrefix(strings.ToLower(f.alice), "0x") + ".addr.reverse", checksum(t, f.alice)} {
		r, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: n})
		if err != nil || r.Records["name"] != "alice.eth" || len(r.Owners) != 1 || r.Owners[0].Address != checksum(t, f.alice) || r.ResolverContract == nil {
			t.Fatalf("%s: %+v %v", n, r, err)
		}
		ret, err := c.Call(ctx, c.ENS.ReverseRegistrar, pevm.Encode("defaultResolver()"))
		def, derr := pevm.DecodeAddress(ret)
		if err != nil || derr != nil || r.ResolverContract.Address != def.Hex() {
			t.Errorf("reverse resolver %s, the registrar's default %s (%v %v)", r.ResolverContract.Address, def.Hex(), err, derr)
		}
	}
	// eve claims alice.eth as her primary name: it does not resolve back.
	_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: f.eve})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
	// dave has no reverse record.
	_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: f.dave})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
	_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "zz.addr.reverse"})
	mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
}

// TestWildcard resolves names under wild.eth through its ENSIP-10
// resolver (see extendedRPC): the DNS-encoded name goes to
// resolve(bytes,bytes), the inner addr(bytes32) answer comes back.
func TestWildcard(t *testing.T) {
	p, c, f := onChain(t)
	x := &extendedRPC{next: proxy(c), resolver: f.wildResolver, addr: f.carol}
	rpc.Use(t, x)
	ctx := context.Background()
	r, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "any.thing.wild.eth"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Records["addr.60"] != checksum(t, f.carol) || len(r.Records) != 1 || len(r.Owners) != 0 || r.ResolverContract.Address != checksum(t, f.wildResolver) {
		t.Fatalf("%+v", r)
	}
	x.mu.Lock()
	names := x.names
	x.mu.Unlock()
	if len(names) == 0 || string(names[0]) != "\x03any\x05thing\x04wild\x03eth\x00" {
		t.Fatalf("names sent: %q", names)
	}
	// wild.eth itself: its own resolver is extended, so it is asked
	// through resolve() too, and dave owns it.
	r, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "wild.eth"})
	if err != nil || r.Records["addr.60"] != checksum(t, f.carol) || len(r.Owners) != 1 || r.Owners[0].Address != checksum(t, f.dave) {
		t.Fatalf("wild.eth: %+v %v", r, err)
	}
}

func TestReverseName(t *testing.T) {
	const a = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	for _, tc := range []struct {
		name    string
		reverse bool
		bad     bool
	}{
		{a, true, false},
		{strings.ToLower(a), true, false},
		{strings.ToLower(a[2:]) + ".addr.reverse", true, false},
		{strings.ToUpper(a[2:]) + ".ADDR.REVERSE", true, false},
		{"0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true, true}, // bad checksum
		{"zz.addr.reverse", true, true},
		{"a.b.addr.reverse", true, true},
		{"0x" + strings.Repeat("a", 36) + ".eth", false, false}, // 42 bytes, a name
		{"alice.eth", false, false},
	} {
		addr, ok, err := reverseName(tc.name)
		if ok != tc.reverse || (err != nil) != tc.bad {
			t.Errorf("%s: reverse %v err %v", tc.name, ok, err)
		}
		if ok && err == nil && addr.Hex() != a {
			t.Errorf("%s: %s", tc.name, addr.Hex())
		}
	}
}

// FuzzReverseName: reverseName never panics, and an address it accepts
// names the same reverse node whichever way it was written.
func FuzzReverseName(f *testing.F) {
	for _, n := range []string{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed.addr.reverse", "x.addr.reverse", "alice.eth", ".addr.reverse"} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		addr, ok, err := reverseName(name)
		if !ok || err != nil {
			return
		}
		again, ok2, err2 := reverseName(strings.ToLower(addr.Hex()[2:]) + ".addr.reverse")
		if !ok2 || err2 != nil || again != addr {
			t.Fatalf("%q → %s, round trip %s %v", name, addr.Hex(), again.Hex(), err2)
		}
	})
}
