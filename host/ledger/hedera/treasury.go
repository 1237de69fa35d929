package hedera

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// Treasury reads, all from the mirror node REST API (OpenAPI document
// https://docs.hedera.com/api-reference — mirror node REST API 0.154):
//
//   - Balance: GET /api/v1/accounts/{id}?transactions=false
//     (https://docs.hedera.com/api-reference/accounts/get-account-by-alias-id-or-evm-address)
//     → {"account": "0.0.N", "balance": {"balance": <tinybars>,
//     "timestamp": "s.n", "tokens": […]}, …}. Without a timestamp
//     parameter it is read from the entity table, updated with every
//     transaction the mirror ingests, unlike GET /api/v1/balances, which
//     serves periodic snapshots. The SDK's AccountBalanceQuery is not used:
//     Hedera deprecated it, throttled it from May 2026 and removed it in
//     July 2026 (https://docs.hedera.com/native/accounts/get-balance).
//   - ExchangeRate: GET /api/v1/network/exchangerate
//     (https://docs.hedera.com/api-reference/network/get-the-network-exchange-rate-to-estimate-costs)
//     → {"current_rate": {"cent_equivalent", "expiration_time" (seconds),
//     "hbar_equivalent"}, "next_rate": {…}, "timestamp"}; the terms are the
//     int32 fields of the network's ExchangeRate message
//     (services/exchange_rate.proto).
//   - Transactions: GET /api/v1/transactions?account.id=…&timestamp=gt:…
//     &order=asc&limit=…&result=success
//     (https://docs.hedera.com/api-reference/transactions/list-transactions)
//     → {"transactions": [{charged_tx_fee, consensus_timestamp, entity_id,
//     memo_base64, name, nonce, result, scheduled, transaction_id
//     ("0.0.2-1234567890-000000321"), transfers, …}], "links": {"next"}}.
//     account.id matches every transaction that moved hbar of the account,
//     not only those it paid for; the payer is the account of the
//     transaction ID, and only rows paid by the operator are kept.

const (
	maxRateBody    = 64 << 10 // the exchange rate document is ~200 bytes
	maxAccountBody = 1 << 20  // an account with up to 1000 token balances
	rateTimeout    = 10 * time.Second
	balanceTimeout = 10 * time.Second
)

// txTypes are the transaction names (the mirror's "name") the ledger
// writes; Transactions skips any other transaction the operator paid for.
var txTypes = map[string]bool{
	ledger.TxCreateTopic: true, ledger.TxSubmitMessage: true,
	ledger.TxTokenCreate: true, ledger.TxTokenMint: true,
}

var _ ledger.Treasury = (*Ledger)(nil)

// txMemo returns the transaction memo that ctx carries (ledger.WithMemo),
// refusing one the network would refuse.
func txMemo(ctx context.Context) (string, error) {
	memo := ledger.MemoFrom(ctx)
	if err := ledger.CheckMemo(memo); err != nil {
		return "", err
	}
	if strings.IndexByte(memo, 0) >= 0 {
		// The network answers INVALID_ZERO_BYTE_IN_STRING.
		return "", fmt.Errorf("%w: transaction memo contains a zero byte", ledger.ErrRejected)
	}
	return memo, nil
}

// TreasuryAccount is the operator account, which pays every fee.
func (l *Ledger) TreasuryAccount() string { return l.operator.String() }

// mirrorAccount is the part of GET /accounts/{id} that Balance reads.
type mirrorAccount struct {
	Account *string `json:"account"`
	Balance *struct {
		Balance   *int64 `json:"balance"`
		Timestamp string `json:"timestamp"`
	} `json:"balance"`
}

// parseAccountBalance reads the balance of account from a GET
// /accounts/{id} document.
func parseAccountBalance(data []byte, account string) (int64, error) {
	var doc mirrorAccount
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("decode: %w", err)
	}
	switch {
	case doc.Account == nil || *doc.Account != account:
		return 0, fmt.Errorf("account document is not for %s", account)
	case doc.Balance == nil || doc.Balance.Balance == nil:
		return 0, errors.New("account document has no balance")
	case *doc.Balance.Balance < 0:
		return 0, fmt.Errorf("negative balance %d", *doc.Balance.Balance)
	}
	return *doc.Balance.Balance, nil
}

// Balance returns the operator account's balance in tinybars as the mirror
// node last ingested it (it lags consensus by the mirror's ingestion delay,
// seconds on the public mirrors).
func (l *Ledger) Balance(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, balanceTimeout)
	defer cancel()
	account := l.operator.String()
	var raw json.RawMessage
	if err := l.mirror.getLimit(ctx, "/accounts/"+url.PathEscape(account)+"?transactions=false", maxAccountBody, &raw); err != nil {
		if errors.Is(err, errMirrorNotFound) {
			return 0, fmt.Errorf("hedera: balance: %w: mirror does not know account %s", ledger.ErrUnavailable, account)
		}
		return 0, fmt.Errorf("hedera: balance: %w", err)
	}
	b, err := parseAccountBalance(raw, account)
	if err != nil {
		return 0, fmt.Errorf("hedera: balance: %w: mirror: %w", ledger.ErrUnavailable, err)
	}
	return b, nil
}

