// Package evm runs a local Ethereum chain for tests: anvil (npm
// @foundry-rs/anvil, pinned in package-lock.json beside this file) on
// loopback, loaded with the chain dump that npm @unstoppabledomains/uns ships
// as dist/sandbox/state.json. The dump holds the real, deployed ENS contracts
// (ENSRegistry, BaseRegistrarImplementation, NameWrapper, PublicResolver,
// ReverseRegistrar, ...) and UNS contracts (UNSRegistry, CNSRegistry,
// ProxyReader, MintingManager, ...), at the addresses the same package lists
// in ens-config.json and uns-config.json (network "1337").
//
// Nothing here installs anything: run `npm ci` in interop/evm first (.ci/run
// does). Start returns an error wrapping ErrNotInstalled when it was not run;
// tests call Require, which skips then, or fails when the environment
// variable CI is set.
//
// anvil --load-state refuses the dump (format drift), so Start copies every
// account of its "accounts" map into the fresh chain with anvil_setCode,
// anvil_setBalance, anvil_setNonce and anvil_setStorageAt. anvil runs with
// --auto-impersonate, so Send can send a transaction from any address
// (the BaseRegistrar's owner, a name's owner, the UNS minter) without keys.
//
// The helpers (RegisterETH, Wrap, SetAddr, SetText, SetName, Mint, transfer
// and time helpers) encode their calls with the small ABI encoder in abi.go,
// written independently of the plugins' decoder they test.
package evm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ErrNotInstalled means interop/evm/node_modules lacks anvil or the UNS
// package (run `npm ci --no-audit --no-fund` in interop/evm).
var ErrNotInstalled = errors.New("evm: test chain not installed (npm ci in interop/evm)")

// Dir is the harness folder relative to the module root.
const Dir = "interop/evm"

// ChainID is the chain ID of the sandbox dump (and of the anvil started).
const ChainID = 1337

// Mnemonic is the sandbox's mnemonic: account 0 deployed the contracts,
// account 1 is the UNS minter.
const Mnemonic = "mimic dune forward party defy island absorb insane deputy obvious brother immense"

// ENS holds the addresses of the sandbox's ENS contracts.
type ENS struct {
	Registry, BaseRegistrar, NameWrapper, PublicResolver, ReverseRegistrar string
}

// UNS holds the addresses of the sandbox's UNS contracts.
type UNS struct {
	UNSRegistry, CNSRegistry, ProxyReader, MintingManager, MintableERC721Predicate string
}

// Chain is a running anvil loaded with the sandbox. Its methods are safe
// for concurrent use, but tests that change the chain's time should not run
// in parallel with others.
type Chain struct {
	// URL is the JSON-RPC endpoint, http://127.0.0.1:<port>.
	URL string
	// ChainID is the chain ID anvil answers.
	ChainID uint64
	// Accounts are anvil's dev accounts, derived from Mnemonic: [0] the
	// deployer, [1] the UNS minter, the rest free for tests.
	Accounts []string
	ENS      ENS
	UNS      UNS

	cmd    *exec.Cmd
	stderr *bytes.Buffer
	id     atomic.Int64
	client *http.Client
	ctl    bool // the deployer is a BaseRegistrar controller
	sendMu sync.Mutex
}

// FindDir returns the absolute path of interop/evm, found by walking up from
// the working directory to the module root.
func FindDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("evm: working directory: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, filepath.FromSlash(Dir)), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("evm: no go.mod above %s", wd)
		}
		d = parent
	}
}

func unsDir(dir string) string {
	return filepath.Join(dir, "node_modules", "@unstoppabledomains", "uns")
}

// Check reports whether the harness in dir is installed; the error wraps
// ErrNotInstalled.
func Check(dir string) error {
	for _, p := range []string{
		filepath.Join(dir, "node_modules", ".bin", "anvil"),
		filepath.Join(unsDir(dir), "dist", "sandbox", "state.json"),
		filepath.Join(unsDir(dir), "ens-config.json"),
		filepath.Join(unsDir(dir), "uns-config.json"),
	} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: %s missing", ErrNotInstalled, p)
		}
	}
	return nil
}

// Require skips tb when the harness is not installed, or fails it when the
// environment variable CI is set (CI installs it, so a missing harness is a
// broken build there).
func Require(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		tb.Skipf("%v", err)
	}
	tb.Fatalf("%v", err)
}

// Start starts anvil on a free loopback port with chain ID ChainID and
// loads the sandbox into it. Close stops it.
func Start(ctx context.Context) (*Chain, error) { return StartChain(ctx, ChainID) }

