package evm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ZeroAddress is the address 0x000…0.
const ZeroAddress = "0x0000000000000000000000000000000000000000"

var controllerMu sync.Mutex

// Deployer is account 0 of the sandbox.
func (c *Chain) Deployer() string { return c.Accounts[0] }

// Minter is account 1 of the sandbox, the UNS minter.
func (c *Chain) Minter() string { return c.Accounts[1] }

// RegisterETH registers label.eth for owner for d with the real
// BaseRegistrarImplementation: once per chain it impersonates the
// registrar's owner to add the deployer as a controller, then calls
// register(labelhash, owner, d) as the deployer; owner then sets the
// PublicResolver as the name's resolver in the ENSRegistry.
func (c *Chain) RegisterETH(ctx context.Context, label, owner string, d time.Duration) error {
	controllerMu.Lock()
	if !c.ctl {
		ret, err := c.Call(ctx, c.ENS.BaseRegistrar, Calldata("owner()"))
		if err != nil {
			controllerMu.Unlock()
			return err
		}
		regOwner, err := WordAddress(ret)
		if err != nil {
			controllerMu.Unlock()
			return err
		}
		if err := c.Send(ctx, regOwner, c.ENS.BaseRegistrar, Calldata("addController(address)", Addr(c.Deployer()))); err != nil {
			controllerMu.Unlock()
			return fmt.Errorf("evm: addController: %w", err)
		}
		c.ctl = true
	}
	controllerMu.Unlock()
	if err := c.Send(ctx, c.Deployer(), c.ENS.BaseRegistrar, Calldata("register(uint256,address,uint256)",
		Labelhash(label), Addr(owner), Uint(d/time.Second))); err != nil {
		return fmt.Errorf("evm: register %s.eth: %w", label, err)
	}
	return c.SetResolver(ctx, owner, label+".eth", c.ENS.PublicResolver)
}

// SetResolver sets name's resolver in the ENSRegistry, sent by from.
func (c *Chain) SetResolver(ctx context.Context, from, name, resolver string) error {
	if err := c.Send(ctx, from, c.ENS.Registry, Calldata("setResolver(bytes32,address)", Namehash(name), Addr(resolver))); err != nil {
		return fmt.Errorf("evm: setResolver %s: %w", name, err)
	}
	return nil
}

// SetSubname creates label.parent in the ENSRegistry with owner and
// resolver (ZeroAddress for none), sent by from, the parent's owner.
func (c *Chain) SetSubname(ctx context.Context, from, parent, label, owner, resolver string) error {
	if err := c.Send(ctx, from, c.ENS.Registry, Calldata("setSubnodeRecord(bytes32,bytes32,address,address,uint64)",
		Namehash(parent), Labelhash(label), Addr(owner), Addr(resolver), Uint(0))); err != nil {
		return fmt.Errorf("evm: setSubnodeRecord %s.%s: %w", label, parent, err)
	}
	return nil
}

// SetAddr sets name's ETH address (addr(bytes32)) in the PublicResolver.
func (c *Chain) SetAddr(ctx context.Context, from, name, addr string) error {
	if err := c.Send(ctx, from, c.ENS.PublicResolver, Calldata("setAddr(bytes32,address)", Namehash(name), Addr(addr))); err != nil {
		return fmt.Errorf("evm: setAddr %s: %w", name, err)
	}
	return nil
}

// SetAddrCoin sets name's address for an ENSIP-9 coin type in the
// PublicResolver (setAddr(bytes32,uint256,bytes)).
func (c *Chain) SetAddrCoin(ctx context.Context, from, name string, coinType uint64, addr []byte) error {
	if err := c.Send(ctx, from, c.ENS.PublicResolver, Calldata("setAddr(bytes32,uint256,bytes)", Namehash(name), Uint(coinType), Bytes(addr))); err != nil {
		return fmt.Errorf("evm: setAddr %s coin %d: %w", name, coinType, err)
	}
	return nil
}

// SetText sets a text record of name in the PublicResolver.
func (c *Chain) SetText(ctx context.Context, from, name, key, value string) error {
	if err := c.Send(ctx, from, c.ENS.PublicResolver, Calldata("setText(bytes32,string,string)", Namehash(name), Str(key), Str(value))); err != nil {
		return fmt.Errorf("evm: setText %s %s: %w", name, key, err)
	}
	return nil
}

