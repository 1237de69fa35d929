package hedera

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// Mirror node REST API, as documented at
//   - https://docs.hedera.com/api-reference/topics/list-topic-messages-by-id
//     GET /api/v1/topics/{topicId}/messages?timestamp=gt:<s.n>&limit=N&order=asc
//     → {"messages":[{chunk_info, consensus_timestamp, message (base64),
//     payer_account_id, running_hash (base64), running_hash_version,
//     sequence_number, topic_id}], "links":{"next": "/api/v1/…" | null}};
//     limit is 1..100; 404 when the topic does not exist.
//   - https://docs.hedera.com/api-reference/network/get-the-network-exchange-rate-to-estimate-costs
//     GET /api/v1/network/exchangerate → {"current_rate":{"cent_equivalent",
//     "hbar_equivalent","expiration_time"}, "next_rate":{…}, "timestamp"}.

const (
	mirrorPageSize  = 100     // the API's maximum limit
	maxMirrorPages  = 1000    // per Messages call, against runaway links.next
	maxMirrorBody   = 8 << 20 // bytes per response
	maxChunkTotal   = 100000  // chunk_info.total beyond this is treated as garbage
	backfillMaxSpan = 10 * time.Minute
)

var errMirrorNotFound = errors.New("mirror: not found")

type mirrorClient struct {
	base    *url.URL // …/api/v1, no trailing slash
	http    *http.Client
	retries int
	backoff time.Duration
}

func newMirrorClient(base string, c *http.Client, retries int, backoff time.Duration) (*mirrorClient, error) {
	if base == "" {
		return nil, errors.New("hedera: MirrorURL is required")
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hedera: mirror URL %q: want http(s)://host/…/api/v1", base)
	}
	return &mirrorClient{base: u, http: c, retries: retries, backoff: backoff}, nil
}

// resolve turns a path relative to /api/v1 (or a links.next value, which
// starts with /api/v1) into a URL under the configured base, so a base with
// a path prefix keeps it. Absolute links are refused.
func (m *mirrorClient) resolve(ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil || r.IsAbs() || r.Host != "" {
		return "", fmt.Errorf("mirror: unexpected link %q", ref)
	}
	p := strings.TrimPrefix(r.Path, "/api/v1")
	u := *m.base
	u.Path = m.base.Path + "/" + strings.TrimPrefix(p, "/")
	u.RawPath = ""
	u.RawQuery = r.RawQuery
	return u.String(), nil
}

// get fetches a JSON document, retrying 429, 5xx and transport errors.
func (m *mirrorClient) get(ctx context.Context, ref string, v any) error {
	return m.getLimit(ctx, ref, maxMirrorBody, v)
}

// getLimit is get with a bound of limit bytes on the response body.
func (m *mirrorClient) getLimit(ctx context.Context, ref string, limit int, v any) error {
	target, err := m.resolve(ref)
	if err != nil {
		return fmt.Errorf("%w: %w", ledger.ErrUnavailable, err)
	}
	delay := m.backoff
	var last error
	for attempt := 0; attempt <= m.retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w: mirror: %w (last: %w)", ledger.ErrUnavailable, context.Cause(ctx), last)
			case <-t.C:
			}
			delay *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := m.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: mirror: %w", ledger.ErrUnavailable, err)
			}
			last = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
		_ = resp.Body.Close()
		switch {
		case err != nil:
			last = err
			continue
		case resp.StatusCode == http.StatusNotFound:
			return errMirrorNotFound
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("mirror: %s", resp.Status)
			continue
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("%w: mirror: %s: %s", ledger.ErrRejected, resp.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
		case len(body) > limit:
			return fmt.Errorf("%w: mirror: response over %d bytes", ledger.ErrUnavailable, limit)
		}
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("%w: mirror: decode: %w", ledger.ErrUnavailable, err)
		}
		return nil
	}
	return fmt.Errorf("%w: mirror: %w", ledger.ErrUnavailable, last)
}

// mirrorPage is one page of GET /topics/{id}/messages.
type mirrorPage struct {
	Messages []mirrorRow `json:"messages"`
	Links    struct {
		Next *string `json:"next"`
	} `json:"links"`
}

type mirrorRow struct {
	ChunkInfo          *mirrorChunk `json:"chunk_info"`
	ConsensusTimestamp string       `json:"consensus_timestamp"`
	Message            string       `json:"message"`
	PayerAccountID     string       `json:"payer_account_id"`
	RunningHash        string       `json:"running_hash"`
	SequenceNumber     uint64       `json:"sequence_number"`
	TopicID            string       `json:"topic_id"`
}

type mirrorChunk struct {
	// InitialTransactionID is "0.0.10-1234567890-000000321" in current
	// mirror nodes; older ones sent an object, which is also accepted.
	InitialTransactionID json.RawMessage `json:"initial_transaction_id"`
	Nonce                int32           `json:"nonce"`
	Number               int             `json:"number"`
	Total                int             `json:"total"`
	Scheduled            bool            `json:"scheduled"`
}

