package evm

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Doer sends one HTTP request; sdk.HTTP (the host's HTTP capability) is the
// default.
type Doer func(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error)

// DefaultMaxReply is the default cap on a JSON-RPC reply body.
const DefaultMaxReply = 256 << 10

// Client talks Ethereum JSON-RPC 2.0 (https://ethereum.org/en/developers/docs/apis/json-rpc/)
// to one chain through the host's HTTP capability. Every exchange is a
// batch (JSON-RPC 2.0 section 6) so that the chain ID check, the block
// number and the first calls cost one round trip.
type Client struct {
	// URLs are the RPC endpoints, tried in order when one is unavailable.
	URLs []string
	// ChainID is the chain ID every endpoint must answer to eth_chainId.
	ChainID uint64
	// MaxReply caps a reply body (default DefaultMaxReply).
	MaxReply int
	// TimeoutMs is the per-request timeout asked of the host (0: the
	// host's default).
	TimeoutMs uint32
	// Do sends requests (default sdk.HTTP).
	Do Doer
}

// CAIP2 is the chain's CAIP-2 identifier, "eip155:<chain id>".
func (c *Client) CAIP2() string { return "eip155:" + strconv.FormatUint(c.ChainID, 10) }

// IsChain reports whether chain is a CAIP-2 EVM chain ("eip155:<n>"). An
// EVM account is the same key on every EVM chain, so a signature made for
// one (a SIWE message names one) proves control of the address on the
// others.
func IsChain(chain string) bool {
	id, ok := strings.CutPrefix(chain, "eip155:")
	if !ok {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}

// Call is one eth_call: data sent to contract To.
type Call struct {
	To   Address
	Data []byte
}

// Result is the outcome of one eth_call. Err is nil, or wraps ErrReverted
// when the call reverted (a contract's way to say "no such token"); any
// other failure fails the whole exchange instead.
type Result struct {
	Ret []byte
	Err error
}

// ErrReverted is wrapped by Result.Err for a call the EVM reverted.
var ErrReverted = errors.New("evm: execution reverted")

// Session is a sequence of exchanges with one endpoint whose chain ID was
// checked, pinned to the block number read in the first one.
type Session struct {
	c     *Client
	url   string
	Block uint64 // the block every call after the first exchange runs at
}

// Begin checks the chain ID of the first endpoint that answers, reads the
// latest block number and runs calls at "latest", all in one batch. Errors
// are *abiv1.Error: UNAVAILABLE (or RATE_LIMITED) when no endpoint gives a
// good answer — transport failure, HTTP error status, an over-large or
// malformed reply, a JSON-RPC error, a chain ID other than ChainID.
func (c *Client) Begin(ctx context.Context, calls []Call) (*Session, []Result, error) {
	if len(c.URLs) == 0 {
		return nil, nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "no RPC endpoint configured for %s", c.CAIP2())
	}
	var last error
	for _, u := range c.URLs {
		s := &Session{c: c, url: u}
		reqs := []request{{Method: "eth_chainId"}, {Method: "eth_blockNumber"}}
		for _, cl := range calls {
			reqs = append(reqs, callRequest(cl, "latest"))
		}
		replies, err := s.exchange(ctx, reqs)
		if err == nil {
			err = s.checkHead(replies[0], replies[1])
		}
		if err != nil {
			last = err
			if e := abiv1.AsError(err); e.Code == abiv1.ErrorCodePermissionDenied {
				return nil, nil, err
			}
			continue
		}
		results, err := s.results(replies[2:])
		if err != nil {
			return nil, nil, err
		}
		return s, results, nil
	}
	return nil, nil, last
}

// Calls runs calls at the session's block in one batch.
func (s *Session) Calls(ctx context.Context, calls []Call) ([]Result, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	tag := "0x" + strconv.FormatUint(s.Block, 16)
	reqs := make([]request, len(calls))
	for i, cl := range calls {
		reqs[i] = callRequest(cl, tag)
	}
	replies, err := s.exchange(ctx, reqs)
	if err != nil {
		return nil, err
	}
	return s.results(replies)
}

// Endpoint is the host name of the session's endpoint (never its path or
// query, which may carry an API key).
func (s *Session) Endpoint() string { return redact(s.url) }

func (s *Session) checkHead(chain, block Reply) error {
	if chain.Error != nil {
		return s.unavailable("eth_chainId: %v", chain.Error)
	}
	id, err := ParseQuantity(chain.Result)
	if err != nil {
		return s.unavailable("eth_chainId: %v", err)
	}
	if id != s.c.ChainID {
		return s.unavailable("chain ID %d, expected %d", id, s.c.ChainID)
	}
	if block.Error != nil {
		return s.unavailable("eth_blockNumber: %v", block.Error)
	}
	if s.Block, err = ParseQuantity(block.Result); err != nil {
		return s.unavailable("eth_blockNumber: %v", err)
	}
	return nil
}

func (s *Session) results(replies []Reply) ([]Result, error) {
	out := make([]Result, len(replies))
	for i, r := range replies {
		if r.Error != nil {
			if r.Error.IsRevert() {
				out[i].Err = fmt.Errorf("%w: %s", ErrReverted, r.Error.Message)
				continue
			}
			return nil, s.unavailable("eth_call: %v", r.Error)
		}
		b, err := ParseData(r.Result)
		if err != nil {
			return nil, s.unavailable("eth_call: %v", err)
		}
		out[i].Ret = b
	}
	return out, nil
}

func (s *Session) unavailable(format string, args ...any) *abiv1.Error {
	e := abiv1.Errorf(abiv1.ErrorCodeUnavailable, "%s (%s): "+format, append([]any{s.c.CAIP2(), redact(s.url)}, args...)...)
	e.Retryable = true
	return e
}

type request struct {
	Method string
	Params []any
}

func callRequest(c Call, tag string) request {
	return request{Method: "eth_call", Params: []any{
		map[string]string{"to": c.To.Hex(), "data": "0x" + hex.EncodeToString(c.Data)}, tag}}
}

type wireRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int    `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// exchange sends reqs as one batch and returns the replies in request
// order.
func (s *Session) exchange(ctx context.Context, reqs []request) ([]Reply, error) {
	wire := make([]wireRequest, len(reqs))
	for i, r := range reqs {
		p := r.Params
		if p == nil {
			p = []any{}
		}
		wire[i] = wireRequest{JSONRPC: "2.0", ID: i + 1, Method: r.Method, Params: p}
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "encode request: %v", err)
	}
	do := s.c.Do
	if do == nil {
		do = sdk.HTTP
	}
	res, err := do(ctx, &abiv1.HTTPRequest{
		Method:    "POST",
		URL:       s.url,
		Headers:   []*abiv1.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
		Body:      body,
		TimeoutMs: s.c.TimeoutMs,
	})
	if err != nil {
		if e, ok := errors.AsType[*abiv1.Error](err); ok && e.Code == abiv1.ErrorCodePermissionDenied {
			return nil, abiv1.Errorf(abiv1.ErrorCodePermissionDenied, "%s (%s): %s", s.c.CAIP2(), redact(s.url), e.Message)
		}
		return nil, s.unavailable("%v", err)
	}
	switch {
	case res.Status == 429:
		e := abiv1.Errorf(abiv1.ErrorCodeRateLimited, "%s (%s): HTTP 429", s.c.CAIP2(), redact(s.url))
		e.Retryable = true
		return nil, e
	case res.Status != 200:
		return nil, s.unavailable("HTTP %d", res.Status)
	}
	max := s.c.MaxReply
	if max <= 0 {
		max = DefaultMaxReply
	}
	if len(res.Body) > max {
		return nil, s.unavailable("reply of %d bytes is over the cap of %d", len(res.Body), max)
	}
	replies, err := ParseBatch(res.Body, len(reqs))
	if err != nil {
		return nil, s.unavailable("%v", err)
	}
	return replies, nil
}

// redact returns the scheme and host of an endpoint URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "endpoint"
	}
	return u.Scheme + "://" + u.Host
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("JSON-RPC error %d: %.200s", e.Code, e.Message)
}

// IsRevert reports whether e is an execution revert: code 3 (the
// execution-error code geth, anvil and most providers use for reverts with
// data) or a message saying so (code -32000 "execution reverted" of older
// nodes).
func (e *RPCError) IsRevert() bool {
	return e.Code == 3 || strings.Contains(strings.ToLower(e.Message), "revert")
}

// Reply is one reply of a batch: a raw result or an error.
type Reply struct {
	Result json.RawMessage
	Error  *RPCError
}

// ErrReply is wrapped by ParseBatch's errors: the body is not a valid reply
// to the batch.
var ErrReply = errors.New("evm: malformed JSON-RPC reply")

type wireReply struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *RPCError       `json:"error"`
}

// ParseBatch parses the reply to a batch of n requests with IDs 1..n and
// returns the replies in ID order. A server may answer in any order; every
// ID must be answered exactly once, each with a result or an error. A
// single error object instead of an array (a server refusing the whole
// batch) is returned as that error.
func ParseBatch(body []byte, n int) ([]Reply, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var single wireReply
		if err := json.Unmarshal(body, &single); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrReply, err)
		}
		if single.Error != nil {
			return nil, single.Error
		}
		return nil, fmt.Errorf("%w: an object, not an array, in reply to a batch", ErrReply)
	}
	var wire []wireReply
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReply, err)
	}
	if len(wire) != n {
		return nil, fmt.Errorf("%w: %d replies to %d requests", ErrReply, len(wire), n)
	}
	out := make([]Reply, n)
	seen := make([]bool, n)
	for _, w := range wire {
		id, err := strconv.Atoi(string(w.ID))
		if err != nil || id < 1 || id > n || seen[id-1] {
			return nil, fmt.Errorf("%w: unexpected id %.40s", ErrReply, w.ID)
		}
		seen[id-1] = true
		if w.JSONRPC != "2.0" {
			return nil, fmt.Errorf("%w: jsonrpc %q", ErrReply, w.JSONRPC)
		}
		hasResult := len(w.Result) > 0 && string(w.Result) != "null"
		switch {
		case w.Error != nil && !hasResult:
			out[id-1].Error = w.Error
		case w.Error == nil && hasResult:
			out[id-1].Result = w.Result
		default:
			return nil, fmt.Errorf("%w: reply %d has neither or both of result and error", ErrReply, id)
		}
	}
	return out, nil
}

// ParseQuantity parses a JSON-RPC QUANTITY: a JSON string "0x" and
// hex digits without leading zeros, here at most 64 bits.
func ParseQuantity(raw json.RawMessage) (uint64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("%w: quantity: %v", ErrReply, err)
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || h == "" || len(h) > 16 || (len(h) > 1 && h[0] == '0') {
		return 0, fmt.Errorf("%w: quantity %.40q", ErrReply, s)
	}
	n, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: quantity %.40q", ErrReply, s)
	}
	return n, nil
}

// ParseData parses a JSON-RPC DATA: a JSON string "0x" and an even number
// of hex digits.
func ParseData(raw json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: data: %v", ErrReply, err)
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h)%2 != 0 {
		return nil, fmt.Errorf("%w: data %.40q", ErrReply, s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: data %.40q", ErrReply, s)
	}
	return b, nil
}