// StartChain is Start with another chain ID, e.g. 137 for a second chain
// standing in for Polygon (UNS is deployed on Ethereum and Polygon with the
// same contracts): the dump's contracts are loaded all the same.
func StartChain(ctx context.Context, chainID uint64) (*Chain, error) {
	dir, err := FindDir()
	if err != nil {
		return nil, err
	}
	if err := Check(dir); err != nil {
		return nil, err
	}
	c := &Chain{ChainID: chainID, client: &http.Client{Timeout: 30 * time.Second}, stderr: new(bytes.Buffer)}
	if err := c.readConfig(unsDir(dir)); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	c.cmd = exec.Command(anvilPath(dir),
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--chain-id", strconv.FormatUint(chainID, 10), "--hardfork", "prague",
		"--mnemonic", Mnemonic, "--accounts", "10", "--auto-impersonate",
		"--silent")
	c.cmd.SysProcAttr = procAttr()
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("evm: start anvil: %w", err)
	}
	if err := c.waitUp(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.load(ctx, filepath.Join(unsDir(dir), "dist", "sandbox", "state.json")); err != nil {
		c.Close()
		return nil, err
	}
	var accts []string
	if err := c.RPC(ctx, &accts, "eth_accounts"); err != nil {
		c.Close()
		return nil, err
	}
	c.Accounts = accts
	return c, nil
}

// Close stops anvil.
func (c *Chain) Close() {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return
	}
	kill(c.cmd.Process)
	_ = c.cmd.Wait()
}

// anvilPath is the anvil binary of the platform package
// (@foundry-rs/anvil-<os>-<arch>) when npm installed it, else the npm
// wrapper script node_modules/.bin/anvil.
func anvilPath(dir string) string {
	arch := runtime.GOARCH
	bin := filepath.Join(dir, "node_modules", "@foundry-rs", "anvil-"+runtime.GOOS+"-"+arch, "bin", "anvil")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	return filepath.Join(dir, "node_modules", ".bin", "anvil")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("evm: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Chain) waitUp(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var id string
		err := c.RPC(ctx, &id, "eth_chainId")
		if err == nil {
			if id != "0x"+strconv.FormatUint(c.ChainID, 16) {
				return fmt.Errorf("evm: anvil chain id %s", id)
			}
			return nil
		}
		if c.cmd.ProcessState != nil || time.Now().After(deadline) {
			return fmt.Errorf("evm: anvil did not start: %v: %s", err, c.stderr.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Chain) readConfig(dir string) error {
	type contracts struct {
		Networks map[string]struct {
			Contracts map[string]struct {
				Address string `json:"address"`
			} `json:"contracts"`
		} `json:"networks"`
	}
	read := func(file string) (map[string]string, error) {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, fmt.Errorf("evm: %w", err)
		}
		var cs contracts
		if err := json.Unmarshal(b, &cs); err != nil {
			return nil, fmt.Errorf("evm: %s: %w", file, err)
		}
		out := map[string]string{}
		for k, v := range cs.Networks[strconv.Itoa(ChainID)].Contracts {
			out[k] = v.Address
		}
		return out, nil
	}
	e, err := read("ens-config.json")
	if err != nil {
		return err
	}
	u, err := read("uns-config.json")
	if err != nil {
		return err
	}
	c.ENS = ENS{Registry: e["ENSRegistry"], BaseRegistrar: e["BaseRegistrarImplementation"],
		NameWrapper: e["NameWrapper"], PublicResolver: e["PublicResolver"], ReverseRegistrar: e["ReverseRegistrar"]}
	c.UNS = UNS{UNSRegistry: u["UNSRegistry"], CNSRegistry: u["CNSRegistry"], ProxyReader: u["ProxyReader"],
		MintingManager: u["MintingManager"], MintableERC721Predicate: u["MintableERC721Predicate"]}
	for _, a := range []string{c.ENS.Registry, c.ENS.BaseRegistrar, c.ENS.NameWrapper, c.ENS.PublicResolver,
		c.ENS.ReverseRegistrar, c.UNS.UNSRegistry, c.UNS.CNSRegistry, c.UNS.ProxyReader, c.UNS.MintingManager} {
		if len(a) != 42 {
			return fmt.Errorf("evm: contract address %q missing from the sandbox config", a)
		}
	}
	return nil
}

// load copies every account of the dump into the chain, one JSON-RPC batch
// per account.
func (c *Chain) load(ctx context.Context, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("evm: %w", err)
	}
	defer f.Close()
	var dump struct {
		Accounts map[string]struct {
			Nonce   json.Number       `json:"nonce"`
			Balance string            `json:"balance"`
			Code    string            `json:"code"`
			Storage map[string]string `json:"storage"`
		} `json:"accounts"`
	}
	if err := json.NewDecoder(bufio.NewReader(f)).Decode(&dump); err != nil {
		return fmt.Errorf("evm: %s: %w", file, err)
	}
	if len(dump.Accounts) == 0 {
		return fmt.Errorf("evm: %s: no accounts", file)
	}
	for addr, a := range dump.Accounts {
		var batch []rpcRequest
		add := func(method string, params ...any) {
			batch = append(batch, rpcRequest{JSONRPC: "2.0", ID: c.id.Add(1), Method: method, Params: params})
		}
		if a.Code != "" && a.Code != "0x" {
			add("anvil_setCode", addr, a.Code)
		}
		if a.Balance != "" {
			add("anvil_setBalance", addr, a.Balance)
		}
		if n, err := strconv.ParseUint(a.Nonce.String(), 0, 64); err == nil && n > 0 {
			add("anvil_setNonce", addr, "0x"+strconv.FormatUint(n, 16))
		}
		for k, v := range a.Storage {
			add("anvil_setStorageAt", addr, pad32(k), pad32(v))
		}
		if len(batch) == 0 {
			continue
		}
		if err := c.batch(ctx, batch); err != nil {
			return fmt.Errorf("evm: load %s: %w", addr, err)
		}
	}
	// A block, so that "latest" includes the loaded state everywhere.
	return c.RPC(ctx, nil, "evm_mine")
}

// pad32 left-pads a hex quantity to 32 bytes, as anvil_setStorageAt wants.
func pad32(h string) string {
	h = strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "0X")
	if len(h) < 64 {
		h = strings.Repeat("0", 64-len(h)) + h
	}
	return "0x" + h
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcReply struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("json-rpc error %d: %s %s", e.Code, e.Message, e.Data)
}

