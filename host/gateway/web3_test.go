package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/plugin/manager"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/web3"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// The external-domain tests run the whole proof flow through the HTTP
// server against a resolver plugin compiled to Wasm with sdk-plugin and
// run in the real runtime (testdata/web3registry): a stand-in for
// plugins/ens and plugins/unstoppable whose "chain" is its KV namespace,
// so the test can register and transfer names while the gateway runs.
// Signatures are made with the decred secp256k1 library as a wallet's
// personal_sign makes them (EIP-191) and recovered by the gateway.

const web3PublicURL = "https://id.example.test"

// installRegistry installs the test registry plugin under name ("ens",
// "unstoppable") into cfg's plugin directory.
func installRegistry(t *testing.T, cfg *config.Config, name string) {
	t.Helper()
	wasm := plugintest.BuildWasm(t, "github.com/ubeu/gateway/host/gateway/testdata/web3registry")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "plugin.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(src, "plugin.yaml"), []byte(fmt.Sprintf(`name: %s
publisher: gatewayd tests
version: 0.1.0
interfaces: [resolver]
runtime: wasm
abi: ">=1.0 <2"
artifacts:
  wasm: {file: plugin.wasm, sha256: %x}
capabilities:
  log: true
  kv: {max_entries: 1000, max_bytes: 1048576}
`, name, sha256.Sum256(wasm))), 0o644)
	if _, err := pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: cfg.PluginsDir(), AllowUnsigned: true, ABIVersion: "1.0",
		Grants: pluginpkg.Grants{Capabilities: []string{"log", "kv"}},
	}); err != nil {
		t.Fatal(err)
	}
}

// web3Gateway is a gateway with the registry installed as ens and
// unstoppable, a public URL and a clock the test can move.
type web3Gateway struct {
	*testGateway
	offset *atomic.Int64 // nanoseconds added to the web3 clock
}

func web3Config(t *testing.T) *config.Config {
	cfg := testConfig(t)
	cfg.Credentials.PublicURL = web3PublicURL
	return cfg
}

func startWeb3Gateway(t *testing.T, cfg *config.Config, plugins ...string) *web3Gateway {
	t.Helper()
	for _, p := range plugins {
		installRegistry(t, cfg, p)
	}
	restoreWasmCache(t, cfg)
	off := new(atomic.Int64)
	tg := startGateway(t, cfg, func(g *gateway.Gateway) {
		g.Web3.SetClock(func() time.Time { return time.Now().Add(time.Duration(off.Load())) })
	})
	for _, p := range plugins {
		if _, ok := tg.g.Plugins.Get(p); !ok {
			t.Fatalf("plugin %s not loaded: %+v", p, tg.g.Plugins.List())
		}
	}
	if len(plugins) > 0 {
		keepWasmCache(t, cfg)
	}
	return &web3Gateway{testGateway: tg, offset: off}
}

// wasmCache holds the files of the wazero compilation cache of the first
// gateway that loaded the registry, so that the later ones start from it
// instead of compiling the same module again (seconds, more under -race).
var wasmCache struct {
	sync.Mutex
	files map[string][]byte
}

func keepWasmCache(t *testing.T, cfg *config.Config) {
	wasmCache.Lock()
	defer wasmCache.Unlock()
	if wasmCache.files != nil {
		return
	}
	dir := manager.CacheDir(cfg.PluginsDir())
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			files[rel] = b
		}
		return err
	})
	if err == nil && len(files) > 0 {
		wasmCache.files = files
	}
}

func restoreWasmCache(t *testing.T, cfg *config.Config) {
	wasmCache.Lock()
	defer wasmCache.Unlock()
	dir := manager.CacheDir(cfg.PluginsDir())
	for rel, b := range wasmCache.files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// setOwner registers name to addr on chain in the registry plugin's "chain".
func (w *web3Gateway) setOwner(plugin, name, chain string, addr [20]byte) {
	w.t.Helper()
	v := chain + " " + web3.ChecksumAddress(addr)
	if _, err := w.g.Store.KV().Put(context.Background(), "plugin:"+plugin, "owner/"+name, []byte(v), store.KVCond{}); err != nil {
		w.t.Fatal(err)
	}
}

type wallet struct {
	key  *secp256k1.PrivateKey
	addr [20]byte
}

func newWallet(t *testing.T) wallet {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return wallet{key: k, addr: web3.PubkeyAddress(k.PubKey())}
}

func (w wallet) hex() string            { return web3.ChecksumAddress(w.addr) }
func (w wallet) sign(msg string) string { return web3.SignPersonal(w.key, []byte(msg)) }

type challengeResp struct {
	Domain    string `json:"domain"`
	Address   string `json:"address"`
	Chain     string `json:"chain"`
	ChainID   uint64 `json:"chainId"`
	Nonce     string `json:"nonce"`
	Message   string `json:"message"`
	ExpiresAt string `json:"expiresAt"`
}

func (w *web3Gateway) challenge(tok, domain string, address ...string) challengeResp {
	w.t.Helper()
	body := map[string]string{"domain": domain}
	if len(address) > 0 {
		body["address"] = address[0]
	}
	r := w.do("POST", "/api/v1/domains/external/challenge", body, bearer(tok)...)
	if r.status != 200 {
		w.t.Fatalf("challenge %s: %d %s", domain, r.status, r.body)
	}
	var c challengeResp
	json.Unmarshal(r.body, &c)
	return c
}

func (w *web3Gateway) verify(tok string, body map[string]string) resp {
	w.t.Helper()
	return w.do("POST", "/api/v1/domains/external/verify", body, bearer(tok)...)
}

// prove runs challenge and verify for a wallet that owns domain.
func (w *web3Gateway) prove(tok, domain string, wl wallet) resp {
	w.t.Helper()
	c := w.challenge(tok, domain)
	return w.verify(tok, map[string]string{"domain": domain, "address": c.Address, "signature": wl.sign(c.Message), "message": c.Message})
}

// resolvesTo returns the id of the DID document a name resolves to.
func (w *web3Gateway) resolvesTo(name string) (int, string, resp) {
	w.t.Helper()
	r := w.do("GET", "/1.0/identifiers/"+name, nil, "Accept", "application/did+json")
	var doc struct {
		ID string `json:"id"`
	}
	json.Unmarshal(r.body, &doc)
	return r.status, doc.ID, r
}

func TestWeb3ProofFlowAndNameResolution(t *testing.T) {
	cfg := web3Config(t)
	cfg.DID.CacheTTLNames = 300 * time.Millisecond
	w := startWeb3Gateway(t, cfg, "ens", "unstoppable")
	alice := w.registerFull(map[string]string{"email": "alice@example.com", "password": goodPassword})
	aw, bw := newWallet(t), newWallet(t)
	w.setOwner("ens", "alice.eth", web3.ChainEthereum, aw.addr)

	// The challenge: an EIP-4361 message for this gateway, the owner's
	// address, chain 1, a fresh nonce, issued now, expiring in 10 minutes.
	c := w.challenge(alice.AccessToken, "Alice.ETH")
	m, err := web3.ParseMessage(c.Message)
	if err != nil {
		t.Fatalf("challenge message: %v\n%s", err, c.Message)
	}
	if m.Domain != "id.example.test" || m.Scheme != "https" || m.URI != web3PublicURL+"/" || m.Version != "1" || m.ChainID != 1 ||
		m.Address != aw.hex() || m.Nonce != c.Nonce || len(c.Nonce) < 16 || c.Domain != "alice.eth" ||
		time.Since(m.IssuedAt) > time.Minute || m.ExpirationTime.Sub(m.IssuedAt) != 10*time.Minute {
		t.Fatalf("challenge: %+v\n%s", c, c.Message)
	}
	if c2 := w.challenge(alice.AccessToken, "alice.eth"); c2.Nonce == c.Nonce {
		t.Fatal("two challenges share a nonce")
	}

	// Verify: 201, stored with the proof, and the name is in the DID
	// document's alsoKnownAs.
	sig := aw.sign(c.Message)
	r := w.verify(alice.AccessToken, map[string]string{"domain": "alice.eth", "address": strings.ToLower(aw.hex()), "signature": sig, "message": c.Message})
	if r.status != http.StatusCreated {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	var v struct {
		Domain      web3.Domain `json:"domain"`
		AlsoKnownAs string      `json:"alsoKnownAs"`
		DIDDocument struct {
			ID          string   `json:"id"`
			AlsoKnownAs []string `json:"alsoKnownAs"`
		} `json:"didDocument"`
		CostSponsored *int64 `json:"costSponsored"`
	}
	json.Unmarshal(r.body, &v)
	d := v.Domain
	if d.Name != "alice.eth" || d.DomainType != "external" || d.Network != "ethereum" || d.Chain != "eip155:1" || d.Registry != "ENS" ||
		d.Status != "verified" || d.RegistryContract == "" || d.Proof.Message != c.Message || d.Proof.Signature != sig || d.Address != aw.hex() ||
		d.DID != alice.DID || v.AlsoKnownAs != "did:ens:alice.eth" || v.CostSponsored == nil || *v.CostSponsored <= 0 {
		t.Fatalf("verified: %s", r.body)
	}
	if v.DIDDocument.ID != alice.DID || !contains(v.DIDDocument.AlsoKnownAs, "did:ens:alice.eth") {
		t.Fatalf("DID document after verify: %s", r.body)
	}
	// Resolution of the DID itself shows the name too (through the cache,
	// which the update invalidated).
	if r := w.do("GET", "/1.0/identifiers/"+alice.DID, nil, "Accept", "application/did+json"); !strings.Contains(string(r.body), "did:ens:alice.eth") {
		t.Fatalf("resolved DID lacks the name: %s", r.body)
	}
	// The same answer again: a replay, refused.
	wantError(t, w.verify(alice.AccessToken, map[string]string{"domain": "alice.eth", "address": aw.hex(), "signature": sig, "message": c.Message}), http.StatusConflict, "CONFLICT")
	// The list.
	r = w.do("GET", "/api/v1/domains/external", nil, bearer(alice.AccessToken)...)
	if r.status != 200 || !strings.Contains(string(r.body), `"domainName":"alice.eth"`) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}

	// The name resolves to alice's DID, the second time from the cache.
	if st, id, r := w.resolvesTo("alice.eth"); st != 200 || id != alice.DID {
		t.Fatalf("alice.eth → %d %s %s", st, id, r.body)
	}
	if _, _, r := w.resolvesTo("alice.eth"); r.header.Get("X-Cache") == "" {
		t.Fatalf("second resolution not from the cache: %v", r.header)
	}
	// A name nobody proved: the did:pkh of its owner, a document with the
	// CAIP-10 account.
	w.setOwner("ens", "bob.eth", web3.ChainEthereum, bw.addr)
	st, id, r := w.resolvesTo("bob.eth")
	if st != 200 || id != "did:pkh:eip155:1:"+bw.hex() || !strings.Contains(string(r.body), `"blockchainAccountId":"eip155:1:`+bw.hex()+`"`) {
		t.Fatalf("bob.eth → %d %s %s", st, id, r.body)
	}
	// Unknown name: the resolver's notFound.
	if st, _, r := w.resolvesTo("nobody.eth"); st != 404 || !strings.Contains(string(r.body), "notFound") {
		t.Fatalf("nobody.eth → %d %s", st, r.body)
	}
	if st, _, r := w.resolvesTo("nobody.eth"); st != 404 {
		t.Fatalf("nobody.eth again → %d %s", st, r.body)
	}
	// Refused by the plugin's normalisation: invalidDid.
	if st, _, r := w.resolvesTo("al_ice.eth"); st != 400 || !strings.Contains(string(r.body), "invalidDid") {
		t.Fatalf("al_ice.eth → %d %s", st, r.body)
	}

	// Transferred after verification: once the cached answer expires the
	// name is re-checked and resolves to the new owner's did:pkh.
	w.setOwner("ens", "alice.eth", web3.ChainEthereum, bw.addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, id, _ = w.resolvesTo("alice.eth")
		if id == "did:pkh:eip155:1:"+bw.hex() {
			break
		}
		if id != alice.DID || time.Now().After(deadline) {
			t.Fatalf("after the transfer alice.eth → %s", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The new owner proves it: the name now resolves to their DID, and
	// alice no longer holds it.
	bob := w.registerFull(map[string]string{"email": "bob@example.com", "password": goodPassword})
	if r := w.prove(bob.AccessToken, "alice.eth", bw); r.status != http.StatusCreated {
		t.Fatalf("bob proves alice.eth: %d %s", r.status, r.body)
	}
	if _, id, _ := w.resolvesTo("alice.eth"); id != bob.DID {
		t.Fatalf("after bob's proof alice.eth → %s", id)
	}
	if r := w.do("GET", "/api/v1/domains/external", nil, bearer(alice.AccessToken)...); strings.Contains(string(r.body), "alice.eth") {
		t.Fatalf("alice still lists the name: %s", r.body)
	}
	if r := w.do("GET", "/1.0/identifiers/"+alice.DID, nil, "Accept", "application/did+json"); strings.Contains(string(r.body), "did:ens:alice.eth") {
		t.Fatalf("alice's DID still claims the name: %s", r.body)
	}

	// UNS on Polygon: chain 137 in the message, network polygon.
	w.setOwner("unstoppable", "brad.crypto", web3.ChainPolygon, aw.addr)
	c = w.challenge(alice.AccessToken, "brad.crypto")
	if c.ChainID != 137 || !strings.Contains(c.Message, "\nChain ID: 137\n") {
		t.Fatalf("polygon challenge: %+v", c)
	}
	// Without the message: the latest challenge is the one answered.
	r = w.verify(alice.AccessToken, map[string]string{"domain": "brad.crypto", "address": c.Address, "signature": aw.sign(c.Message)})
	if r.status != 201 || !strings.Contains(string(r.body), `"blockchainNetwork":"polygon"`) || !strings.Contains(string(r.body), "did:uns:brad.crypto") {
		t.Fatalf("polygon verify: %d %s", r.status, r.body)
	}

	// Removing it frees the slot and the alias.
	r = w.do("DELETE", "/api/v1/domains/external/brad.crypto", nil, bearer(alice.AccessToken)...)
	if r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, w.do("DELETE", "/api/v1/domains/external/brad.crypto", nil, bearer(alice.AccessToken)...), 404, "NOT_FOUND")
	if r := w.do("GET", "/1.0/identifiers/"+alice.DID, nil, "Accept", "application/did+json"); strings.Contains(string(r.body), "did:uns:brad.crypto") {
		t.Fatalf("alias not removed: %s", r.body)
	}
	if st, id, _ := w.resolvesTo("brad.crypto"); st != 200 || id != "did:pkh:eip155:137:"+aw.hex() {
		t.Fatalf("brad.crypto after removal → %d %s", st, id)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestWeb3VerifyRefusals(t *testing.T) {
	w := startWeb3Gateway(t, web3Config(t), "ens")
	alice := w.register("alice@example.com")
	aw, mw := newWallet(t), newWallet(t)
	w.setOwner("ens", "alice.eth", web3.ChainEthereum, aw.addr)
	w.setOwner("ens", "mallory.eth", web3.ChainEthereum, mw.addr)
	tok := alice.AccessToken
	answer := func(c challengeResp, sig string) map[string]string {
		return map[string]string{"domain": c.Domain, "address": c.Address, "signature": sig, "message": c.Message}
	}

	// Not owned: a challenge for an address that does not own the name
	// verifies its signature, then the plugin says no.
	c := w.challenge(tok, "alice.eth", mw.hex())
	if c.Address != mw.hex() {
		t.Fatalf("challenge for a claimed address: %+v", c)
	}
	wantError(t, w.verify(tok, answer(c, mw.sign(c.Message))), http.StatusForbidden, "NOT_DOMAIN_OWNER")
	// Signature from another address than the claimed one.
	c = w.challenge(tok, "alice.eth")
	wantError(t, w.verify(tok, answer(c, mw.sign(c.Message))), http.StatusUnauthorized, "SIGNATURE_INVALID")
	// That attempt spent the nonce: the right signature now is a replay.
	wantError(t, w.verify(tok, answer(c, aw.sign(c.Message))), http.StatusConflict, "NONCE_USED")
	// Wrong length, bad v, high s, not hex.
	c = w.challenge(tok, "alice.eth")
	good := aw.sign(c.Message)
	raw, _ := hex.DecodeString(good[2:])
	var s secp256k1.ModNScalar
	s.SetByteSlice(raw[32:64])
	s.Negate()
	sb := s.Bytes()
	high := append(append(append([]byte{}, raw[:32]...), sb[:]...), raw[64]^1)
	for name, sig := range map[string]string{"64 bytes": good[:130], "66 bytes": good + "00", "v=29": good[:130] + "1d",
		"high s": "0x" + hex.EncodeToString(high), "not hex": "0x" + strings.Repeat("zz", 65)} {
		e := wantError(t, w.verify(tok, answer(c, sig)), http.StatusBadRequest, "VALIDATION_ERROR")
		if e["details"].(map[string]any)["field"] != "signature" {
			t.Errorf("%s: %v", name, e)
		}
	}
	wantError(t, w.verify(tok, answer(c, strings.Repeat("a", 200))), http.StatusBadRequest, "VALIDATION_ERROR")
	// A malformed signature did not spend the nonce: the good one passes
	// below. First, an edited message with that nonce is refused.
	edited := strings.Replace(c.Message, "Chain ID: 1", "Chain ID: 10", 1)
	wantError(t, w.verify(tok, answer(challengeResp{Domain: c.Domain, Address: c.Address, Message: edited}, aw.sign(edited))), http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY")
	wantError(t, w.verify(tok, answer(c, good)), http.StatusConflict, "NONCE_USED")
	// A message that is not EIP-4361.
	wantError(t, w.verify(tok, map[string]string{"domain": "alice.eth", "address": aw.hex(), "signature": good, "message": "sign this please"}), http.StatusBadRequest, "VALIDATION_ERROR")
	// Expired: the clock moves past the expiration time.
	c = w.challenge(tok, "alice.eth")
	w.offset.Store(int64(11 * time.Minute))
	wantError(t, w.verify(tok, answer(c, aw.sign(c.Message))), http.StatusGone, "CHALLENGE_EXPIRED")
	w.offset.Store(0)
	// Another user's challenge is not theirs to answer.
	c = w.challenge(tok, "alice.eth")
	other := w.register("other@example.com")
	wantError(t, w.verify(other.AccessToken, answer(c, aw.sign(c.Message))), http.StatusNotFound, "CHALLENGE_NOT_FOUND")
	// Names: invalid, unsupported TLD, unknown, refused by the plugin.
	for _, n := range []string{"alice", "alice..eth", "al ice.eth", "al\u200bice.eth", "alice.eth/../x"} {
		wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": n}, bearer(tok)...), 400, "VALIDATION_ERROR")
	}
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": strings.Repeat("a", 300) + ".eth"}, bearer(tok)...), 400, "VALIDATION_ERROR")
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "alice.sol"}, bearer(tok)...), 400, "VALIDATION_ERROR")
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "nobody.eth"}, bearer(tok)...), 404, "NOT_FOUND")
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "al_ice.eth"}, bearer(tok)...), 400, "VALIDATION_ERROR")
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "alice.eth", "address": "0x1234"}, bearer(tok)...), 400, "VALIDATION_ERROR")
	// No resolver plugin for UNS names here: 501, for the API and for resolution.
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "brad.crypto"}, bearer(tok)...), 501, "RESOLVER_NOT_INSTALLED")
	if st, _, r := w.resolvesTo("brad.crypto"); st != 501 || !strings.Contains(string(r.body), "methodNotSupported") {
		t.Fatalf("brad.crypto without a plugin: %d %s", st, r.body)
	}
	// Required fields and bodies.
	wantError(t, w.verify(tok, map[string]string{"domain": "alice.eth", "signature": good}), 400, "VALIDATION_ERROR")
	wantError(t, w.verify(tok, map[string]string{"domain": "alice.eth", "address": aw.hex()}), 400, "VALIDATION_ERROR")
	wantError(t, w.verify(tok, map[string]string{"address": aw.hex(), "signature": good}), 400, "VALIDATION_ERROR")
	wantError(t, w.verify(tok, map[string]string{"domain": "alice.eth", "address": aw.hex(), "signature": good, "message": strings.Repeat("x", 9000)}), 400, "VALIDATION_ERROR")
	for _, route := range []string{"/api/v1/domains/external/challenge", "/api/v1/domains/external/verify"} {
		wantError(t, w.do("POST", route, `{"domain":`, bearer(tok)...), 400, "VALIDATION_ERROR")
		wantError(t, w.do("POST", route, `{"domain":1}`, bearer(tok)...), 400, "VALIDATION_ERROR")
		wantError(t, w.do("POST", route, `{"domain":"alice.eth","extra":1}`, bearer(tok)...), 400, "VALIDATION_ERROR")
		wantError(t, w.do("POST", route, `[]`, bearer(tok)...), 400, "VALIDATION_ERROR")
		wantError(t, w.oversized("POST", route, bearer(tok)...), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		// Unauthenticated, and authenticated but not with a session (an
		// enterprise API key).
		wantError(t, w.do("POST", route, map[string]string{"domain": "alice.eth"}), 401, "UNAUTHORIZED")
	}
	ent := w.registerEnterprise(tok, acme())
	for _, rt := range [][2]string{{"POST", "/api/v1/domains/external/challenge"}, {"POST", "/api/v1/domains/external/verify"},
		{"GET", "/api/v1/domains/external"}, {"DELETE", "/api/v1/domains/external/alice.eth"}} {
		wantError(t, w.do(rt[0], rt[1], map[string]string{"domain": "alice.eth"}, "X-API-Key", ent.APIKey), 403, "FORBIDDEN")
		wantError(t, w.do(rt[0], rt[1], nil), 401, "UNAUTHORIZED")
	}
	// Nothing was linked by any of it.
	if r := w.do("GET", "/api/v1/domains/external", nil, bearer(tok)...); r.status != 200 || strings.Contains(string(r.body), "alice.eth") {
		t.Fatalf("list after refusals: %s", r.body)
	}
	if st, id, _ := w.resolvesTo("alice.eth"); st != 200 || id != "did:pkh:eip155:1:"+aw.hex() {
		t.Fatalf("alice.eth after refusals → %d %s", st, id)
	}
	// And the concurrent race on one answer: exactly one wins.
	c = w.challenge(tok, "alice.eth")
	sig := aw.sign(c.Message)
	var wg sync.WaitGroup
	var created, replays atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := w.do("POST", "/api/v1/domains/external/verify", answer(c, sig), bearer(tok)...)
			switch r.status {
			case 201:
				created.Add(1)
			case 409, 429: // the nonce spent, or the one-domain limit taken by the winner
				replays.Add(1)
			default:
				t.Errorf("concurrent answer: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 || replays.Load() != 7 {
		t.Fatalf("concurrent answers: %d created, %d refused", created.Load(), replays.Load())
	}
}

// TestWeb3Limits: one external domain per user; twelve updates a year.
func TestWeb3Limits(t *testing.T) {
	w := startWeb3Gateway(t, web3Config(t), "ens")
	u := w.register("lim@example.com")
	aw := newWallet(t)
	w.setOwner("ens", "one.eth", web3.ChainEthereum, aw.addr)
	w.setOwner("ens", "two.eth", web3.ChainEthereum, aw.addr)
	if r := w.prove(u.AccessToken, "one.eth", aw); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	e := wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "two.eth"}, bearer(u.AccessToken)...), 429, "LIMIT_EXCEEDED")
	if !strings.HasSuffix(e["details"].(map[string]any)["limit"].(string), "external_web3_domains") {
		t.Fatalf("limit details: %v", e)
	}
	// Swap names eleven more times (remove, prove): twelve updates in all.
	names := []string{"two.eth", "one.eth"}
	cur := "one.eth"
	for i := 0; i < 11; i++ {
		if r := w.do("DELETE", "/api/v1/domains/external/"+cur, nil, bearer(u.AccessToken)...); r.status != 204 {
			t.Fatalf("delete %d: %d %s", i, r.status, r.body)
		}
		cur = names[i%2]
		if r := w.prove(u.AccessToken, cur, aw); r.status != 201 {
			t.Fatalf("update %d: %d %s", i+2, r.status, r.body)
		}
	}
	w.do("DELETE", "/api/v1/domains/external/"+cur, nil, bearer(u.AccessToken)...)
	e = wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "two.eth"}, bearer(u.AccessToken)...), 429, "LIMIT_EXCEEDED")
	if !strings.HasSuffix(e["details"].(map[string]any)["limit"].(string), "external_domain_updates") {
		t.Fatalf("13th update: %v", e)
	}
}

// TestWeb3NoPlugins: without resolver plugins the routes and resolution
// say so (501), and nothing else breaks.
func TestWeb3NoPlugins(t *testing.T) {
	w := startWeb3Gateway(t, web3Config(t))
	u := w.register("np@example.com")
	wantError(t, w.do("POST", "/api/v1/domains/external/challenge", map[string]string{"domain": "alice.eth"}, bearer(u.AccessToken)...), 501, "RESOLVER_NOT_INSTALLED")
	if st, _, r := w.resolvesTo("alice.eth"); st != 501 || !strings.Contains(string(r.body), "methodNotSupported") {
		t.Fatalf("alice.eth without plugins: %d %s", st, r.body)
	}
	if st, _, _ := w.resolvesTo("alice.iam"); st != 404 {
		t.Fatalf(".iam still served: %d", st)
	}
}

// TestWeb3UnicodeName: a name outside ASCII is proven and resolves at
// /1.0/identifiers/ whatever its case (percent-encoded on the wire);
// unproven, it resolves to its owner's did:pkh; an invisible character is
// refused as invalidDid.
func TestWeb3UnicodeName(t *testing.T) {
	w := startWeb3Gateway(t, web3Config(t), "ens")
	alice := w.registerFull(map[string]string{"email": "cafe@example.com", "password": goodPassword})
	aw, bw := newWallet(t), newWallet(t)
	w.setOwner("ens", "café.eth", web3.ChainEthereum, aw.addr)
	w.setOwner("ens", "🦊.eth", web3.ChainEthereum, bw.addr)
	r := w.prove(alice.AccessToken, "Café.eth", aw)
	var v struct {
		AlsoKnownAs string `json:"alsoKnownAs"`
	}
	json.Unmarshal(r.body, &v)
	// A DID's method-specific id is ASCII: the name is percent-encoded.
	if r.status != http.StatusCreated || v.AlsoKnownAs != "did:ens:caf%C3%A9.eth" {
		t.Fatalf("verify café.eth: %d %s", r.status, r.body)
	}
	for _, name := range []string{"café.eth", "CAFÉ.ETH", "caf%C3%A9.eth"} {
		if st, id, r := w.resolvesTo(name); st != 200 || id != alice.DID {
			t.Fatalf("%s: %d %s %s", name, st, id, r.body)
		}
	}
	if st, id, r := w.resolvesTo("🦊.eth"); st != 200 || id != web3.PKH(web3.ChainEthereum, bw.addr) {
		t.Fatalf("🦊.eth: %d %s %s", st, id, r.body)
	}
	if st, _, r := w.resolvesTo("caf%E2%80%8Be.eth"); st != 400 || !strings.Contains(string(r.body), "invalidDid") {
		t.Fatalf("zero-width space: %d %s", st, r.body)
	}
}