// SetReverseName makes name the primary name of addr with the real
// ReverseRegistrar (setName, sent by addr), which records it in its default
// resolver under <addr>.addr.reverse.
func (c *Chain) SetReverseName(ctx context.Context, addr, name string) error {
	if err := c.Send(ctx, addr, c.ENS.ReverseRegistrar, Calldata("setName(string)", Str(name))); err != nil {
		return fmt.Errorf("evm: reverse setName %s: %w", name, err)
	}
	return nil
}

// Wrap wraps label.eth, registered to owner, in the NameWrapper: owner
// approves the wrapper on the BaseRegistrar and calls wrapETH2LD with no
// fuses and the PublicResolver.
func (c *Chain) Wrap(ctx context.Context, label, owner string) error {
	if err := c.Send(ctx, owner, c.ENS.BaseRegistrar, Calldata("setApprovalForAll(address,bool)", Addr(c.ENS.NameWrapper), Bool(true))); err != nil {
		return fmt.Errorf("evm: approve wrapper: %w", err)
	}
	if err := c.Send(ctx, owner, c.ENS.NameWrapper, Calldata("wrapETH2LD(string,address,uint16,address)",
		Str(label), Addr(owner), Uint(0), Addr(c.ENS.PublicResolver))); err != nil {
		return fmt.Errorf("evm: wrapETH2LD %s: %w", label, err)
	}
	return nil
}

// TransferETH transfers the registration of label.eth (the BaseRegistrar
// token) from from to to. The ENSRegistry's owner (the manager) is left as
// it was, as on mainnet until the new registrant calls reclaim.
func (c *Chain) TransferETH(ctx context.Context, label, from, to string) error {
	if err := c.Send(ctx, from, c.ENS.BaseRegistrar, Calldata("transferFrom(address,address,uint256)", Addr(from), Addr(to), Labelhash(label))); err != nil {
		return fmt.Errorf("evm: transfer %s.eth: %w", label, err)
	}
	return nil
}

// TransferWrapped transfers the NameWrapper token of name from from to to.
func (c *Chain) TransferWrapped(ctx context.Context, name, from, to string) error {
	if err := c.Send(ctx, from, c.ENS.NameWrapper, Calldata("safeTransferFrom(address,address,uint256,uint256,bytes)",
		Addr(from), Addr(to), Namehash(name), Uint(1), Bytes(nil))); err != nil {
		return fmt.Errorf("evm: transfer wrapped %s: %w", name, err)
	}
	return nil
}

// Mint issues the UNS name labels[0].labels[1]… to to with records through
// the real MintingManager (issueWithRecords, sent by the minter). In the
// sandbox .crypto second-level names land in the CNS registry, the other
// TLDs in the UNS registry.
func (c *Chain) Mint(ctx context.Context, to string, name string, keys, values []string) error {
	if keys == nil {
		keys, values = []string{}, []string{}
	}
	if err := c.Send(ctx, c.Minter(), c.UNS.MintingManager, Calldata("issueWithRecords(address,string[],string[],string[],bool)",
		Addr(to), Strs(strings.Split(name, ".")), Strs(keys), Strs(values), Bool(false))); err != nil {
		return fmt.Errorf("evm: mint %s: %w", name, err)
	}
	return nil
}

// TransferUNS transfers the UNS or CNS token of name (whichever registry
// ProxyReader.registryOf names) from from to to.
func (c *Chain) TransferUNS(ctx context.Context, name, from, to string) error {
	ret, err := c.Call(ctx, c.UNS.ProxyReader, Calldata("registryOf(uint256)", Namehash(name)))
	if err != nil {
		return err
	}
	reg, err := WordAddress(ret)
	if err != nil {
		return err
	}
	if reg == ZeroAddress {
		return fmt.Errorf("evm: %s is in no registry", name)
	}
	if err := c.Send(ctx, from, reg, Calldata("transferFrom(address,address,uint256)", Addr(from), Addr(to), Namehash(name))); err != nil {
		return fmt.Errorf("evm: transfer %s: %w", name, err)
	}
	return nil
}

// OwnerOf returns the address the view function sig(bytes32 or uint256)
// of contract returns for name's namehash, e.g.
// OwnerOf(ctx, c.UNS.ProxyReader, "ownerOf(uint256)", "alice.crypto").
func (c *Chain) OwnerOf(ctx context.Context, contract, sig, name string) (string, error) {
	ret, err := c.Call(ctx, contract, Calldata(sig, Namehash(name)))
	if err != nil {
		return "", err
	}
	return WordAddress(ret)
}
