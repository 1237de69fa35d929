// Command benchguest is a plugin used by the SDK's benchmarks: Resolve
// decodes its request and builds and encodes a realistic ResolveResponse;
// CheckOwnership returns its input bytes unchanged (a raw round trip).
package main

import (
	"context"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/internal/benchdata"
)

func init() {
	resolve := abiv1.DispatchResolver(resolverImpl{})
	sdk.Register(abiv1.IfaceResolver, func(ctx context.Context, method uint32, req []byte) ([]byte, error) {
		if method == abiv1.MethodResolverCheckOwnership {
			return req, nil // echo: req is valid until the call returns
		}
		return resolve(ctx, method, req)
	})
}

type resolverImpl struct{}

func (resolverImpl) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	return benchdata.ResolveResponse(req.Name), nil
}

func (resolverImpl) CheckOwnership(context.Context, *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return nil, abiv1.Unimplemented(abiv1.MethodResolverCheckOwnership)
}

func main() { sdk.Main() }