// mirrorRateDoc is GET /network/exchangerate.
type mirrorRateDoc struct {
	CurrentRate *struct {
		CentEquivalent *int64 `json:"cent_equivalent"`
		ExpirationTime int64  `json:"expiration_time"`
		HbarEquivalent *int64 `json:"hbar_equivalent"`
	} `json:"current_rate"`
}

// parseExchangeRate reads current_rate; an absent or unusable rate is
// ledger.ErrBadRate.
func parseExchangeRate(data []byte) (ledger.ExchangeRate, error) {
	var doc mirrorRateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return ledger.ExchangeRate{}, fmt.Errorf("%w: decode: %w", ledger.ErrBadRate, err)
	}
	c := doc.CurrentRate
	if c == nil || c.CentEquivalent == nil || c.HbarEquivalent == nil {
		return ledger.ExchangeRate{}, fmt.Errorf("%w: no current_rate", ledger.ErrBadRate)
	}
	r := ledger.ExchangeRate{HbarEquiv: *c.HbarEquivalent, CentEquiv: *c.CentEquivalent}
	if err := r.Check(); err != nil {
		return ledger.ExchangeRate{}, err
	}
	if r.HbarEquiv > math.MaxInt32 || r.CentEquiv > math.MaxInt32 {
		// The network's ExchangeRate terms are int32.
		return ledger.ExchangeRate{}, fmt.Errorf("%w: %d HBAR = %d cents is out of the network's int32 range", ledger.ErrBadRate, r.HbarEquiv, r.CentEquiv)
	}
	if c.ExpirationTime < 0 {
		return ledger.ExchangeRate{}, fmt.Errorf("%w: expiration_time %d", ledger.ErrBadRate, c.ExpirationTime)
	}
	if c.ExpirationTime > 0 {
		r.Expiration = time.Unix(c.ExpirationTime, 0).UTC()
	}
	return r, nil
}

// ExchangeRate returns the network's current HBAR to cent rate from the
// mirror node. A mirror that cannot be reached in time is
// ledger.ErrUnavailable; one that answers no usable rate (missing, zero or
// negative terms) is ledger.ErrBadRate, one that answers no JSON
// ledger.ErrUnavailable. Nothing is cached.
func (l *Ledger) ExchangeRate(ctx context.Context) (ledger.ExchangeRate, error) {
	ctx, cancel := context.WithTimeout(ctx, rateTimeout)
	defer cancel()
	var raw json.RawMessage
	if err := l.mirror.getLimit(ctx, "/network/exchangerate", maxRateBody, &raw); err != nil {
		if errors.Is(err, errMirrorNotFound) {
			return ledger.ExchangeRate{}, fmt.Errorf("hedera: exchange rate: %w: mirror has no exchange rate", ledger.ErrUnavailable)
		}
		return ledger.ExchangeRate{}, fmt.Errorf("hedera: exchange rate: %w", err)
	}
	r, err := parseExchangeRate(raw)
	if err != nil {
		return ledger.ExchangeRate{}, fmt.Errorf("hedera: exchange rate: mirror: %w", err)
	}
	return r, nil
}

// mirrorTxPage is one page of GET /transactions.
type mirrorTxPage struct {
	Transactions []mirrorTx `json:"transactions"`
	Links        struct {
		Next *string `json:"next"`
	} `json:"links"`
}

type mirrorTx struct {
	ChargedTxFee       *int64  `json:"charged_tx_fee"`
	ConsensusTimestamp string  `json:"consensus_timestamp"`
	EntityID           *string `json:"entity_id"`
	MemoBase64         *string `json:"memo_base64"`
	Name               string  `json:"name"`
	Nonce              int32   `json:"nonce"`
	Result             string  `json:"result"`
	Scheduled          bool    `json:"scheduled"`
	TransactionID      string  `json:"transaction_id"`
}

// parseMirrorTxID turns the mirror's "0.0.2-1234567890-000000321" into the
// payer account and the SDK's "0.0.2@1234567890.000000321" form (with
// "?scheduled" and "/nonce" as the SDK writes them).
func parseMirrorTxID(s string, nonce int32, scheduled bool) (payer, id string, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return "", "", false
	}
	j := strings.LastIndexByte(s[:i], '-')
	if j <= 0 {
		return "", "", false
	}
	payer, secs, nanos := s[:j], s[j+1:i], s[i+1:]
	if !isAccountID(payer) || !isDigits(secs, 19) || !isDigits(nanos, 9) || nonce < 0 {
		return "", "", false
	}
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return "", "", false
	}
	ns, _ := strconv.ParseInt(nanos, 10, 64)
	id = fmt.Sprintf("%s@%d.%09d", payer, sec, ns)
	if scheduled {
		id += "?scheduled"
	}
	if nonce != 0 {
		id += "/" + strconv.Itoa(int(nonce))
	}
	return payer, id, true
}

