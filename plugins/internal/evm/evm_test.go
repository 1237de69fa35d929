package evm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

func h32(s string) [32]byte {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		panic(s)
	}
	return [32]byte(b)
}

// TestNamehash checks the vectors of EIP-137 section "Namehash algorithm"
// (https://eips.ethereum.org/EIPS/eip-137) and ENS's documented labelhash of
// "eth".
func TestNamehash(t *testing.T) {
	for _, v := range []struct{ name, want string }{
		{"", "0x0000000000000000000000000000000000000000000000000000000000000000"},
		{"eth", "0x93cdeb708b7545dc668eb9280176169d1c33cfd8ed6f04690a0bcc88a93fc4ae"},
		{"foo.eth", "0xde9b09fd7c5f901e23a3f19fecc54828e9c848539801e86591bd9801b019f84f"},
		{"addr.reverse", "0x91d1777781884d03a6757a803996e38de2a42967fb37eeaca72729271025a9e2"},
	} {
		if got := Namehash(v.name); got != h32(v.want) {
			t.Errorf("namehash(%q) = %x, want %s", v.name, got, v.want)
		}
	}
	if got := Labelhash("eth"); got != h32("0x4f5b812789fc606be1b3b16908db13fc7a9adf7ca72641f84d75b47069d3d7f0") {
		t.Errorf("labelhash(eth) = %x", got)
	}
}

// TestSelectors checks selectors against the interface IDs the ENS and
// ERC specs publish (EIP-137, EIP-165, ENSIP-10, EIP-181, ERC-721).
func TestSelectors(t *testing.T) {
	for sig, want := range map[string]string{
		"owner(bytes32)":            "02571be3",
		"resolver(bytes32)":         "0178b8bf",
		"addr(bytes32)":             "3b3b57de",
		"addr(bytes32,uint256)":     "f1cb7e06",
		"text(bytes32,string)":      "59d1d43c",
		"name(bytes32)":             "691f3431",
		"supportsInterface(bytes4)": "01ffc9a7",
		"resolve(bytes,bytes)":      "9061b923",
		"ownerOf(uint256)":          "6352211e",
	} {
		if got := Selector(sig); hex.EncodeToString(got[:]) != want {
			t.Errorf("%s: %x, want %s", sig, got, want)
		}
	}
}

