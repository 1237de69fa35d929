package gateway_test

import (
	"context"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/web3"
)

// benchRegistry answers for one name owned by one address (in process:
// on a warm cache the plugin is not on the path being measured).
type benchRegistry struct{ owner string }

func (r benchRegistry) Resolve(context.Context, *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	return &abiv1.ResolveResponse{Owners: []*abiv1.Address{{Chain: web3.ChainEthereum, Address: r.owner}}}, nil
}

func (r benchRegistry) CheckOwnership(_ context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return &abiv1.CheckOwnershipResponse{Owns: req.Address.Address == r.owner}, nil
}

type benchPlugins map[string]abiv1.Transport

func (p benchPlugins) Get(name string) (abiv1.Transport, bool) { t, ok := p[name]; return t, ok }

// BenchmarkChainNameResolveCached is one cached resolution of a proven
// .eth name (name → the prover's DID → its document, both from the edge
// cache) through the whole chain, in process, beside
// BenchmarkChainDIDResolveCached (the same DID resolved directly) and
// BenchmarkBareMapHandler.
func BenchmarkChainNameResolveCached(b *testing.B) {
	g := benchGateway(b)
	ctx := context.Background()
	p, _, err := g.Identity.CreatePrimary(ctx, "bench", "individual")
	if err != nil {
		b.Fatal(err)
	}
	const owner = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	g.Web3.SetPlugins(benchPlugins{"ens": abiv1.HandlerTransport(abiv1.DispatchResolver(benchRegistry{owner}))})
	if _, _, err := g.Web3.Store(ctx, "bench", p.DID, &web3.Proof{Name: "alice.eth", Registry: "ENS", Network: "ethereum",
		Chain: web3.ChainEthereum, Address: owner}); err != nil {
		b.Fatal(err)
	}
	h := g.Server.Handler()
	rc := newCtx("/1.0/identifiers/alice.eth")
	h(rc)
	if rc.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
	}
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(rc)
	}
}
