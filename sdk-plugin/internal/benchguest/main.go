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
	resolve := abiv1.DispatchResolver(benchdata.Resolver{})
	sdk.Register(abiv1.IfaceResolver, func(ctx context.Context, method uint32, req []byte) ([]byte, error) {
		if method == abiv1.MethodResolverCheckOwnership {
			return req, nil // echo: req is valid until the call returns
		}
		return resolve(ctx, method, req)
	})
}

func main() { sdk.Main() }
