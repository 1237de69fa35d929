package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/interop/evm"
	pevm "github.com/ubeu/gateway/plugins/internal/evm"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// Two chains loaded with the sandbox: l1 (chain ID 1337) stands for
// Ethereum, l2 (chain ID 137) for Polygon. Started once per test binary, on
// first use, and stopped by TestMain.
var (
	chainOnce sync.Once
	chainErr  error
	l1, l2    *evm.Chain
	world     *fixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	keeper.Run()
	l1.Close()
	l2.Close()
	os.Exit(code)
}

type fixture struct {
	alice, bob, carol, dave, eve string
}

func needChain(t testing.TB) (*fixture, *evm.Chain, *evm.Chain) {
	t.Helper()
	chainOnce.Do(startChains)
	evm.Require(t, chainErr)
	return world, l1, l2
}

func startChains() {
	ctx := context.Background()
	if l1, chainErr = evm.StartChain(ctx, 1337); chainErr != nil {
		return
	}
	if l2, chainErr = evm.StartChain(ctx, 137); chainErr != nil {
		return
	}
	world, chainErr = setUp(ctx)
}

// setUp mints, through the real MintingManager of each chain:
//
//	l1: alice.crypto (CNS) to alice with records; bob.x (UNS) to bob;
//	    gone.x to carol, then transferred to dave; moved.x to alice, then
//	    transferred to the bridge (MintableERC721Predicate), as a name
//	    that moved to Polygon is held on Ethereum
//	l2: moved.x and l2only.x to eve
func setUp(ctx context.Context) (*fixture, error) {
	f := &fixture{alice: l1.Accounts[2], bob: l1.Accounts[3], carol: l1.Accounts[4], dave: l1.Accounts[5], eve: l1.Accounts[6]}
	steps := []func() error{
		func() error {
			return l1.Mint(ctx, f.alice, "alice.crypto", []string{"crypto.ETH.address", "social.twitter.username"}, []string{f.alice, "alice"})
		},
		func() error { return l1.Mint(ctx, f.bob, "bob.x", []string{"crypto.ETH.address"}, []string{f.bob}) },
		func() error { return l1.Mint(ctx, f.carol, "gone.x", nil, nil) },
		func() error { return l1.TransferUNS(ctx, "gone.x", f.carol, f.dave) },
		func() error { return l1.Mint(ctx, f.alice, "moved.x", nil, nil) },
		func() error { return l1.TransferUNS(ctx, "moved.x", f.alice, l1.UNS.MintableERC721Predicate) },
		func() error { return l2.Mint(ctx, f.eve, "moved.x", []string{"crypto.ETH.address"}, []string{f.eve}) },
		func() error { return l2.Mint(ctx, f.eve, "l2only.x", nil, nil) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

const (
	l1Host = "l1.test"
	l2Host = "l2.test"
)

// chainConfig configures the plugin for the two chains, with the sandbox's
// ProxyReader and, on l1, its MintableERC721Predicate as the bridge.
func chainConfig() map[string]any {
	pr, bridge := "0x0000000000000000000000000000000000000001", ""
	if l1 != nil {
		pr, bridge = l1.UNS.ProxyReader, l1.UNS.MintableERC721Predicate
	}
	return map[string]any{
		"networks": []map[string]any{
			{"chainId": 1337, "rpcUrls": []string{"http://" + l1Host + "/"}, "proxyReader": pr, "bridge": bridge},
			{"chainId": 137, "rpcUrls": []string{"http://" + l2Host + "/"}, "proxyReader": pr},
		},
		"recordKeys": []string{"crypto.ETH.address", "social.twitter.username", "ipfs.html.value"},
	}
}

func proxy(c *evm.Chain) http.Handler { return c.Handler() }

var (
	pluginOnce sync.Once
	shared     *abiv1.ResolverClient
	rpc1, rpc2 = evm.NewSwitch(nil), evm.NewSwitch(nil)
	keeper     *evm.Keep
)

// sharedPlugin is the plugin's .wasm, built and started once per test
// binary in the gateway's real runtime.
func sharedPlugin(t testing.TB) *abiv1.ResolverClient {
	t.Helper()
	chainOnce.Do(startChains)
	pluginOnce.Do(func() {
		rpc1.Set(proxy(l1))
		rpc2.Set(proxy(l2))
		keeper = evm.NewKeep(t)
		h := plugintest.NewWasm(keeper, plugintest.BuildWasm(t, "."), plugintest.Options{
			Config: chainConfig(), Peers: map[string]http.Handler{l1Host: rpc1, l2Host: rpc2}})
		shared = abiv1.NewResolverClient(h.Transport())
	})
	if shared == nil {
		t.Fatal("the shared plugin did not start")
	}
	return shared
}

func onChain(t testing.TB) (*abiv1.ResolverClient, *fixture) {
	t.Helper()
	f, _, _ := needChain(t)
	return sharedPlugin(t), f
}

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

// rawBatch is the batch the plugin sends for CheckOwnership of name on l1.
func rawBatch(c *evm.Chain, name string) []byte {
	call := func(data []byte) map[string]any {
		return map[string]any{"jsonrpc": "2.0", "method": "eth_call", "params": []any{
			map[string]string{"to": c.UNS.ProxyReader, "data": "0x" + hex.EncodeToString(data)}, "latest"}}
	}
	token := pevm.Namehash(name)
	reqs := []map[string]any{
		{"jsonrpc": "2.0", "method": "eth_chainId", "params": []any{}},
		{"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []any{}},
		call(pevm.Encode("ownerOf(uint256)", token)),
		call(pevm.Encode("registryOf(uint256)", token)),
		call(pevm.Encode("resolverOf(uint256)", token)),
	}
	for i, r := range reqs {
		r["id"] = i + 1
	}
	b, _ := json.Marshal(reqs)
	return b
}

func reportMedian(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/float64(time.Microsecond), "median-µs")
}
