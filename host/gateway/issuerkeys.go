package gateway

import (
	"context"
	"crypto/ecdsa"
	"sync"

	"github.com/ubeu/gateway/host/did/hederadid"
	"github.com/ubeu/gateway/host/resolve"
)

// issuerKeys is the credential service's key source: the managed DIDs'
// keys, and their P-256 assertion keys for ES256. The first time a P-256
// key is asked for a DID in this process, its cached resolution is dropped:
// the key may just have been added to its document, and verifiers resolve
// through the same cache.
type issuerKeys struct {
	*hederadid.Service
	resolver *resolve.Resolver
	seen     sync.Map // DID → struct{}
}

func (k *issuerKeys) SigningKeyP256(ctx context.Context, did string) (string, *ecdsa.PrivateKey, error) {
	vm, key, err := k.Service.SigningKeyP256(ctx, did)
	if err != nil {
		return "", nil, err
	}
	if _, known := k.seen.LoadOrStore(did, struct{}{}); !known {
		if err := k.resolver.Invalidate(ctx, did); err != nil {
			k.seen.Delete(did)
			return "", nil, err
		}
	}
	return vm, key, nil
}