// chunk is a decoded row.
type chunk struct {
	seq       uint64
	ts        time.Time
	hash      []byte
	data      []byte
	payer     string
	groupKey  string // "" for a single-chunk message
	txID      string // "0.0.p@s.n" of the initial transaction, if known
	validFrom time.Time
	number    int
	total     int
}

// parseMirrorPage decodes a page; rows that do not decode are skipped
// (and counted).
func parseMirrorPage(data []byte) (rows []chunk, next string, skipped int, err error) {
	var p mirrorPage
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, "", 0, err
	}
	for _, r := range p.Messages {
		c, ok := decodeRow(r)
		if !ok {
			skipped++
			continue
		}
		rows = append(rows, c)
	}
	if p.Links.Next != nil {
		next = *p.Links.Next
	}
	return rows, next, skipped, nil
}

func decodeRow(r mirrorRow) (chunk, bool) {
	ts, err := parseTimestamp(r.ConsensusTimestamp)
	if err != nil {
		return chunk{}, false
	}
	data, err := base64.StdEncoding.DecodeString(r.Message)
	if err != nil {
		return chunk{}, false
	}
	hash, err := base64.StdEncoding.DecodeString(r.RunningHash)
	if err != nil {
		return chunk{}, false
	}
	c := chunk{seq: r.SequenceNumber, ts: ts, hash: hash, data: data, payer: r.PayerAccountID, number: 1, total: 1}
	if ci := r.ChunkInfo; ci != nil {
		txID, validFrom, ok := parseInitialTxID(ci.InitialTransactionID, ci.Nonce, ci.Scheduled)
		if !ok || ci.Total < 1 || ci.Total > maxChunkTotal || ci.Number < 1 || ci.Number > ci.Total {
			return chunk{}, false
		}
		c.txID, c.validFrom, c.number, c.total = txID, validFrom, ci.Number, ci.Total
		if ci.Total > 1 {
			c.groupKey = fmt.Sprintf("%s/%d", txID, ci.Total)
		}
	}
	return c, true
}

