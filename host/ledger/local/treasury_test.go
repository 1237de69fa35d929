package local

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// TestTransactionLog checks that every paid transaction — topic creation,
// each chunk of a message, token creation and mint — is logged with its
// type, memo, entity and fee, that Balance falls by exactly the fees, and
// that both survive a reopen.
func TestTransactionLog(t *testing.T) {
	dir := t.TempDir()
	o := Options{Fees: Fees{CreateTopic: 1_000, Submit: 7, TokenCreate: 50_000, Mint: 300}, InitialBalance: 1_000_000}
	l := openDir(t, dir, o)
	ctx := context.Background()
	r, err := l.CreateTopic(ledger.WithMemo(ctx, "gwd1:a"), ledger.TopicOptions{})
	if err != nil || r.FeeTinybars != 1_000 {
		t.Fatalf("create topic: %+v %v", r, err)
	}
	big := bytes.Repeat([]byte("x"), 2*ledger.MaxChunkSize+1) // three chunks
	if r, err = l.Submit(ledger.WithMemo(ctx, "gwd1:b"), r.TopicID, big); err != nil || r.FeeTinybars != 21 {
		t.Fatalf("submit: %+v %v", r, err)
	}
	tok, r2, err := l.CreateNFTCollection(ledger.WithMemo(ctx, "gwd1:c"), ledger.NFTCollectionOptions{Name: "n", Symbol: "s"})
	if err != nil || r2.FeeTinybars != 50_000 {
		t.Fatalf("token: %+v %v", r2, err)
	}
	if _, r2, err = l.MintNFT(ctx, tok, []byte("m")); err != nil || r2.FeeTinybars != 300 {
		t.Fatalf("mint: %+v %v", r2, err)
	}
	if _, err := l.Submit(ledger.WithMemo(ctx, strings.Repeat("m", ledger.MaxMemo+1)), r.TopicID, []byte("x")); !errors.Is(err, ledger.ErrRejected) {
		t.Fatalf("long memo: %v", err)
	}
	check := func(l *Ledger) {
		t.Helper()
		txs, err := l.Transactions(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			typ, memo string
			fee       int64
		}{{ledger.TxCreateTopic, "gwd1:a", 1000}, {ledger.TxSubmitMessage, "gwd1:b", 7}, {ledger.TxSubmitMessage, "gwd1:b", 7},
			{ledger.TxSubmitMessage, "gwd1:b", 7}, {ledger.TxTokenCreate, "gwd1:c", 50_000}, {ledger.TxTokenMint, "", 300}}
		if len(txs) != len(want) {
			t.Fatalf("%d transactions, want %d: %+v", len(txs), len(want), txs)
		}
		for i, w := range want {
			if txs[i].Type != w.typ || txs[i].Memo != w.memo || txs[i].FeeTinybars != w.fee || txs[i].ID == "" || txs[i].Entity == "" {
				t.Errorf("transaction %d: %+v, want %+v", i, txs[i], w)
			}
			if i > 0 && !txs[i].ConsensusTime.After(txs[i-1].ConsensusTime) {
				t.Errorf("transaction %d not after %d", i, i-1)
			}
		}
		page, err := l.Transactions(ctx, txs[1].ConsensusTime, 2)
		if err != nil || len(page) != 2 || page[0].ConsensusTime != txs[2].ConsensusTime {
			t.Fatalf("page after the second: %+v %v", page, err)
		}
		bal, err := l.Balance(ctx)
		if want := int64(1_000_000 - 1000 - 21 - 50_000 - 300); err != nil || bal != want {
			t.Fatalf("balance %d %v, want %d", bal, err, want)
		}
		if l.TreasuryAccount() != "0.0.2" {
			t.Fatalf("treasury account %s", l.TreasuryAccount())
		}
	}
	check(l)
	l.Close()
	check(openDir(t, dir, o))
}

func FuzzDecodeTx(f *testing.F) {
	f.Add(encodeTx(ledger.TxSubmitMessage, "gwd1:x", "0.0.1001", 7))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, memo, entity, fee, err := decodeTx(b)
		if err != nil {
			return
		}
		if got := encodeTx(typ, memo, entity, fee); !bytes.Equal(got, b) && b[0] < byte(len(txTypes)) {
			t.Fatalf("round trip: %x → %x", b, got)
		}
	})
}
