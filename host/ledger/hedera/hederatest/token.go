package hederatest

import (
	"context"
	"fmt"
	"time"

	"github.com/hiero-ledger/hiero-sdk-go/v2/proto/services"
	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"
)

// Token Service fees in US cents. They are estimates taken from the
// published fee schedule (https://hedera.com/fees, tables at
// https://docs.hedera.com/networks/fees): TokenCreate $1.00 and TokenMint
// of one NFT $0.02. The real fee varies with signatures, keys, custom fees
// and the fee schedule in force; these are variables so that a test can
// model other prices.
var (
	TokenCreateCents  = 100.0 // $1.00
	TokenMintNFTCents = 2.0   // $0.02 per NFT
)

// Limits of the Token Service that the fake enforces.
const (
	maxTokenText   = 100 // name, symbol, memo: bytes
	maxNFTMetadata = 100 // bytes per NFT
	maxMintBatch   = 10  // NFTs per TokenMint (tokens.nfts.maxBatchSizeMint)
)

type token struct {
	id        *services.TokenID
	name      string
	symbol    string
	memo      string
	treasury  string
	supplyKey *hiero.PublicKey // nil: no supply key
	created   time.Time
	nfts      []*storedNFT // serial i+1 at index i
}

type storedNFT struct {
	serial   int64
	metadata []byte
	minted   time.Time
	owner    string
}

// tokenServer adapts Network to the generated TokenService interface.
type tokenServer struct {
	services.UnimplementedTokenServiceServer
	n *Network
}

func (s tokenServer) CreateToken(ctx context.Context, tx *services.Transaction) (*services.TransactionResponse, error) {
	return s.n.handle(ctx, tx, "tokenCreate")
}

func (s tokenServer) MintToken(ctx context.Context, tx *services.Transaction) (*services.TransactionResponse, error) {
	return s.n.handle(ctx, tx, "tokenMint")
}

// protoKey converts a single ED25519 or ECDSA(secp256k1) key; other key
// forms (lists, thresholds, contracts) are not modelled.
func protoKey(k *services.Key) (hiero.PublicKey, bool) {
	var (
		pk  hiero.PublicKey
		err error
	)
	switch {
	case k.GetEd25519() != nil:
		pk, err = hiero.PublicKeyFromBytesEd25519(k.GetEd25519())
	case k.GetECDSASecp256K1() != nil:
		pk, err = hiero.PublicKeyFromBytesECDSA(k.GetECDSASecp256K1())
	default:
		return hiero.PublicKey{}, false
	}
	return pk, err == nil
}

// checkTokenCreate validates a TokenCreate; called with n.mu held, after
// the payer's signature was checked.
func (n *Network) checkTokenCreate(b *services.TokenCreateTransactionBody, signed *services.SignedTransaction) services.ResponseCodeEnum {
	switch {
	case b.GetTokenType() != services.TokenType_NON_FUNGIBLE_UNIQUE:
		return services.ResponseCodeEnum_NOT_SUPPORTED // this fake models NFTs only
	case b.GetName() == "":
		return services.ResponseCodeEnum_MISSING_TOKEN_NAME
	case len(b.GetName()) > maxTokenText:
		return services.ResponseCodeEnum_TOKEN_NAME_TOO_LONG
	case b.GetSymbol() == "":
		return services.ResponseCodeEnum_MISSING_TOKEN_SYMBOL
	case len(b.GetSymbol()) > maxTokenText:
		return services.ResponseCodeEnum_TOKEN_SYMBOL_TOO_LONG
	case len(b.GetMemo()) > maxTokenText:
		return services.ResponseCodeEnum_MEMO_TOO_LONG
	case b.GetInitialSupply() != 0:
		return services.ResponseCodeEnum_INVALID_TOKEN_INITIAL_SUPPLY
	case b.GetDecimals() != 0:
		return services.ResponseCodeEnum_INVALID_TOKEN_DECIMALS
	case b.GetSupplyType() == services.TokenSupplyType_INFINITE && b.GetMaxSupply() != 0,
		b.GetSupplyType() == services.TokenSupplyType_FINITE && b.GetMaxSupply() <= 0:
		return services.ResponseCodeEnum_INVALID_TOKEN_MAX_SUPPLY
	case b.GetTreasury() == nil || accountString(b.GetTreasury()) != n.operator.String():
		// The operator is the only account this node knows; the treasury
		// must also sign, which the payer's signature covers.
		return services.ResponseCodeEnum_INVALID_TREASURY_ACCOUNT_FOR_TOKEN
	}
	if b.GetSupplyKey() != nil {
		if _, ok := protoKey(b.GetSupplyKey()); !ok {
			return services.ResponseCodeEnum_INVALID_SUPPLY_KEY
		}
	}
	if b.GetAdminKey() != nil {
		// The admin key, when set, must sign the creation.
		admin, ok := protoKey(b.GetAdminKey())
		if !ok {
			return services.ResponseCodeEnum_INVALID_ADMIN_KEY
		}
		if !signedBy(admin, signed) {
			return services.ResponseCodeEnum_INVALID_SIGNATURE
		}
	}
	return services.ResponseCodeEnum_OK
}