func (c *Chain) post(ctx context.Context, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("evm: HTTP %d: %.200s", res.StatusCode, rb)
	}
	return json.Unmarshal(rb, out)
}

func (c *Chain) batch(ctx context.Context, reqs []rpcRequest) error {
	var replies []rpcReply
	if err := c.post(ctx, reqs, &replies); err != nil {
		return err
	}
	for _, r := range replies {
		if r.Error != nil {
			return r.Error
		}
	}
	if len(replies) != len(reqs) {
		return fmt.Errorf("evm: %d replies to %d requests", len(replies), len(reqs))
	}
	return nil
}

// RPC calls method with params and decodes its result into out (nil:
// discard). A JSON-RPC error is returned as *RPCError.
func (c *Chain) RPC(ctx context.Context, out any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	var r rpcReply
	if err := c.post(ctx, rpcRequest{JSONRPC: "2.0", ID: c.id.Add(1), Method: method, Params: params}, &r); err != nil {
		return fmt.Errorf("evm: %s: %w", method, err)
	}
	if r.Error != nil {
		return fmt.Errorf("evm: %s: %w", method, r.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("evm: %s: result: %w", method, err)
	}
	return nil
}

// Call runs eth_call of data on contract to at the latest block and returns
// the returned bytes.
func (c *Chain) Call(ctx context.Context, to string, data []byte) ([]byte, error) {
	var out string
	if err := c.RPC(ctx, &out, "eth_call", map[string]string{"to": to, "data": "0x" + hex.EncodeToString(data)}, "latest"); err != nil {
		return nil, err
	}
	return hex.DecodeString(strings.TrimPrefix(out, "0x"))
}

// Send sends a transaction from from (any address: anvil impersonates it)
// to contract to with calldata data, waits for its receipt (anvil mines at
// once) and fails unless it succeeded.
func (c *Chain) Send(ctx context.Context, from, to string, data []byte) error {
	var bal string
	if err := c.RPC(ctx, &bal, "eth_getBalance", from, "latest"); err != nil {
		return err
	}
	if bal == "0x0" {
		// An impersonated account still pays for gas.
		if err := c.RPC(ctx, nil, "anvil_setBalance", from, "0x56bc75e2d63100000"); err != nil {
			return err
		}
	}
	// The nonce is given explicitly: after anvil_setNonce, anvil's pool
	// may still assign a stale one, leaving the transaction pending.
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	var nonce string
	if err := c.RPC(ctx, &nonce, "eth_getTransactionCount", from, "latest"); err != nil {
		return err
	}
	var hash string
	tx := map[string]string{"from": from, "to": to, "data": "0x" + hex.EncodeToString(data), "nonce": nonce}
	if err := c.RPC(ctx, &hash, "eth_sendTransaction", tx); err != nil {
		return err
	}
	// anvil mines at once but may answer before the block is in: poll.
	var rc struct {
		Status string `json:"status"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := c.RPC(ctx, &rc, "eth_getTransactionReceipt", hash); err != nil {
			return err
		}
		if rc.Status != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if rc.Status != "0x1" {
		return fmt.Errorf("evm: transaction %s to %s failed (status %q)", hash, to, rc.Status)
	}
	return nil
}

// BlockNumber returns the latest block number.
func (c *Chain) BlockNumber(ctx context.Context) (uint64, error) {
	var h string
	if err := c.RPC(ctx, &h, "eth_blockNumber"); err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimPrefix(h, "0x"), 16, 64)
}

// IncreaseTime moves the chain's clock forward by d and mines a block, so
// that view calls at "latest" see the new time.
func (c *Chain) IncreaseTime(ctx context.Context, d time.Duration) error {
	if err := c.RPC(ctx, nil, "evm_increaseTime", int64(d/time.Second)); err != nil {
		return err
	}
	return c.RPC(ctx, nil, "evm_mine")
}

// Snapshot records the chain's state; Revert(id) returns to it.
func (c *Chain) Snapshot(ctx context.Context) (string, error) {
	var id string
	err := c.RPC(ctx, &id, "evm_snapshot")
	return id, err
}

// Revert returns the chain to snapshot id (which is then used up).
func (c *Chain) Revert(ctx context.Context, id string) error {
	var ok bool
	if err := c.RPC(ctx, &ok, "evm_revert", id); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("evm: revert to snapshot %s refused", id)
	}
	return nil
}
