// Command ens is the gatewayd resolver plugin for ENS names (EIP-137),
// built as a WebAssembly module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// Names are normalised per ENSIP-15 (github.com/adraffy/go-ens-normalize,
// which ships the official vectors); anything that fails normalisation is
// INVALID_ARGUMENT. It reads the chain through the host's HTTP capability
// with Ethereum JSON-RPC (eth_chainId, eth_blockNumber, eth_call, in
// batches) from the configured endpoints, whose chain ID must be the
// configured one.
//
// Resolve answers the owner (see owner rules below), the resolver contract,
// the ETH address ("addr.60", addr(bytes32)), the ENSIP-9 multichain
// addresses of the configured coin types ("addr.<coinType>",
// addr(bytes32,uint256)), the configured text records ("text.<key>"), and
// for a .eth second-level name its expiry. A name without a resolver of its
// own is resolved per ENSIP-10 through the nearest ancestor's resolver when
// that supports resolve(bytes,bytes) (interface 0x9061b923); a resolver
// that supports it is always called through it. "<address>.addr.reverse" or
// a bare "0x…" address resolves in reverse (EIP-181 / ENSIP-3): the
// resolver's name(bytes32) of the reverse node, kept only if the name
// resolves forward to the same address; the answer is the record "name".
//
// Owner rules: a .eth second-level name is owned by its registrant,
// BaseRegistrar.ownerOf(uint256(labelhash)), which reverts once the
// registration expired (nameExpires), so an expired name has no owner even
// while the registry still lists the last one; any other name is owned by
// ENSRegistry.owner(namehash). When that owner is the NameWrapper, the real
// owner is NameWrapper.ownerOf(uint256(namehash)).
//
// Errors: INVALID_ARGUMENT for a name that fails normalisation or a bad
// address; NOT_FOUND for a name with no owner and no resolver, an expired
// one, or a reverse record that is missing or does not resolve back;
// UNAVAILABLE (retryable) when no endpoint gives a good answer (transport
// error, HTTP error, JSON-RPC error, an over-large or malformed reply, a
// wrong chain ID, return data that does not decode); RATE_LIMITED on HTTP
// 429.
//
// Cost: building go-ens-normalize's ENSIP-15 tables allocates ~43 MB and
// takes ~0.15–0.35 s natively but seconds inside the Go Wasm guest (7–20 s
// measured on a loaded 2-core machine), so init does it when an instance
// starts rather than under the deadline of its first call. Instances are
// pooled: the cost is paid once per instance, and a call costs ~3 ms
// against a local chain (see BenchmarkCheckOwnership).
package main

import (
	"github.com/adraffy/go-ens-normalize/ensip15"

	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

func init() {
	// Build the ENSIP-15 tables while the instance starts, not under the
	// deadline of its first call (see normalise).
	ensip15.Shared()
	sdk.SetInfo("ens", "0.1.0")
	resolver.Serve(ensResolver{})
}

func main() { sdk.Main() }
