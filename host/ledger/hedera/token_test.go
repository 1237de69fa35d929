package hedera

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/hedera/hederatest"
)

var namesCollection = ledger.NFTCollectionOptions{Name: "gatewayd .iam names", Symbol: "IAM", Memo: "test"}

func TestNFTCreateAndMint(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 10})
	l := f.open(t)
	ctx := t.Context()

	topic, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokenID, cr, err := l.CreateNFTCollection(ctx, namesCollection)
	if err != nil {
		t.Fatal(err)
	}
	if topic.TopicID != "0.0.1001" || tokenID != "0.0.1002" {
		t.Errorf("topic %s, token %s: want one entity counter (0.0.1001, 0.0.1002)", topic.TopicID, tokenID)
	}
	if want := f.net.FeeTinybars(hederatest.TokenCreateCents); cr.FeeTinybars != want || want != 1_000_000_000 {
		t.Errorf("create fee = %d tinybars, want %d ($1.00 at 10¢/ℏ = 10 ℏ)", cr.FeeTinybars, want)
	}
	if !strings.HasPrefix(cr.TransactionID, operatorID+"@") || cr.ConsensusTime.IsZero() {
		t.Errorf("create receipt %+v", cr)
	}

	mintFee := f.net.FeeTinybars(hederatest.TokenMintNFTCents)
	if mintFee != 20_000_000 {
		t.Fatalf("mint fee %d tinybars, want 0.2 ℏ", mintFee)
	}
	var last ledger.Receipt
	for i := int64(1); i <= 3; i++ {
		serial, r, err := l.MintNFT(ctx, tokenID, fmt.Appendf(nil, "iam:n%d.iam", i))
		if err != nil {
			t.Fatal(err)
		}
		if serial != i {
			t.Errorf("mint %d: serial %d", i, serial)
		}
		if r.FeeTinybars != mintFee || !r.ConsensusTime.After(cr.ConsensusTime) || !r.ConsensusTime.After(last.ConsensusTime) {
			t.Errorf("mint %d receipt %+v", i, r)
		}
		last = r
	}
	if n := f.net.NFTCount(tokenID); n != 3 {
		t.Errorf("node holds %d NFTs, want 3", n)
	}

	// Read back from the mirror, raw and through the backend.
	resp, err := http.Get(f.net.MirrorURL + "/tokens/" + tokenID + "/nfts/2")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccountID    string `json:"account_id"`
		Created      string `json:"created_timestamp"`
		Deleted      bool   `json:"deleted"`
		Metadata     string `json:"metadata"`
		SerialNumber int64  `json:"serial_number"`
		TokenID      string `json:"token_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mirror NFT: %s %v", resp.Status, err)
	}
	if doc.AccountID != operatorID || doc.SerialNumber != 2 || doc.TokenID != tokenID || doc.Deleted ||
		doc.Metadata != base64.StdEncoding.EncodeToString([]byte("iam:n2.iam")) || doc.Created == "" {
		t.Errorf("mirror NFT %+v", doc)
	}
	n3, err := l.NFT(ctx, tokenID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(n3.Metadata) != "iam:n3.iam" || n3.Owner != operatorID || !n3.MintedAt.Equal(last.ConsensusTime) || n3.Serial != 3 {
		t.Errorf("NFT 3 = %+v, last mint at %v", n3, last.ConsensusTime)
	}
	if _, err := l.NFT(ctx, tokenID, 4); !errors.Is(err, ledger.ErrTokenNotFound) {
		t.Errorf("unminted NFT: %v", err)
	}
}

func TestNFTRejectedBeforeSending(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	ctx := t.Context()
	tokenID, _, err := l.CreateNFTCollection(ctx, namesCollection)
	if err != nil {
		t.Fatal(err)
	}
	before := f.net.Transactions()
	if _, _, err := l.MintNFT(ctx, tokenID, bytes.Repeat([]byte("x"), ledger.MaxNFTMetadata+1)); !errors.Is(err, ledger.ErrRejected) {
		t.Errorf("101-byte metadata: %v, want ErrRejected", err)
	}
	for _, o := range []ledger.NFTCollectionOptions{{Symbol: "S"}, {Name: "n"}, {Name: strings.Repeat("n", 101), Symbol: "S"}} {
		if _, _, err := l.CreateNFTCollection(ctx, o); !errors.Is(err, ledger.ErrRejected) {
			t.Errorf("create %+v: %v, want ErrRejected", o, err)
		}
	}
	if _, _, err := l.MintNFT(ctx, "not-a-token", []byte("x")); !errors.Is(err, ledger.ErrTokenNotFound) {
		t.Errorf("malformed token ID: %v", err)
	}
	if got := f.net.Transactions() - before; got != 0 {
		t.Errorf("%d transactions reached the node, want 0", got)
	}
	if _, _, err := l.MintNFT(ctx, "0.0.424242", []byte("x")); !errors.Is(err, ledger.ErrTokenNotFound) {
		t.Errorf("unknown token: %v, want ErrTokenNotFound", err)
	}
	if serial, _, err := l.MintNFT(ctx, tokenID, bytes.Repeat([]byte("x"), ledger.MaxNFTMetadata)); err != nil || serial != 1 {
		t.Errorf("100-byte metadata: %d %v", serial, err)
	}
}

func TestNFTWrongOperatorKeyRejected(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	tokenID, _, err := f.open(t).CreateNFTCollection(t.Context(), namesCollection)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := hiero.PrivateKeyGenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	bad := f.open(t, func(o *Options) { o.OperatorKey = wrong.StringDer() })
	_, _, err = bad.MintNFT(t.Context(), tokenID, []byte("iam:x.iam"))
	var pre hiero.ErrHederaPreCheckStatus
	if !errors.Is(err, ledger.ErrRejected) || !errors.As(err, &pre) || pre.Status != hiero.StatusInvalidSignature {
		t.Fatalf("mint with the wrong key = %v, want ErrRejected with INVALID_SIGNATURE", err)
	}
	if _, _, err := bad.CreateNFTCollection(t.Context(), namesCollection); !errors.Is(err, ledger.ErrRejected) {
		t.Errorf("create with the wrong key = %v, want ErrRejected", err)
	}
	if n := f.net.NFTCount(tokenID); n != 0 {
		t.Errorf("%d NFTs minted", n)
	}
}