// checkTokenMint validates a TokenMint of NFTs and returns the token;
// called with n.mu held.
func (n *Network) checkTokenMint(b *services.TokenMintTransactionBody, signed *services.SignedTransaction) (*token, services.ResponseCodeEnum) {
	t, ok := n.tokens[tokenString(b.GetToken())]
	if !ok {
		return nil, services.ResponseCodeEnum_INVALID_TOKEN_ID
	}
	if t.supplyKey == nil {
		return nil, services.ResponseCodeEnum_TOKEN_HAS_NO_SUPPLY_KEY
	}
	if !signedBy(*t.supplyKey, signed) {
		return nil, services.ResponseCodeEnum_INVALID_SIGNATURE
	}
	meta := b.GetMetadata()
	switch {
	case b.GetAmount() != 0:
		return nil, services.ResponseCodeEnum_INVALID_TOKEN_MINT_AMOUNT // NFTs are minted by metadata
	case len(meta) == 0:
		return nil, services.ResponseCodeEnum_INVALID_TOKEN_MINT_METADATA
	case len(meta) > maxMintBatch:
		return nil, services.ResponseCodeEnum_BATCH_SIZE_LIMIT_EXCEEDED
	}
	for _, m := range meta {
		if len(m) > maxNFTMetadata {
			return nil, services.ResponseCodeEnum_METADATA_TOO_LONG
		}
	}
	return t, services.ResponseCodeEnum_OK
}

// createToken stores a checked TokenCreate; called with n.mu held.
func (n *Network) createToken(b *services.TokenCreateTransactionBody, now time.Time) *services.TokenID {
	n.nextEntity++
	id := &services.TokenID{TokenNum: n.nextEntity}
	t := &token{
		id:       id,
		name:     b.GetName(),
		symbol:   b.GetSymbol(),
		memo:     b.GetMemo(),
		treasury: accountString(b.GetTreasury()),
		created:  now,
	}
	if k, ok := protoKey(b.GetSupplyKey()); ok {
		t.supplyKey = &k
	}
	n.tokens[tokenString(id)] = t
	return id
}

// mint appends the NFTs and returns their serials and the new supply.
func (t *token) mint(meta [][]byte, now time.Time) ([]int64, uint64) {
	serials := make([]int64, 0, len(meta))
	for _, m := range meta {
		s := int64(len(t.nfts)) + 1
		t.nfts = append(t.nfts, &storedNFT{serial: s, metadata: append([]byte(nil), m...), minted: now, owner: t.treasury})
		serials = append(serials, s)
	}
	return serials, uint64(len(t.nfts))
}

func tokenString(t *services.TokenID) string {
	return fmt.Sprintf("%d.%d.%d", t.GetShardNum(), t.GetRealmNum(), t.GetTokenNum())
}

// NFTCount returns how many NFTs a token has minted (0 for unknown tokens).
func (n *Network) NFTCount(tokenID string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.tokens[tokenID]; ok {
		return len(t.nfts)
	}
	return 0
}

// nftVisible returns an NFT if the mirror may show it at now.
func (n *Network) nftVisible(tokenID string, serial int64, now time.Time) (*token, *storedNFT, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.tokens[tokenID]
	if !ok || serial < 1 || serial > int64(len(t.nfts)) {
		return nil, nil, false
	}
	nft := t.nfts[serial-1]
	if nft.minted.Add(n.mirrorLag).After(now) {
		return nil, nil, false
	}
	return t, nft, true
}
