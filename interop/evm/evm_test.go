package evm

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSandbox starts the chain, checks that the sandbox's contracts are
// there, and runs each helper once against them.
func TestSandbox(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	c, err := Start(ctx)
	Require(t, err)
	defer c.Close()
	t.Logf("anvil up and loaded in %v", time.Since(start))
	if len(c.Accounts) < 4 {
		t.Fatalf("accounts: %v", c.Accounts)
	}
	// The .eth node is owned by the BaseRegistrar, addr.reverse by the ReverseRegistrar.
	eth, err := c.OwnerOf(ctx, c.ENS.Registry, "owner(bytes32)", "eth")
	if err != nil || !strings.EqualFold(eth, c.ENS.BaseRegistrar) {
		t.Fatalf("owner(eth) = %s, %v; want %s", eth, err, c.ENS.BaseRegistrar)
	}
	rev, err := c.OwnerOf(ctx, c.ENS.Registry, "owner(bytes32)", "addr.reverse")
	t.Logf("owner(addr.reverse) = %s %v (reverse registrar %s)", rev, err, c.ENS.ReverseRegistrar)

	alice := c.Accounts[2]
	if err := c.RegisterETH(ctx, "alice", alice, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if o, err := c.OwnerOf(ctx, c.ENS.BaseRegistrar, "ownerOf(uint256)", "x"); err == nil {
		t.Logf("unexpected owner of x: %s", o)
	}
	ret, err := c.Call(ctx, c.ENS.BaseRegistrar, Calldata("ownerOf(uint256)", Labelhash("alice")))
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := WordAddress(ret); !strings.EqualFold(o, alice) {
		t.Fatalf("registrant %s, want %s", o, alice)
	}
	if err := c.SetAddr(ctx, alice, "alice.eth", alice); err != nil {
		t.Fatal(err)
	}
	if err := c.SetText(ctx, alice, "alice.eth", "url", "https://alice.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReverseName(ctx, alice, "alice.eth"); err != nil {
		t.Fatal(err)
	}
	if err := c.Wrap(ctx, "alice", alice); err != nil {
		t.Fatal(err)
	}
	if o, err := c.OwnerOf(ctx, c.ENS.NameWrapper, "ownerOf(uint256)", "alice.eth"); err != nil || !strings.EqualFold(o, alice) {
		t.Fatalf("wrapped owner %s %v", o, err)
	}
	if err := c.Mint(ctx, alice, "alice.crypto", []string{"crypto.ETH.address"}, []string{alice}); err != nil {
		t.Fatal(err)
	}
	if err := c.Mint(ctx, alice, "alice.x", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice.crypto", "alice.x"} {
		o, err := c.OwnerOf(ctx, c.UNS.ProxyReader, "ownerOf(uint256)", n)
		if err != nil || !strings.EqualFold(o, alice) {
			t.Fatalf("%s owner %s %v", n, o, err)
		}
		reg, _ := c.OwnerOf(ctx, c.UNS.ProxyReader, "registryOf(uint256)", n)
		t.Logf("%s in registry %s (uns %s cns %s)", n, reg, c.UNS.UNSRegistry, c.UNS.CNSRegistry)
	}
	if err := c.TransferUNS(ctx, "alice.x", alice, c.Accounts[3]); err != nil {
		t.Fatal(err)
	}
	if o, _ := c.OwnerOf(ctx, c.UNS.ProxyReader, "ownerOf(uint256)", "alice.x"); !strings.EqualFold(o, c.Accounts[3]) {
		t.Fatalf("after transfer: %s", o)
	}
	if o, _ := c.OwnerOf(ctx, c.UNS.ProxyReader, "ownerOf(uint256)", "nobody.x"); o != ZeroAddress {
		t.Fatalf("nobody.x owner %s", o)
	}
}
