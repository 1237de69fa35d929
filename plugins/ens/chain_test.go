package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/interop/evm"
	pevm "github.com/ubeu/gateway/plugins/internal/evm"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// The chain is started once per test binary, on first use, and stopped by
// TestMain.
var (
	chainOnce sync.Once
	chainErr  error
	theChain  *evm.Chain
	world     *fixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	keeper.Run()
	theChain.Close()
	os.Exit(code)
}

// fixture is what setUp registered on the chain.
type fixture struct {
	alice, bob, carol, dave, eve string // accounts
	wildResolver                 string // an address with no code, answered by extendedRPC
}

// needChain returns the chain with the fixture's names on it, skipping (or,
// under CI, failing) when the harness is not installed.
func needChain(t testing.TB) (*evm.Chain, *fixture) {
	t.Helper()
	chainOnce.Do(startChain)
	evm.Require(t, chainErr)
	return theChain, world
}

func startChain() {
	ctx := context.Background()
	theChain, chainErr = evm.Start(ctx)
	if chainErr == nil {
		world, chainErr = setUp(ctx, theChain)
	}
}

const year = 365 * 24 * time.Hour

// btcScript is a Bitcoin P2PKH output script, the form ENSIP-9 stores coin
// type 0 in (https://docs.ens.domains/ensip/9).
var btcScript, _ = hex.DecodeString("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac")

