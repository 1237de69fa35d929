package hederatest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// mirrorTransfer is one entry of a transaction's transfers list.
type mirrorTransfer struct {
	Account    string `json:"account"`
	Amount     int64  `json:"amount"`
	IsApproval bool   `json:"is_approval"`
}

// mirrorTransaction is one row of GET /api/v1/transactions.
type mirrorTransaction struct {
	Bytes                    *string          `json:"bytes"`
	ChargedTxFee             int64            `json:"charged_tx_fee"`
	ConsensusTimestamp       string           `json:"consensus_timestamp"`
	EntityID                 *string          `json:"entity_id"`
	MaxFee                   string           `json:"max_fee"`
	MemoBase64               string           `json:"memo_base64"`
	Name                     string           `json:"name"`
	NFTTransfers             []any            `json:"nft_transfers"`
	Node                     string           `json:"node"`
	Nonce                    int32            `json:"nonce"`
	ParentConsensusTimestamp *string          `json:"parent_consensus_timestamp"`
	Result                   string           `json:"result"`
	Scheduled                bool             `json:"scheduled"`
	StakingRewardTransfers   []any            `json:"staking_reward_transfers"`
	TokenTransfers           []any            `json:"token_transfers"`
	TransactionHash          string           `json:"transaction_hash"`
	TransactionID            string           `json:"transaction_id"`
	Transfers                []mirrorTransfer `json:"transfers"`
	ValidDurationSeconds     string           `json:"valid_duration_seconds"`
	ValidStartTimestamp      string           `json:"valid_start_timestamp"`
}

type mirrorTransactionsPage struct {
	Transactions []mirrorTransaction `json:"transactions"`
	Links        mirrorLinks         `json:"links"`
}

// parseTimeFilters reads the repeatable timestamp=[op:]s.n parameter.
func parseTimeFilters(q url.Values) ([]timeFilter, bool) {
	var filters []timeFilter
	for _, s := range q["timestamp"] {
		op, val, ok := strings.Cut(s, ":")
		if !ok {
			op, val = "eq", s
		}
		t, err := parseTimestamp(val)
		if err != nil || (op != "gt" && op != "gte" && op != "lt" && op != "lte" && op != "eq") {
			return nil, false
		}
		filters = append(filters, timeFilter{op, t})
	}
	return filters, true
}