// parseInitialTxID reads the mirror's "0.0.10-1234567890-000000321" (or the
// older object form) into the SDK's "0.0.10@1234567890.000000321" form.
func parseInitialTxID(raw json.RawMessage, nonce int32, scheduled bool) (string, time.Time, bool) {
	var account, start string
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		i := strings.LastIndexByte(s, '-')
		j := strings.LastIndexByte(s[:max(i, 0)], '-')
		if i < 0 || j < 0 {
			return "", time.Time{}, false
		}
		account, start = s[:j], s[j+1:i]+"."+s[i+1:]
	} else {
		var o struct {
			AccountID             string `json:"account_id"`
			TransactionValidStart string `json:"transaction_valid_start"`
			Nonce                 int32  `json:"nonce"`
			Scheduled             bool   `json:"scheduled"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return "", time.Time{}, false
		}
		account, start, nonce, scheduled = o.AccountID, o.TransactionValidStart, o.Nonce, o.Scheduled
	}
	if account == "" {
		return "", time.Time{}, false
	}
	t, err := parseTimestamp(start)
	if err != nil {
		return "", time.Time{}, false
	}
	id := fmt.Sprintf("%s@%d.%09d", account, t.Unix(), t.Nanosecond())
	if scheduled {
		id += "?scheduled"
	}
	if nonce != 0 {
		id += "/" + strconv.Itoa(int(nonce))
	}
	return id, t, true
}

// parseTimestamp reads the mirror's "seconds[.nanos]".
func parseTimestamp(s string) (time.Time, error) {
	secs, frac, hasFrac := strings.Cut(s, ".")
	if secs == "" || (hasFrac && (frac == "" || len(frac) > 9)) {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	var nanos int64
	if hasFrac {
		for _, r := range frac {
			if r < '0' || r > '9' {
				return time.Time{}, fmt.Errorf("bad timestamp %q", s)
			}
		}
		nanos, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Unix(sec, nanos).UTC(), nil
}

func formatTimestamp(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// assembler reassembles chunked messages. A message is complete when all
// chunk numbers 1..total of its group are present; it is then dated by its
// last chunk's consensus time and running hash and numbered by its first
// chunk's sequence number.
type assembler struct {
	topicID string
	groups  map[string]map[int]chunk
	seen    map[uint64]bool
	done    []ledger.Message
}

func newAssembler(topicID string) *assembler {
	return &assembler{topicID: topicID, groups: map[string]map[int]chunk{}, seen: map[uint64]bool{}}
}

func (a *assembler) add(c chunk) {
	if a.seen[c.seq] {
		return
	}
	a.seen[c.seq] = true
	if c.groupKey == "" {
		a.done = append(a.done, ledger.Message{
			TopicID: a.topicID, Sequence: c.seq, ConsensusTime: c.ts, RunningHash: c.hash,
			Contents: c.data, PayerAccount: c.payer, TransactionID: c.txID,
		})
		return
	}
	g := a.groups[c.groupKey]
	if g == nil {
		g = map[int]chunk{}
		a.groups[c.groupKey] = g
	}
	if _, dup := g[c.number]; dup {
		return
	}
	g[c.number] = c
	if len(g) < c.total {
		return
	}
	delete(a.groups, c.groupKey)
	firstSeq, last := g[1].seq, g[1]
	var size int
	for _, p := range g {
		firstSeq = min(firstSeq, p.seq)
		if p.ts.After(last.ts) {
			last = p
		}
		size += len(p.data)
	}
	data := make([]byte, 0, size)
	for i := 1; i <= c.total; i++ {
		data = append(data, g[i].data...)
	}
	a.done = append(a.done, ledger.Message{
		TopicID: a.topicID, Sequence: firstSeq, ConsensusTime: last.ts, RunningHash: last.hash,
		Contents: data, PayerAccount: g[1].payer, TransactionID: g[1].txID,
	})
}

// pendingBefore returns the earliest initial-transaction valid start among
// incomplete groups that lack their first chunk and started before `after`
// (so their first chunks may lie at or before it), and whether there is any.
func (a *assembler) pendingBefore(after time.Time) (time.Time, bool) {
	var from time.Time
	found := false
	for _, g := range a.groups {
		var some chunk
		for _, c := range g {
			some = c
			break
		}
		if _, have := g[1]; have || some.validFrom.IsZero() || !some.validFrom.Before(after) {
			continue
		}
		if !found || some.validFrom.Before(from) {
			from, found = some.validFrom, true
		}
	}
	return from, found
}

// messages fetches up to limit complete messages after `after`.
func (m *mirrorClient) messages(ctx context.Context, topicID string, after time.Time, limit int) ([]ledger.Message, error) {
	a := newAssembler(topicID)
	q := url.Values{}
	q.Set("limit", strconv.Itoa(min(mirrorPageSize, max(limit, 1))))
	q.Set("order", "asc")
	if !after.IsZero() {
		q.Set("timestamp", "gt:"+formatTimestamp(after))
	}
	ref := "/topics/" + url.PathEscape(topicID) + "/messages?" + q.Encode()
	pages := 0
	for ref != "" && len(a.done) < limit && pages < maxMirrorPages {
		next, err := m.page(ctx, ref, a)
		if err != nil {
			return nil, err
		}
		ref, pages = next, pages+1
	}
	// Chunks of messages that started at or before `after` and finished
	// after it: fetch the beginning of those groups.
	if from, ok := a.pendingBefore(after); ok && after.Sub(from) < backfillMaxSpan {
		q := url.Values{}
		q.Set("limit", strconv.Itoa(mirrorPageSize))
		q.Set("order", "asc")
		q["timestamp"] = []string{"gte:" + formatTimestamp(from), "lte:" + formatTimestamp(after)}
		ref := "/topics/" + url.PathEscape(topicID) + "/messages?" + q.Encode()
		for i := 0; ref != "" && i < maxMirrorPages; i++ {
			next, err := m.pageInto(ctx, ref, func(c chunk) {
				if c.groupKey != "" && a.groups[c.groupKey] != nil {
					a.add(c)
				}
			})
			if err != nil {
				return nil, err
			}
			ref = next
		}
	}
	sortMessages(a.done)
	return a.done, nil
}

func (m *mirrorClient) page(ctx context.Context, ref string, a *assembler) (string, error) {
	return m.pageInto(ctx, ref, a.add)
}

func (m *mirrorClient) pageInto(ctx context.Context, ref string, add func(chunk)) (string, error) {
	var raw json.RawMessage
	if err := m.get(ctx, ref, &raw); err != nil {
		if errors.Is(err, errMirrorNotFound) {
			return "", ledger.ErrTopicNotFound
		}
		return "", fmt.Errorf("hedera: messages: %w", err)
	}
	rows, next, skipped, err := parseMirrorPage(raw)
	if err != nil {
		return "", fmt.Errorf("%w: mirror: decode: %w", ledger.ErrUnavailable, err)
	}
	_ = skipped
	for _, c := range rows {
		add(c)
	}
	return next, nil
}

func sortMessages(ms []ledger.Message) {
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].ConsensusTime.Equal(ms[j].ConsensusTime) {
			return ms[i].ConsensusTime.Before(ms[j].ConsensusTime)
		}
		return ms[i].Sequence < ms[j].Sequence
	})
}

// mergeMessages joins mirror results with local writes, dropping local
// duplicates (same first-chunk sequence number), and keeps the first limit
// in consensus order.
func mergeMessages(mirror, local []ledger.Message, limit int) []ledger.Message {
	seen := make(map[uint64]bool, len(mirror))
	out := make([]ledger.Message, 0, len(mirror)+len(local))
	for _, m := range mirror {
		seen[m.Sequence] = true
		out = append(out, m)
	}
	for _, m := range local {
		if !seen[m.Sequence] {
			seen[m.Sequence] = true
			out = append(out, m)
		}
	}
	sortMessages(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
