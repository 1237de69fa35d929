package web3

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

// fakeRegistry is an in-process abiv1.Resolver: names → owner, as a
// resolver plugin would answer from the chain.
type fakeRegistry struct {
	mu     sync.Mutex
	owners map[string]Owner
	calls  int
	fail   error
}

func (f *fakeRegistry) set(name string, chain string, addr [20]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owners[name] = Owner{Chain: chain, Address: addr}
}

func (f *fakeRegistry) Resolve(_ context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	o, ok := f.owners[req.Name]
	if !ok {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no such name")
	}
	return &abiv1.ResolveResponse{Owners: []*abiv1.Address{{Chain: o.Chain, Address: ChecksumAddress(o.Address)}},
		ResolverContract: &abiv1.Address{Chain: o.Chain, Address: "0x231b0Ee14048e9dCcD1d247744d114a4EB5E8E63"}, ExpiresUnix: 1900000000}, nil
}

func (f *fakeRegistry) CheckOwnership(_ context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	o, ok := f.owners[req.Name]
	if !ok {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no such name")
	}
	return &abiv1.CheckOwnershipResponse{Owns: o.Chain == req.Address.Chain && ChecksumAddress(o.Address) == req.Address.Address,
		Evidence: map[string]string{"registry": "0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e"}}, nil
}

type pluginMap map[string]abiv1.Transport

func (p pluginMap) Get(name string) (abiv1.Transport, bool) { t, ok := p[name]; return t, ok }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T) (*Service, *fakeRegistry, *clock) {
	t.Helper()
	sl, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(context.Background(), badgerstore.Options{InMemory: true, Sealer: sl, IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fr := &fakeRegistry{owners: map[string]Owner{}}
	tr := abiv1.HandlerTransport(abiv1.DispatchResolver(fr))
	c := &clock{t: time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)}
	s, err := New(Options{KV: st.KV(), Plugins: pluginMap{"ens": tr, "unstoppable": tr}, PublicURL: "https://id.example.org", Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s, fr, c
}

func addrOf(k *secp256k1.PrivateKey) [20]byte { return PubkeyAddress(k.PubKey()) }

func TestProofFlow(t *testing.T) {
	ctx := context.Background()
	s, fr, c := newService(t)
	alice := key(t, anvilKey0)
	fr.set("alice.eth", ChainEthereum, addrOf(alice))

	ch, err := s.Challenge(ctx, "u1", "Alice.ETH", "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMessage(ch.Message)
	if err != nil {
		t.Fatalf("challenge message does not parse: %v\n%s", err, ch.Message)
	}
	if m.Domain != "id.example.org" || m.Scheme != "https" || m.URI != "https://id.example.org/" || m.ChainID != 1 ||
		m.Address != anvilAddr0 || m.Nonce != ch.Nonce || len(m.Nonce) < 16 || !m.ExpirationTime.Equal(c.now().Add(10*time.Minute)) ||
		!strings.Contains(m.Statement, "alice.eth") || ch.Name != "alice.eth" {
		t.Fatalf("challenge: %+v\n%s", ch, ch.Message)
	}
	sig := SignPersonal(alice, []byte(ch.Message))
	p, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: strings.ToLower(anvilAddr0), Signature: sig, Message: ch.Message})
	if err != nil {
		t.Fatal(err)
	}
	if p.Address != anvilAddr0 || p.Registry != "ENS" || p.Network != "ethereum" || p.Chain != ChainEthereum || p.RegistryContract == "" {
		t.Fatalf("proof: %+v", p)
	}
	// The same answer again: a replay.
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: sig, Message: ch.Message}); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("replay: %v", err)
	}
	d, _, err := s.Store(ctx, "u1", "did:hedera:testnet:z_0.0.1", p)
	if err != nil || d.Status != StatusVerified || d.DomainType != "external" || d.Proof.Signature != sig {
		t.Fatalf("store: %+v %v", d, err)
	}
	// Resolution: the prover's DID while the address owns the name, then
	// the did:pkh of the new owner once it changed hands.
	if id, err := s.ResolveName(ctx, "alice.eth"); err != nil || id != "did:hedera:testnet:z_0.0.1" {
		t.Fatalf("resolve: %s %v", id, err)
	}
	other := key(t, "0000000000000000000000000000000000000000000000000000000000000001")
	fr.set("alice.eth", ChainEthereum, addrOf(other))
	if id, err := s.ResolveName(ctx, "alice.eth"); err != nil || id != "did:pkh:eip155:1:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf" {
		t.Fatalf("after transfer: %s %v", id, err)
	}
	if _, err := s.ResolveName(ctx, "nobody.eth"); did.Code(err) != did.CodeNotFound {
		t.Fatalf("unknown name: %v", err)
	}
	if l, err := s.List(ctx, "u1"); err != nil || len(l) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
	if ev, _ := s.Audit(ctx, "u1", 10); len(ev) < 2 || ev[0].Event != "challenge" {
		t.Fatalf("audit: %+v", ev)
	}
	if _, err := s.Remove(ctx, "u2", "alice.eth"); !errors.Is(err, ErrNotYours) {
		t.Fatalf("remove by another: %v", err)
	}
	if _, err := s.Remove(ctx, "u1", "alice.eth"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(ctx, "u1"); len(l) != 0 {
		t.Fatalf("list after remove: %+v", l)
	}
}

