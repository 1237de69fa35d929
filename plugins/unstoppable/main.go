// Command unstoppable is the gatewayd resolver plugin for Unstoppable
// Domains names (.crypto, .x, .nft, .wallet, .blockchain, .bitcoin, .dao,
// .888, .zil, .polygon and the other UNS TLDs), built as a WebAssembly
// module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A name's token ID is uint256(namehash(name)), the EIP-137 namehash, as
// UNS defines it (https://docs.unstoppabledomains.com/resolution/guides/resolve-using-smart-contracts/).
// Names are lowercased; each label must be ASCII letters, digits and '-'.
// The plugin reads each configured network (Ethereum first, then Polygon by
// default) through its ProxyReader contract over Ethereum JSON-RPC
// (eth_chainId, eth_blockNumber, eth_call in one batch per network):
// ownerOf(tokenId), which answers the zero address for a name that does not
// exist there, registryOf and resolverOf, and getMany(keys, tokenId) for the
// records. A name lives on one network: the first whose owner is not zero
// and not the network's bridge (the MintableERC721Predicate that holds an
// Ethereum token while the name lives on Polygon) answers.
//
// Errors: INVALID_ARGUMENT for a malformed name, a TLD that is not UNS's or
// a bad address; NOT_FOUND when no network has the name; UNAVAILABLE
// (retryable) when no network has it and one of them could not be read
// (transport or HTTP error, JSON-RPC error, over-large or malformed reply,
// wrong chain ID, return data that does not decode); RATE_LIMITED on HTTP
// 429.
package main

import (
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

func init() {
	sdk.SetInfo("unstoppable", "0.1.0")
	resolver.Serve(unsResolver{})
}

func main() { sdk.Main() }
