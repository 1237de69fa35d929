package hederatest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The REST shapes below follow the mirror node OpenAPI documentation:
//   - topic messages: https://docs.hedera.com/api-reference/topics/list-topic-messages-by-id
//     (GET /api/v1/topics/{topicId}/messages: limit 1..100, default 25;
//     order asc|desc; timestamp with gt:/gte:/lt:/lte:/eq:; links.next is
//     a path, or null on the last page)
//   - exchange rate: https://docs.hedera.com/api-reference/network/get-the-network-exchange-rate-to-estimate-costs
//   - transactions: https://docs.hedera.com/api-reference/transactions/list-transactions
//     (GET /api/v1/transactions: account.id, limit 1..100 default 25,
//     order, timestamp, result success|fail, transactiontype; rows with
//     charged_tx_fee, consensus_timestamp, entity_id, memo_base64, name,
//     nonce, result, scheduled, transaction_id "0.0.2-<s>-<nnnnnnnnn>",
//     transfers, valid_start_timestamp …; links.next)
//   - account: https://docs.hedera.com/api-reference/accounts/get-account-by-alias-id-or-evm-address
//     (GET /api/v1/accounts/{id}: account, balance {balance, timestamp,
//     tokens}, …; 404 for an unknown account)
//   - balances: https://docs.hedera.com/api-reference/balances/list-account-balances
//     (GET /api/v1/balances?account.id=: {timestamp, balances [{account,
//     balance, tokens}], links})
//   - NFT info: https://docs.hedera.com/api-reference/tokens/get-nft-info
//     (GET /api/v1/tokens/{tokenId}/nfts/{serialNumber}: account_id,
//     created_timestamp, delegating_spender, deleted, metadata (base64),
//     modified_timestamp, serial_number, spender_id, token_id)

type mirrorChunkInfo struct {
	InitialTransactionID string `json:"initial_transaction_id"`
	Nonce                int32  `json:"nonce"`
	Number               int32  `json:"number"`
	Total                int32  `json:"total"`
	Scheduled            bool   `json:"scheduled"`
}

type mirrorMessage struct {
	ChunkInfo          *mirrorChunkInfo `json:"chunk_info"`
	ConsensusTimestamp string           `json:"consensus_timestamp"`
	Message            string           `json:"message"`
	PayerAccountID     string           `json:"payer_account_id"`
	RunningHash        string           `json:"running_hash"`
	RunningHashVersion int              `json:"running_hash_version"`
	SequenceNumber     uint64           `json:"sequence_number"`
	TopicID            string           `json:"topic_id"`
}

type mirrorLinks struct {
	Next *string `json:"next"`
}

type mirrorMessagesPage struct {
	Messages []mirrorMessage `json:"messages"`
	Links    mirrorLinks     `json:"links"`
}

type mirrorRate struct {
	CentEquivalent int64 `json:"cent_equivalent"`
	ExpirationTime int64 `json:"expiration_time"`
	HbarEquivalent int64 `json:"hbar_equivalent"`
}

type mirrorExchangeRate struct {
	CurrentRate mirrorRate `json:"current_rate"`
	NextRate    mirrorRate `json:"next_rate"`
	Timestamp   string     `json:"timestamp"`
}

func (n *Network) mirrorHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/topics/{id}/messages", n.serveTopicMessages)
	mux.HandleFunc("GET /api/v1/network/exchangerate", n.serveExchangeRate)
	mux.HandleFunc("GET /api/v1/tokens/{id}/nfts/{serial}", n.serveNFT)
	mux.HandleFunc("GET /api/v1/transactions", n.serveTransactions)
	mux.HandleFunc("GET /api/v1/accounts/{id}", n.serveAccount)
	mux.HandleFunc("GET /api/v1/balances", n.serveBalances)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		o, ok := n.overrides[r.URL.Path]
		n.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(o.status)
			_, _ = w.Write([]byte(o.body))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type mirrorOverride struct {
	status int
	body   string
}

// OverrideMirror makes the mirror answer every request for path (for
// example "/api/v1/network/exchangerate") with status and body, to model
// an outage (503) or a nonsense answer. A status of 0 removes the override.
func (n *Network) OverrideMirror(path string, status int, body string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if status == 0 {
		delete(n.overrides, path)
		return
	}
	n.overrides[path] = mirrorOverride{status, body}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the mirror node's error shape: {"_status":{"messages":[{"message":...}]}}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"_status": map[string]any{"messages": []map[string]string{{"message": msg}}}})
}

