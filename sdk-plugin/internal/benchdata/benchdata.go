// Package benchdata builds the realistic messages used by benchmarks.
package benchdata

import (
	"context"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// ResolveResponse returns a realistic answer for an ENS-like name: three
// owners on different chains, eight text records, a DID, a resolver
// contract and an expiry (about 700 bytes encoded).
func ResolveResponse(name string) *abiv1.ResolveResponse {
	return &abiv1.ResolveResponse{
		Owners: []*abiv1.Address{
			{Chain: "eip155:1", Address: "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"},
			{Chain: "eip155:137", Address: "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"},
			{Chain: "hedera:mainnet", Address: "0.0.4515756"},
		},
		Records: map[string]string{
			"email":        "vitalik@" + name,
			"url":          "https://vitalik.ca",
			"avatar":       "eip155:1/erc1155:0xb32979486938aa9694bfc898f35dbed459f44424/10063",
			"description":  "mi pinxe lo crino tcati",
			"com.github":   "vbuterin",
			"com.twitter":  "VitalikButerin",
			"org.telegram": "vitalik_buterin",
			"contenthash":  "ipfs://bafybeie5gq4jxvzmsym6hjlwxej4rwdoxt7wadqvmmwbqi7r27fclha2va",
		},
		DID:              "did:pkh:eip155:1:0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045",
		ResolverContract: &abiv1.Address{Chain: "eip155:1", Address: "0x231b0Ee14048e9dCcD1d247744d114a4EB5E8E63"},
		ExpiresUnix:      2035324800,
	}
}

// Resolver is the benchmark guest's resolver: Resolve answers
// ResolveResponse(name). The guest and the native baseline run this same
// code.
type Resolver struct{}

// Resolve answers the realistic response for req.Name.
func (Resolver) Resolve(_ context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	return ResolveResponse(req.Name), nil
}

// CheckOwnership is not part of the benchmark.
func (Resolver) CheckOwnership(context.Context, *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return nil, abiv1.Unimplemented(abiv1.MethodResolverCheckOwnership)
}