// TestAddress checks the EIP-55 vectors (https://eips.ethereum.org/EIPS/eip-55).
func TestAddress(t *testing.T) {
	for _, s := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		a, err := ParseAddress(s)
		if err != nil || a.Hex() != s {
			t.Errorf("%s: %v %s", s, err, a.Hex())
		}
		if b, err := ParseAddress(strings.ToLower(s)); err != nil || b != a {
			t.Errorf("lowercase %s: %v", s, err)
		}
		bad := []byte(s)
		i := 2 + strings.IndexAny(s[2:], "abcdefABCDEF")
		bad[i] ^= 0x20 // flip the case of one letter
		if _, err := ParseAddress(string(bad)); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s: wrong checksum accepted: %v", bad, err)
		}
	}
	for _, s := range []string{"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "0xZZAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"} {
		if _, err := ParseAddress(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestDNSEncode(t *testing.T) {
	b, err := DNSEncode("sub.alice.eth")
	if err != nil || !bytes.Equal(b, []byte("\x03sub\x05alice\x03eth\x00")) {
		t.Fatalf("%q %v", b, err)
	}
	for _, n := range []string{"a..eth", ".eth", strings.Repeat("a", 256) + ".eth"} {
		if _, err := DNSEncode(n); err == nil {
			t.Errorf("%q encoded", n)
		}
	}
}

// TestEncodeDecode: a function's return data is encoded like its
// arguments, so encoding with Encode and decoding the tail checks both.
func TestEncodeDecode(t *testing.T) {
	ret := Encode("f(string)", String("héllo"))[4:]
	if s, err := DecodeString(ret); err != nil || s != "héllo" {
		t.Fatalf("%q %v", s, err)
	}
	in := []string{"crypto.ETH.address", "", strings.Repeat("x", 70)}
	ret = Encode("f(string[])", Strings(in))[4:]
	got, err := DecodeStrings(ret, 10)
	if err != nil || len(got) != 3 || got[0] != in[0] || got[1] != "" || got[2] != in[2] {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := DecodeStrings(ret, 2); !errors.Is(err, ErrABI) {
		t.Fatalf("over max: %v", err)
	}
	a, _ := ParseAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
	ret = Encode("f(address)", a)[4:]
	if got, err := DecodeAddress(ret); err != nil || got != a {
		t.Fatalf("%v %v", got, err)
	}
	ret[0] = 1
	if _, err := DecodeAddress(ret); !errors.Is(err, ErrABI) {
		t.Fatalf("dirty address word: %v", err)
	}
	if _, err := DecodeBool(Encode("f(uint256)", Uint(2))[4:]); !errors.Is(err, ErrABI) {
		t.Fatalf("bool 2: %v", err)
	}
	if v, err := DecodeUint64(Encode("f(uint256)", Uint(1<<40))[4:]); err != nil || v != 1<<40 {
		t.Fatalf("%d %v", v, err)
	}
	// Truncations and lying lengths of a bytes return.
	ret = Encode("f(bytes)", Bytes([]byte("0123456789")))[4:]
	for i := 0; i < len(ret); i++ {
		if _, err := DecodeBytes(ret[:i]); err == nil && i < 64+10 {
			t.Errorf("truncated to %d decoded", i)
		}
	}
	bad := bytes.Clone(ret)
	bad[63] = 200
	if _, err := DecodeBytes(bad); !errors.Is(err, ErrABI) {
		t.Errorf("length past the end: %v", err)
	}
}

func TestParseBatch(t *testing.T) {
	r, err := ParseBatch([]byte(`[{"jsonrpc":"2.0","id":2,"error":{"code":3,"message":"execution reverted"}},{"jsonrpc":"2.0","id":1,"result":"0x539"}]`), 2)
	if err != nil || string(r[0].Result) != `"0x539"` || !r[1].Error.IsRevert() {
		t.Fatalf("%+v %v", r, err)
	}
	if n, err := ParseQuantity(r[0].Result); err != nil || n != 1337 {
		t.Fatalf("%d %v", n, err)
	}
	for _, body := range []string{
		``, `null`, `[]`, `{}`, `"x"`, `[1,2]`,
		`[{"jsonrpc":"2.0","id":1,"result":"0x1"}]`,                                         // one reply for two
		`[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":1,"result":"0x1"}]`, // id twice
		`[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":3,"result":"0x1"}]`, // unknown id
		`[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2}]`,                // neither
		`[{"jsonrpc":"1.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":"0x1"}]`,
	} {
		if _, err := ParseBatch([]byte(body), 2); err == nil {
			t.Errorf("%s parsed", body)
		}
	}
	var rpcErr *RPCError
	if _, err := ParseBatch([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"limit exceeded"}}`), 2); !errors.As(err, &rpcErr) || rpcErr.Code != -32005 {
		t.Errorf("single error object: %v", err)
	}
	for _, q := range []string{`"0x"`, `"0x01"`, `"12"`, `12`, `"0x10000000000000000"`, `"0xg"`} {
		if _, err := ParseQuantity([]byte(q)); err == nil {
			t.Errorf("quantity %s parsed", q)
		}
	}
	for _, d := range []string{`"0x1"`, `"ab"`, `"0xzz"`, `null`, `1`} {
		if _, err := ParseData([]byte(d)); err == nil {
			t.Errorf("data %s parsed", d)
		}
	}
}

// fakeRPC answers a batch with body for any request.
func fakeRPC(status int32, body string) Doer {
	return func(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
		return &abiv1.HTTPResponse{Status: status, Body: []byte(body)}, nil
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	good := `[{"jsonrpc":"2.0","id":1,"result":"0x539"},{"jsonrpc":"2.0","id":2,"result":"0x10"}]`
	c := &Client{URLs: []string{"https://rpc.example/v3/SECRETKEY"}, ChainID: 1337, Do: fakeRPC(200, good)}
	s, _, err := c.Begin(ctx, nil)
	if err != nil || s.Block != 16 {
		t.Fatalf("%v %v", s, err)
	}
	for name, tc := range map[string]struct {
		status int32
		body   string
		code   abiv1.ErrorCode
	}{
		"wrong chain":  {200, `[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":"0x10"}]`, abiv1.ErrorCodeUnavailable},
		"rpc error":    {200, `[{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal"}},{"jsonrpc":"2.0","id":2,"result":"0x10"}]`, abiv1.ErrorCodeUnavailable},
		"garbage":      {200, `<html>oops</html>`, abiv1.ErrorCodeUnavailable},
		"http 500":     {500, good, abiv1.ErrorCodeUnavailable},
		"rate limited": {429, ``, abiv1.ErrorCodeRateLimited},
		"huge":         {200, `[` + strings.Repeat(" ", DefaultMaxReply) + `]`, abiv1.ErrorCodeUnavailable},
	} {
		c.Do = fakeRPC(tc.status, tc.body)
		_, _, err := c.Begin(ctx, nil)
		e := abiv1.AsError(err)
		if err == nil || e.Code != tc.code {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(e.Message, "SECRETKEY") {
			t.Errorf("%s: the URL's path leaked into %q", name, e.Message)
		}
	}
	// The second endpoint is tried when the first is down.
	calls := 0
	c.URLs = []string{"https://down.example", "https://up.example"}
	c.Do = func(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
		calls++
		if strings.Contains(req.URL, "down") {
			return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "connection refused")
		}
		return &abiv1.HTTPResponse{Status: 200, Body: []byte(good)}, nil
	}
	if s, _, err := c.Begin(ctx, nil); err != nil || s.Endpoint() != "https://up.example" || calls != 2 {
		t.Fatalf("fallback: %v %v %d", s, err, calls)
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"result":"0x539"},{"jsonrpc":"2.0","id":2,"result":"0x10"}]`), 2)
	f.Add([]byte(`[{"jsonrpc":"2.0","id":2,"error":{"code":3,"message":"execution reverted","data":"0x"}},{"jsonrpc":"2.0","id":1,"result":"0x"}]`), 2)
	f.Add([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`), 1)
	f.Add([]byte(`[null]`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		r, err := ParseBatch(body, n)
		if err != nil {
			return
		}
		if len(r) != n {
			t.Fatalf("%d replies for %d", len(r), n)
		}
		for _, x := range r {
			if (x.Error == nil) == (x.Result == nil) {
				t.Fatalf("reply with neither or both: %+v", x)
			}
			_, _ = ParseData(x.Result)
			_, _ = ParseQuantity(x.Result)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode("f(string)", String("alice.eth"))[4:])
	f.Add(Encode("f(string[])", Strings{"a", "bc", ""})[4:])
	f.Add(Encode("f(bytes)", Bytes{1, 2, 3})[4:])
	f.Add(Encode("f(uint256)", Uint(1))[4:])
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := DecodeBytes(data); err == nil && len(b) > len(data) {
			t.Fatalf("decoded %d bytes from %d", len(b), len(data))
		}
		if s, err := DecodeString(data); err == nil {
			// Re-encoding what was decoded decodes to the same string.
			if s2, err := DecodeString(Encode("f(string)", String(s))[4:]); err != nil || s2 != s {
				t.Fatalf("round trip %q: %q %v", s, s2, err)
			}
		}
		if ss, err := DecodeStrings(data, 100); err == nil && len(ss) > 100 {
			t.Fatalf("%d strings over the max", len(ss))
		}
		_, _ = DecodeAddress(data)
		_, _ = DecodeBool(data)
		_, _ = DecodeUint64(data)
		_, _ = DecodeWord(data)
	})
}