func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	s, fr, c := newService(t)
	alice := key(t, anvilKey0)
	mallory := key(t, "0000000000000000000000000000000000000000000000000000000000000002")
	fr.set("alice.eth", ChainEthereum, addrOf(alice))
	fr.set("brad.crypto", ChainPolygon, addrOf(alice))

	fresh := func(user string) *Challenge {
		t.Helper()
		ch, err := s.Challenge(ctx, user, "alice.eth", "")
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	ch := fresh("u1")
	// Signed by another key.
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(mallory, []byte(ch.Message))}); !errors.Is(err, ErrWrongSigner) {
		t.Fatalf("other signer: %v", err)
	}
	// The failed attempt spent the nonce.
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(ch.Message))}); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("after a failed attempt: %v", err)
	}
	// Expired.
	ch = fresh("u1")
	c.add(10*time.Minute + time.Second)
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(ch.Message)), Message: ch.Message}); !errors.Is(err, ErrNonceExpired) {
		t.Fatalf("expired: %v", err)
	}
	// Another user's challenge.
	ch = fresh("u1")
	if _, err := s.Verify(ctx, "u2", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(ch.Message)), Message: ch.Message}); !errors.Is(err, ErrNoChallenge) {
		t.Fatalf("other user's nonce: %v", err)
	}
	// An edited message (same nonce): refused, and the nonce is spent.
	ch = fresh("u1")
	edited := strings.Replace(ch.Message, "Chain ID: 1", "Chain ID: 5", 1)
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(edited)), Message: edited}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("edited: %v", err)
	}
	// Wrong-length signature.
	ch = fresh("u1")
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(ch.Message))[:100]}); !errors.Is(err, ErrSignature) {
		t.Fatalf("short signature: %v", err)
	}
	// Not the owner (a challenge for an address that does not own it).
	ch, err := s.Challenge(ctx, "u1", "alice.eth", ChecksumAddress(addrOf(mallory)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: ch.Address, Signature: SignPersonal(mallory, []byte(ch.Message))}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("not owner: %v", err)
	}
	// UNS on Polygon: chain ID 137 in the message.
	ch, err = s.Challenge(ctx, "u1", "brad.crypto", "")
	if err != nil || ch.ChainID != 137 || !strings.Contains(ch.Message, "\nChain ID: 137\n") {
		t.Fatalf("polygon challenge: %+v %v", ch, err)
	}
	if p, err := s.Verify(ctx, "u1", VerifyInput{Name: "brad.crypto", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(ch.Message))}); err != nil || p.Network != "polygon" || p.Registry != "UNS" {
		t.Fatalf("polygon verify: %+v %v", p, err)
	}
	// Names and TLDs.
	for _, n := range []string{"alice", "alice..eth", "al ice.eth", "al\u200bice.eth", "alice.eth/x", strings.Repeat("a", 300) + ".eth"} {
		if _, err := s.Challenge(ctx, "u1", n, ""); !errors.Is(err, ErrInvalidName) {
			t.Errorf("name %q: %v", n, err)
		}
	}
	if _, err := s.Challenge(ctx, "u1", "alice.sol", ""); !errors.Is(err, ErrUnsupportedTLD) {
		t.Errorf("alice.sol: %v", err)
	}
	if _, err := s.Challenge(ctx, "u1", "nobody.eth", ""); !errors.Is(err, ErrNameNotFound) {
		t.Errorf("unknown name: %v", err)
	}
	// The plugin failing, and absent.
	fr.fail = abiv1.Errorf(abiv1.ErrorCodeUnavailable, "rpc down")
	if _, err := s.Challenge(ctx, "u1", "alice.eth", ""); !errors.Is(err, ErrResolver) {
		t.Errorf("plugin down: %v", err)
	}
	if _, err := s.ResolveName(ctx, "alice.eth"); did.Code(err) != did.CodeUnavailable {
		t.Errorf("resolve with the plugin down: %v", err)
	}
	fr.fail = nil
	s.SetPlugins(pluginMap{})
	if _, err := s.Challenge(ctx, "u1", "alice.eth", ""); !errors.Is(err, ErrNoPlugin) {
		t.Errorf("no plugin: %v", err)
	}
	if _, err := s.ResolveName(ctx, "alice.eth"); did.Code(err) != did.CodeMethodNotSupported {
		t.Errorf("resolve without plugin: %v", err)
	}
}