// setUp registers the names the tests read, with the real contracts:
//
//	alice.eth      registrant alice, PublicResolver, addr/text/Polygon and Bitcoin addrs, alice's primary name
//	owned.alice.eth  subname owned by eve, no resolver
//	bob.eth        wrapped in the NameWrapper by bob, addr bob
//	carol.eth      registered to carol, then its registration transferred to dave
//	short.eth      alice, registered for one hour (the expiry test)
//	wild.eth       dave, resolver = wildResolver (answered by extendedRPC)
//	eve's primary name set to alice.eth (which does not resolve back to eve)
func setUp(ctx context.Context, c *evm.Chain) (*fixture, error) {
	f := &fixture{alice: c.Accounts[2], bob: c.Accounts[3], carol: c.Accounts[4], dave: c.Accounts[5], eve: c.Accounts[6],
		wildResolver: "0x00000000000000000000000000000000000e1510"}
	polygon, _ := hex.DecodeString(strings.TrimPrefix(f.alice, "0x"))
	steps := []func() error{
		func() error { return c.RegisterETH(ctx, "alice", f.alice, 10*year) },
		func() error { return c.SetAddr(ctx, f.alice, "alice.eth", f.alice) },
		func() error { return c.SetText(ctx, f.alice, "alice.eth", "url", "https://alice.example") },
		func() error { return c.SetText(ctx, f.alice, "alice.eth", "com.github", "alice") },
		func() error { return c.SetAddrCoin(ctx, f.alice, "alice.eth", 2147483785, polygon) },
		func() error { return c.SetAddrCoin(ctx, f.alice, "alice.eth", 0, btcScript) },
		func() error { return c.SetReverseName(ctx, f.alice, "alice.eth") },
		func() error { return c.SetSubname(ctx, f.alice, "alice.eth", "owned", f.eve, evm.ZeroAddress) },
		func() error { return c.RegisterETH(ctx, "bob", f.bob, 10*year) },
		func() error { return c.Wrap(ctx, "bob", f.bob) },
		func() error { return c.SetAddr(ctx, f.bob, "bob.eth", f.bob) },
		func() error { return c.RegisterETH(ctx, "carol", f.carol, 10*year) },
		func() error { return c.TransferETH(ctx, "carol", f.carol, f.dave) },
		func() error { return c.RegisterETH(ctx, "short", f.alice, time.Hour) },
		func() error { return c.RegisterETH(ctx, "wild", f.dave, 10*year) },
		func() error { return c.SetResolver(ctx, f.dave, "wild.eth", f.wildResolver) },
		func() error { return c.SetReverseName(ctx, f.eve, "alice.eth") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// rpcHost is the host name of the plugin's endpoint in the tests; its peer
// is rpc, which forwards to the chain unless a test swaps it (rpc.Use).
const rpcHost = "rpc.test"

// chainConfig is the plugin configuration for the sandbox: the endpoint,
// chain ID and contract addresses from ens-config.json (mainnet's when the
// chain is not installed; then no test that reaches it runs).
func chainConfig(c *evm.Chain) map[string]any {
	cfg := map[string]any{
		"rpcUrls":   []string{"http://" + rpcHost + "/"},
		"chainId":   evm.ChainID,
		"textKeys":  []string{"url", "com.github", "email"},
		"coinTypes": []uint64{2147483785, 0},
	}
	if c != nil {
		cfg["registry"], cfg["baseRegistrar"], cfg["nameWrapper"] = c.ENS.Registry, c.ENS.BaseRegistrar, c.ENS.NameWrapper
	}
	return cfg
}

// proxy forwards every request to the chain (see evm.Chain.Handler).
func proxy(c *evm.Chain) http.Handler { return c.Handler() }

var (
	pluginOnce sync.Once
	shared     *abiv1.ResolverClient
	sharedHost *plugintest.Host
	rpc        = evm.NewSwitch(nil)
	keeper     *evm.Keep
)

// sharedPlugin is the plugin's .wasm, built once and run once per test
// binary in the gateway's real runtime (compiling the module and building
// the ENSIP-15 tables cost seconds), reading the chain through rpc.
func sharedPlugin(t testing.TB) *abiv1.ResolverClient {
	t.Helper()
	chainOnce.Do(startChain)
	pluginOnce.Do(func() {
		rpc.Set(proxy(theChain))
		keeper = evm.NewKeep(t)
		sharedHost = plugintest.NewWasm(keeper, plugintest.BuildWasm(t, "."), plugintest.Options{
			Config: chainConfig(theChain), Peers: map[string]http.Handler{rpcHost: rpc}})
		shared = abiv1.NewResolverClient(sharedHost.Transport())
	})
	if shared == nil {
		t.Fatal("the shared plugin did not start")
	}
	return shared
}

// onChain is the shared plugin, with the chain and its fixture.
func onChain(t testing.TB) (*abiv1.ResolverClient, *evm.Chain, *fixture) {
	t.Helper()
	c, f := needChain(t)
	return sharedPlugin(t), c, f
}

// extendedRPC forwards JSON-RPC batches to the chain but answers the
// eth_calls to resolver itself as an ENSIP-10 extended resolver would
// (https://docs.ens.domains/ensip/10): supportsInterface(0x9061b923) is
// true, resolve(bytes name, bytes data) returns as bytes the ABI return of
// the inner call data, here addr(bytes32) → addr for every name, anything
// else reverts. The sandbox ships no contract implementing
// resolve(bytes,bytes) (only the IExtendedResolver interface), and the tests
// deploy no code that did not come with it, so this is the one piece of the
// chain that is reproduced. It records the DNS-encoded names it was asked.
type extendedRPC struct {
	next     http.Handler
	resolver string
	addr     string
	mu       sync.Mutex
	names    [][]byte
}

func (x *extendedRPC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var batch []struct {
		ID     int               `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, "not a batch", http.StatusBadRequest)
		return
	}
	rec := &bufferWriter{header: http.Header{}}
	r.Body = io.NopCloser(bytes.NewReader(body))
	x.next.ServeHTTP(rec, r)
	var replies []map[string]any
	if err := json.Unmarshal(rec.buf.Bytes(), &replies); err != nil {
		http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	for _, q := range batch {
		if q.Method != "eth_call" || len(q.Params) == 0 {
			continue
		}
		var call struct{ To, Data string }
		_ = json.Unmarshal(q.Params[0], &call)
		if !strings.EqualFold(call.To, x.resolver) {
			continue
		}
		data, _ := hex.DecodeString(strings.TrimPrefix(call.Data, "0x"))
		ret, ok := x.answer(data)
		for _, rep := range replies {
			if id, _ := rep["id"].(float64); int(id) == q.ID {
				delete(rep, "result")
				delete(rep, "error")
				if ok {
					rep["result"] = "0x" + hex.EncodeToString(ret)
				} else {
					rep["error"] = map[string]any{"code": 3, "message": "execution reverted"}
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(replies)
}

func (x *extendedRPC) answer(data []byte) ([]byte, bool) {
	word := func(i int) []byte { return data[4+32*i : 4+32*i+32] }
	dyn := func(i int) []byte {
		off := int(word(i)[31]) + 256*int(word(i)[30])
		n := int(data[4+off+31]) + 256*int(data[4+off+30])
		return data[4+off+32 : 4+off+32+n]
	}
	switch hex.EncodeToString(data[:4]) {
	case "01ffc9a7": // supportsInterface(bytes4)
		out := make([]byte, 32)
		if hex.EncodeToString(word(0)[:4]) == "9061b923" {
			out[31] = 1
		}
		return out, true
	case "9061b923": // resolve(bytes,bytes)
		name, inner := dyn(0), dyn(1)
		x.mu.Lock()
		x.names = append(x.names, bytes.Clone(name))
		x.mu.Unlock()
		if hex.EncodeToString(inner[:4]) != "3b3b57de" { // addr(bytes32)
			return nil, false
		}
		a, _ := hex.DecodeString(strings.TrimPrefix(x.addr, "0x"))
		innerRet := append(make([]byte, 12), a...)
		// abi.encode(bytes(innerRet))
		out := make([]byte, 64, 96)
		out[31] = 32
		out[63] = byte(len(innerRet))
		return append(out, innerRet...), true
	}
	return nil, false
}

type bufferWriter struct {
	header http.Header
	buf    bytes.Buffer
	status int
}

func (b *bufferWriter) Header() http.Header         { return b.header }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(s int)           { b.status = s }

func mustCode(t *testing.T, err error, code abiv1.ErrorCode) *abiv1.Error {
	t.Helper()
	e := abiv1.AsError(err)
	if err == nil || e.Code != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
	return e
}

func checksum(t testing.TB, a string) string {
	t.Helper()
	addr, err := pevm.ParseAddress(a)
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	return addr.Hex()
}

// rawBatch is the batch the plugin sends for CheckOwnership of alice.eth.
func rawBatch(c *evm.Chain) []byte {
	call := func(to string, data []byte) map[string]any {
		return map[string]any{"jsonrpc": "2.0", "method": "eth_call", "params": []any{
			map[string]string{"to": to, "data": "0x" + hex.EncodeToString(data)}, "latest"}}
	}
	node := pevm.Namehash("alice.eth")
	lh := pevm.Labelhash("alice")
	reqs := []map[string]any{
		{"jsonrpc": "2.0", "method": "eth_chainId", "params": []any{}},
		{"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []any{}},
		call(c.ENS.Registry, pevm.Encode("owner(bytes32)", node)),
		call(c.ENS.Registry, pevm.Encode("resolver(bytes32)", node)),
		call(c.ENS.NameWrapper, pevm.Encode("ownerOf(uint256)", node)),
		call(c.ENS.BaseRegistrar, pevm.Encode("ownerOf(uint256)", lh)),
		call(c.ENS.BaseRegistrar, pevm.Encode("nameExpires(uint256)", lh)),
	}
	for i, r := range reqs {
		r["id"] = i + 1
	}
	b, _ := json.Marshal(reqs)
	return b
}

// reportMedian reports the median of times as the metric "median-µs".
func reportMedian(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/float64(time.Microsecond), "median-µs")
}