func formatTimestamp(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// parseTimestamp reads "seconds[.nanos]".
func parseTimestamp(s string) (time.Time, error) {
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nanos int64
	if frac != "" {
		if len(frac) > 9 {
			return time.Time{}, errors.New("too many fractional digits")
		}
		frac += strings.Repeat("0", 9-len(frac))
		if nanos, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(sec, nanos).UTC(), nil
}

type timeFilter struct {
	op string
	t  time.Time
}

func (f timeFilter) match(t time.Time) bool {
	switch f.op {
	case "gt":
		return t.After(f.t)
	case "gte":
		return !t.Before(f.t)
	case "lt":
		return t.Before(f.t)
	case "lte":
		return !t.After(f.t)
	default:
		return t.Equal(f.t)
	}
}

func (n *Network) serveTopicMessages(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
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
		order = "asc"
	}
	if order != "asc" && order != "desc" {
		writeError(w, http.StatusBadRequest, "Invalid parameter: order")
		return
	}
	var filters []timeFilter
	for _, s := range q["timestamp"] {
		op, val, ok := strings.Cut(s, ":")
		if !ok {
			op, val = "eq", s
		}
		t, err := parseTimestamp(val)
		if err != nil || (op != "gt" && op != "gte" && op != "lt" && op != "lte" && op != "eq") {
			writeError(w, http.StatusBadRequest, "Invalid parameter: timestamp")
			return
		}
		filters = append(filters, timeFilter{op, t})
	}

	msgs, err := n.visible(id, n.cfg.Now())
	if err != nil {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	if order == "desc" {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
	}
	page := mirrorMessagesPage{Messages: []mirrorMessage{}}
	for _, m := range msgs {
		ok := true
		for _, f := range filters {
			ok = ok && f.match(m.consensus)
		}
		if !ok {
			continue
		}
		mm := mirrorMessage{
			ConsensusTimestamp: formatTimestamp(m.consensus),
			Message:            base64.StdEncoding.EncodeToString(m.contents),
			PayerAccountID:     m.payer,
			RunningHash:        base64.StdEncoding.EncodeToString(m.runningHash),
			RunningHashVersion: 3,
			SequenceNumber:     m.seq,
			TopicID:            id,
		}
		if c := m.chunk; c != nil {
			mm.ChunkInfo = &mirrorChunkInfo{
				InitialTransactionID: mirrorTxID(c.GetInitialTransactionID()),
				Nonce:                c.GetInitialTransactionID().GetNonce(),
				Number:               c.GetNumber(),
				Total:                c.GetTotal(),
				Scheduled:            c.GetInitialTransactionID().GetScheduled(),
			}
		}
		page.Messages = append(page.Messages, mm)
		if len(page.Messages) == limit {
			break
		}
	}
	if len(page.Messages) == limit {
		last := page.Messages[limit-1].ConsensusTimestamp
		op := "gt"
		if order == "desc" {
			op = "lt"
		}
		next := url.Values{}
		next.Set("limit", strconv.Itoa(limit))
		next.Set("order", order)
		next.Set("timestamp", op+":"+last)
		// Keep the opposite bound of the original query, as the mirror does.
		for _, f := range filters {
			if (order == "asc" && (f.op == "lt" || f.op == "lte")) || (order == "desc" && (f.op == "gt" || f.op == "gte")) {
				next.Add("timestamp", f.op+":"+formatTimestamp(f.t))
			}
		}
		s := "/api/v1/topics/" + id + "/messages?" + next.Encode()
		page.Links.Next = &s
	}
	writeJSON(w, http.StatusOK, page)
}

func (n *Network) serveExchangeRate(w http.ResponseWriter, _ *http.Request) {
	const hbarEq = 30000
	now := n.cfg.Now()
	n.mu.Lock()
	cents := n.centsPerHbar
	n.mu.Unlock()
	rate := mirrorRate{
		CentEquivalent: int64(math.Round(cents * hbarEq)),
		HbarEquivalent: hbarEq,
		ExpirationTime: now.Truncate(time.Hour).Add(time.Hour).Unix(),
	}
	next := rate
	next.ExpirationTime += 3600
	writeJSON(w, http.StatusOK, mirrorExchangeRate{CurrentRate: rate, NextRate: next, Timestamp: formatTimestamp(now)})
}

type mirrorNFT struct {
	AccountID         *string `json:"account_id"`
	CreatedTimestamp  *string `json:"created_timestamp"`
	DelegatingSpender *string `json:"delegating_spender"`
	Deleted           bool    `json:"deleted"`
	Metadata          string  `json:"metadata"`
	ModifiedTimestamp *string `json:"modified_timestamp"`
	SerialNumber      int64   `json:"serial_number"`
	SpenderID         *string `json:"spender_id"`
	TokenID           *string `json:"token_id"`
}

func (n *Network) serveNFT(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	serial, err := strconv.ParseInt(r.PathValue("serial"), 10, 64)
	if err != nil || serial < 1 {
		writeError(w, http.StatusBadRequest, "Invalid parameter: serialnumber")
		return
	}
	t, nft, ok := n.nftVisible(id, serial, n.cfg.Now())
	if !ok {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	ts := formatTimestamp(nft.minted)
	tokenID := tokenString(t.id)
	owner := nft.owner
	writeJSON(w, http.StatusOK, mirrorNFT{
		AccountID:         &owner,
		CreatedTimestamp:  &ts,
		Metadata:          base64.StdEncoding.EncodeToString(nft.metadata),
		ModifiedTimestamp: &ts,
		SerialNumber:      nft.serial,
		TokenID:           &tokenID,
	})
}