// TestConsumeOnce races answers with one nonce: exactly one is let through.
func TestConsumeOnce(t *testing.T) {
	ctx := context.Background()
	s, fr, _ := newService(t)
	alice := key(t, anvilKey0)
	fr.set("alice.eth", ChainEthereum, addrOf(alice))
	ch, err := s.Challenge(ctx, "u1", "alice.eth", "")
	if err != nil {
		t.Fatal(err)
	}
	sig := SignPersonal(alice, []byte(ch.Message))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, replays := 0, 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: sig, Message: ch.Message})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrNonceUsed):
				replays++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || replays != 15 {
		t.Fatalf("%d accepted, %d refused as replays", ok, replays)
	}
}

func TestPKH(t *testing.T) {
	id := "did:pkh:eip155:1:0xb9c5714089478a327f09197987f16f9e5d936e8a"
	r, err := PKHResolver{}.Resolve(context.Background(), id, did.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vm := r.Document.VerificationMethod[0]
	if r.Document.ID != id || vm.Type != "EcdsaSecp256k1RecoveryMethod2020" || vm.BlockchainAccountID != "eip155:1:0xB9C5714089478a327F09197987f16f9E5d936E8a" /* ethers getAddress */ ||
		r.Document.Authentication[0].Ref != id+"#blockchainAccountId" {
		t.Fatalf("%+v", r.Document)
	}
	for _, bad := range []string{"did:pkh:eip155:1", "did:pkh:eip155:01:0xb9c5714089478a327f09197987f16f9e5d936e8a", "did:pkh:eip155:1:0xb9c57",
		"did:pkh:eip155:x:0xb9c5714089478a327f09197987f16f9e5d936e8a", "did:key:z6Mk"} {
		if _, err := (PKHResolver{}).Resolve(context.Background(), bad, did.ResolveOptions{}); did.Code(err) != did.CodeInvalidDID {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := (PKHResolver{}).Resolve(context.Background(), "did:pkh:solana:4sGjMW1sUnHzSxGspuhpqLDx6wiyjNtZ:CKg5d12Jhpej1JqtmxLJgaFqqeYjxgPqToJ4LBdvG9Ev", did.ResolveOptions{}); did.Code(err) != did.CodeMethodNotSupported {
		t.Errorf("solana: %v", err)
	}
}

// TestSweep: spent and expired challenges are deleted an hour after expiry,
// live ones are kept.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	s, fr, c := newService(t)
	alice := key(t, anvilKey0)
	fr.set("alice.eth", ChainEthereum, addrOf(alice))
	old, err := s.Challenge(ctx, "u1", "alice.eth", "")
	if err != nil {
		t.Fatal(err)
	}
	c.add(2 * time.Hour)
	live, err := s.Challenge(ctx, "u2", "alice.eth", "")
	if err != nil {
		t.Fatal(err)
	}
	s.Sweep(ctx)
	if _, _, err := s.o.KV.Get(ctx, ns, "nonce/"+old.Nonce); err == nil {
		t.Fatal("expired challenge kept")
	}
	if _, err := s.Verify(ctx, "u1", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(old.Message)), Message: old.Message}); !errors.Is(err, ErrNoChallenge) {
		t.Fatalf("swept challenge: %v", err)
	}
	if _, err := s.Verify(ctx, "u2", VerifyInput{Name: "alice.eth", Address: anvilAddr0, Signature: SignPersonal(alice, []byte(live.Message)), Message: live.Message}); err != nil {
		t.Fatalf("live challenge after a sweep: %v", err)
	}
}
