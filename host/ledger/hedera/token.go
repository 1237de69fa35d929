package hedera

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"

	"github.com/ubeu/gateway/host/ledger"
)

var _ ledger.NFTLedger = (*Ledger)(nil)

// CreateNFTCollection creates a Hedera Token Service token of type
// NON_FUNGIBLE_UNIQUE with an infinite supply (names have no fixed
// bound), no decimals and no initial supply. The operator is its treasury
// account, admin key and supply key, and (as the SDK defaults) its
// auto-renew account. The fee comes from the transaction record.
func (l *Ledger) CreateNFTCollection(ctx context.Context, o ledger.NFTCollectionOptions) (string, ledger.Receipt, error) {
	if err := o.Check(); err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("hedera: create token: %w", err)
	}
	memo, err := txMemo(ctx)
	if err != nil {
		return "", ledger.Receipt{}, fmt.Errorf("hedera: create token: %w", err)
	}
	rec, err := runSDK(ctx, func() (hiero.TransactionRecord, error) {
		tx := hiero.NewTokenCreateTransaction().
			SetTransactionMemo(memo).
			SetTokenName(o.Name).
			SetTokenSymbol(o.Symbol).
			SetTokenMemo(o.Memo).
			SetTokenType(hiero.TokenTypeNonFungibleUnique).
			SetSupplyType(hiero.TokenSupplyTypeInfinite).
			SetDecimals(0).
			SetInitialSupply(0).
			SetTreasuryAccountID(l.operator).
			SetAdminKey(l.pub).
			SetSupplyKey(l.pub).
			SetMinBackoff(l.backoff).
			SetMaxBackoff(max(8*l.backoff, 8*time.Second))
		resp, err := tx.Execute(l.client)
		if err != nil {
			return hiero.TransactionRecord{}, err
		}
		return resp.GetRecord(l.client)
	})
	if err != nil {
		return "", ledger.Receipt{}, l.mapErr("create token", err)
	}
	if rec.Receipt.TokenID == nil {
		return "", ledger.Receipt{}, fmt.Errorf("%w: create token: receipt has no token ID", ledger.ErrRejected)
	}
	tokenID := rec.Receipt.TokenID.String()
	r := ledger.Receipt{
		ConsensusTime: rec.ConsensusTimestamp,
		TransactionID: rec.TransactionID.String(),
		FeeTinybars:   rec.TransactionFee.AsTinybar(),
		Chunks:        1,
	}
	l.log.InfoContext(ctx, "NFT collection created", "token", tokenID, "tx", r.TransactionID, "fee_tinybars", r.FeeTinybars)
	return tokenID, r, nil
}

// MintNFT mints one NFT with metadata (TokenMintTransaction, signed by the
// operator as supply key); it is held by the treasury. The serial comes
// from the receipt, the fee from the record.
//
// As with Submit, if ctx ends first MintNFT returns ledger.ErrUnavailable
// while the mint may still reach consensus; a retry may mint a second NFT.
func (l *Ledger) MintNFT(ctx context.Context, tokenID string, metadata []byte) (int64, ledger.Receipt, error) {
	tid, err := hiero.TokenIDFromString(tokenID)
	if err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("hedera: mint: %w: %q: %w", ledger.ErrTokenNotFound, tokenID, err)
	}
	if err := ledger.CheckNFTMetadata(metadata); err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("hedera: mint: %w", err)
	}
	memo, err := txMemo(ctx)
	if err != nil {
		return 0, ledger.Receipt{}, fmt.Errorf("hedera: mint: %w", err)
	}
	tokenID = tid.String()
	rec, err := runSDK(ctx, func() (hiero.TransactionRecord, error) {
		tx := hiero.NewTokenMintTransaction().
			SetTransactionMemo(memo).
			SetTokenID(tid).
			SetMetadata(metadata).
			SetMinBackoff(l.backoff).
			SetMaxBackoff(max(8*l.backoff, 8*time.Second))
		resp, err := tx.Execute(l.client)
		if err != nil {
			return hiero.TransactionRecord{}, err
		}
		return resp.GetRecord(l.client)
	})
	if err != nil {
		return 0, ledger.Receipt{}, l.mapErr("mint "+tokenID, err)
	}
	if len(rec.Receipt.SerialNumbers) != 1 {
		return 0, ledger.Receipt{}, fmt.Errorf("%w: mint %s: receipt has %d serial numbers, want 1", ledger.ErrRejected, tokenID, len(rec.Receipt.SerialNumbers))
	}
	serial := rec.Receipt.SerialNumbers[0]
	r := ledger.Receipt{
		ConsensusTime: rec.ConsensusTimestamp,
		TransactionID: rec.TransactionID.String(),
		FeeTinybars:   rec.TransactionFee.AsTinybar(),
		Chunks:        1,
	}
	l.log.DebugContext(ctx, "NFT minted", "token", tokenID, "serial", serial, "tx", r.TransactionID, "fee_tinybars", r.FeeTinybars)
	return serial, r, nil
}

// mirrorNFT is GET /tokens/{tokenId}/nfts/{serialNumber}
// (https://docs.hedera.com/api-reference/tokens/get-nft-info).
type mirrorNFT struct {
	AccountID        *string `json:"account_id"`
	CreatedTimestamp *string `json:"created_timestamp"`
	Deleted          bool    `json:"deleted"`
	Metadata         string  `json:"metadata"`
	SerialNumber     int64   `json:"serial_number"`
	TokenID          *string `json:"token_id"`
}

// NFT reads a minted NFT from the mirror node. An NFT the mirror does not
// know (yet, or at all) or that was deleted is ledger.ErrTokenNotFound;
// TransactionID is left empty (the mirror's NFT resource does not carry it).
func (l *Ledger) NFT(ctx context.Context, tokenID string, serial int64) (ledger.NFT, error) {
	tid, err := hiero.TokenIDFromString(tokenID)
	if err != nil || serial < 1 {
		return ledger.NFT{}, fmt.Errorf("hedera: NFT: %w: %q serial %d", ledger.ErrTokenNotFound, tokenID, serial)
	}
	var doc mirrorNFT
	if err := l.mirror.get(ctx, fmt.Sprintf("/tokens/%s/nfts/%d", tid, serial), &doc); err != nil {
		if errors.Is(err, errMirrorNotFound) {
			return ledger.NFT{}, fmt.Errorf("hedera: NFT: %w: %s serial %d", ledger.ErrTokenNotFound, tid, serial)
		}
		return ledger.NFT{}, fmt.Errorf("hedera: NFT %s/%d: %w", tid, serial, err)
	}
	if doc.Deleted {
		return ledger.NFT{}, fmt.Errorf("hedera: NFT: %w: %s serial %d was deleted", ledger.ErrTokenNotFound, tid, serial)
	}
	meta, err := base64.StdEncoding.DecodeString(doc.Metadata)
	if err != nil || doc.SerialNumber != serial {
		return ledger.NFT{}, fmt.Errorf("%w: mirror: malformed NFT %s/%d", ledger.ErrUnavailable, tid, serial)
	}
	n := ledger.NFT{TokenID: tid.String(), Serial: serial, Metadata: meta}
	if doc.AccountID != nil {
		n.Owner = *doc.AccountID
	}
	if doc.CreatedTimestamp != nil {
		if n.MintedAt, err = parseTimestamp(*doc.CreatedTimestamp); err != nil {
			return ledger.NFT{}, fmt.Errorf("%w: mirror: NFT %s/%d: created_timestamp: %w", ledger.ErrUnavailable, tid, serial, err)
		}
	}
	return n, nil
}