func isDigits(s string, most int) bool {
	if s == "" || len(s) > most {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// isAccountID accepts shard.realm.num with decimal parts.
func isAccountID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if !isDigits(p, 19) {
			return false
		}
	}
	return true
}

// parseTxPage decodes one page of GET /transactions and keeps the
// successful transactions of the known types paid by payer. Rows must be
// in strictly increasing consensus order after `after`; a row that does
// not decode, or is out of order, makes the whole page an error (a
// reconciliation must not silently lose a paid transaction).
func parseTxPage(data []byte, payer string, after time.Time) (txs []ledger.Transaction, last time.Time, next string, err error) {
	var p mirrorTxPage
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, time.Time{}, "", fmt.Errorf("decode: %w", err)
	}
	if p.Transactions == nil {
		return nil, time.Time{}, "", errors.New("no transactions array")
	}
	last = after
	for i, r := range p.Transactions {
		ts, err := parseTimestamp(r.ConsensusTimestamp)
		if err != nil {
			return nil, time.Time{}, "", fmt.Errorf("transaction %d: consensus_timestamp: %w", i, err)
		}
		if !ts.After(last) {
			return nil, time.Time{}, "", fmt.Errorf("transaction %d: consensus_timestamp %s not after %s", i, r.ConsensusTimestamp, formatTimestamp(last))
		}
		last = ts
		txPayer, id, ok := parseMirrorTxID(r.TransactionID, r.Nonce, r.Scheduled)
		if !ok {
			return nil, time.Time{}, "", fmt.Errorf("transaction %d: bad transaction_id %q", i, r.TransactionID)
		}
		if txPayer != payer || r.Result != "SUCCESS" || !txTypes[r.Name] {
			continue
		}
		if r.ChargedTxFee == nil || *r.ChargedTxFee < 0 {
			return nil, time.Time{}, "", fmt.Errorf("transaction %s: bad charged_tx_fee", id)
		}
		var memo []byte
		if r.MemoBase64 != nil {
			if memo, err = base64.StdEncoding.DecodeString(*r.MemoBase64); err != nil || len(memo) > ledger.MaxMemo {
				return nil, time.Time{}, "", fmt.Errorf("transaction %s: bad memo_base64", id)
			}
		}
		var entity string
		if r.EntityID != nil {
			if entity = *r.EntityID; !isAccountID(entity) {
				return nil, time.Time{}, "", fmt.Errorf("transaction %s: bad entity_id %q", id, entity)
			}
		}
		txs = append(txs, ledger.Transaction{
			ID: id, Type: r.Name, Memo: string(memo), Entity: entity,
			ConsensusTime: ts, FeeTinybars: *r.ChargedTxFee,
		})
	}
	if p.Links.Next != nil {
		next = *p.Links.Next
	}
	return txs, last, next, nil
}

// Transactions returns up to limit successful transactions of the ledger's
// four kinds (topic create, message submit — one per chunk —, token
// create, token mint) paid by the operator with a consensus time after
// `after`, from the mirror node, following links.next. Other transactions
// the operator paid for (for example the CRYPTOTRANSFER payments of paid
// queries such as record queries) are not listed; they do lower Balance.
// Only what the mirror has ingested is listed.
func (l *Ledger) Transactions(ctx context.Context, after time.Time, limit int) ([]ledger.Transaction, error) {
	if limit <= 0 {
		limit = 100
	}
	payer := l.operator.String()
	q := url.Values{}
	q.Set("account.id", payer)
	q.Set("limit", strconv.Itoa(min(limit, l.txPageSize)))
	q.Set("order", "asc")
	q.Set("result", "success")
	if !after.IsZero() {
		q.Set("timestamp", "gt:"+formatTimestamp(after))
	}
	ref := "/transactions?" + q.Encode()
	var out []ledger.Transaction
	last := after
	for pages := 0; ref != "" && len(out) < limit; pages++ {
		if pages == maxMirrorPages {
			return nil, fmt.Errorf("hedera: transactions: %w: mirror: more than %d pages", ledger.ErrUnavailable, maxMirrorPages)
		}
		var raw json.RawMessage
		if err := l.mirror.get(ctx, ref, &raw); err != nil {
			if errors.Is(err, errMirrorNotFound) {
				return nil, fmt.Errorf("hedera: transactions: %w: mirror answered 404", ledger.ErrUnavailable)
			}
			return nil, fmt.Errorf("hedera: transactions: %w", err)
		}
		txs, l2, next, err := parseTxPage(raw, payer, last)
		if err != nil {
			return nil, fmt.Errorf("hedera: transactions: %w: mirror: %w", ledger.ErrUnavailable, err)
		}
		out, last, ref = append(out, txs...), l2, next
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