// serveTransactions lists the transactions the node accepted. Every one is
// paid by the operator, whose fee goes to the node account, so account.id
// matches the operator and the node account; all results are SUCCESS.
func (n *Network) serveTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 25
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			writeError(w, http.StatusBadRequest, "Invalid parameter: limit")
			return
		}
		limit = v
	}
	order := q.Get("order")
	if order == "" {
		order = "desc" // the documented default for /transactions
	}
	if order != "asc" && order != "desc" {
		writeError(w, http.StatusBadRequest, "Invalid parameter: order")
		return
	}
	result := strings.ToLower(q.Get("result"))
	if result != "" && result != "success" && result != "fail" {
		writeError(w, http.StatusBadRequest, "Invalid parameter: result")
		return
	}
	filters, ok := parseTimeFilters(q)
	if !ok {
		writeError(w, http.StatusBadRequest, "Invalid parameter: timestamp")
		return
	}
	account := q.Get("account.id")
	txType := strings.ToUpper(q.Get("transactiontype"))

	now := n.cfg.Now()
	n.mu.Lock()
	paid := append([]Paid(nil), n.paid...)
	lag := n.mirrorLag
	n.mu.Unlock()
	if order == "desc" {
		for i, j := 0, len(paid)-1; i < j; i, j = i+1, j-1 {
			paid[i], paid[j] = paid[j], paid[i]
		}
	}
	page := mirrorTransactionsPage{Transactions: []mirrorTransaction{}}
	for _, p := range paid {
		if p.Consensus.Add(lag).After(now) || result == "fail" {
			continue
		}
		if account != "" && account != p.Payer && account != p.NodeAccountID {
			continue
		}
		if txType != "" && txType != p.Type {
			continue
		}
		match := true
		for _, f := range filters {
			match = match && f.match(p.Consensus)
		}
		if !match {
			continue
		}
		entity := p.Entity
		page.Transactions = append(page.Transactions, mirrorTransaction{
			ChargedTxFee:           p.FeeTinybars,
			ConsensusTimestamp:     formatTimestamp(p.Consensus),
			EntityID:               &entity,
			MaxFee:                 strconv.FormatUint(p.MaxFee, 10),
			MemoBase64:             base64.StdEncoding.EncodeToString([]byte(p.Memo)),
			Name:                   p.Type,
			NFTTransfers:           []any{},
			Node:                   p.NodeAccountID,
			Nonce:                  p.Nonce,
			Result:                 "SUCCESS",
			Scheduled:              p.Scheduled,
			StakingRewardTransfers: []any{},
			TokenTransfers:         []any{},
			TransactionHash:        base64.StdEncoding.EncodeToString([]byte(p.MirrorID)),
			TransactionID:          p.MirrorID,
			Transfers: []mirrorTransfer{
				{Account: p.NodeAccountID, Amount: p.FeeTinybars},
				{Account: p.Payer, Amount: -p.FeeTinybars},
			},
			ValidDurationSeconds: "120",
			ValidStartTimestamp:  formatTimestamp(p.ValidStart),
		})
		if len(page.Transactions) == limit {
			break
		}
	}
	if len(page.Transactions) == limit {
		last := page.Transactions[limit-1].ConsensusTimestamp
		op := "gt"
		if order == "desc" {
			op = "lt"
		}
		next := url.Values{}
		for _, k := range []string{"account.id", "result", "transactiontype"} {
			if v := q.Get(k); v != "" {
				next.Set(k, v)
			}
		}
		next.Set("limit", strconv.Itoa(limit))
		next.Set("order", order)
		next.Set("timestamp", op+":"+last)
		for _, f := range filters {
			if (order == "asc" && (f.op == "lt" || f.op == "lte")) || (order == "desc" && (f.op == "gt" || f.op == "gte")) {
				next.Add("timestamp", f.op+":"+formatTimestamp(f.t))
			}
		}
		s := "/api/v1/transactions?" + next.Encode()
		page.Links.Next = &s
	}
	writeJSON(w, http.StatusOK, page)
}

type mirrorAccountBalance struct {
	Balance   int64  `json:"balance"`
	Timestamp string `json:"timestamp"`
	Tokens    []any  `json:"tokens"`
}

// mirrorBalance is the payer's balance as the mirror has ingested it at
// now: fees of transactions not yet visible (SetMirrorLag) are not taken
// off yet.
func (n *Network) mirrorBalance(now time.Time) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.balance
	for i := len(n.paid) - 1; i >= 0 && n.paid[i].Consensus.Add(n.mirrorLag).After(now); i-- {
		b += n.paid[i].FeeTinybars
	}
	return b
}

// serveAccount answers GET /api/v1/accounts/{id} for the operator only,
// with its balance (the fields Balance reads, and a few more).
func (n *Network) serveAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id != n.operator.String() {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	now := n.cfg.Now()
	writeJSON(w, http.StatusOK, map[string]any{
		"account":           id,
		"balance":           mirrorAccountBalance{Balance: n.mirrorBalance(now), Timestamp: formatTimestamp(now), Tokens: []any{}},
		"deleted":           false,
		"memo":              "",
		"created_timestamp": formatTimestamp(time.Unix(0, 0)),
		"transactions":      []any{},
		"links":             mirrorLinks{},
	})
}

// serveBalances answers GET /api/v1/balances?account.id=<operator>.
func (n *Network) serveBalances(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Query().Get("account.id"), "eq:")
	type row struct {
		Account string `json:"account"`
		Balance int64  `json:"balance"`
		Tokens  []any  `json:"tokens"`
	}
	rows := []row{}
	if id == n.operator.String() {
		rows = append(rows, row{Account: id, Balance: n.mirrorBalance(n.cfg.Now()), Tokens: []any{}})
	} else if id == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid parameter: %s", "account.id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"timestamp": formatTimestamp(n.cfg.Now()), "balances": rows, "links": mirrorLinks{}})
}
