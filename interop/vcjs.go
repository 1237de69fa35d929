// Package interop tests gatewayd's credentials against independent
// implementations: the Digital Bazaar JavaScript libraries (@digitalbazaar/vc,
// the eddsa-rdfc-2022 and eddsa-jcs-2022 cryptosuites,
// vc-bitstring-status-list) and jose for vc+jwt, run by the Node harness in
// vcjs/ (harness.mjs, versions pinned by vcjs/package-lock.json).
//
// The harness must be installed first (`npm ci` in interop/vcjs; .ci/run does
// it). Tests call Require, which skips when it is not installed, or fails when
// the environment variable CI is set. Nothing here runs npm.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ErrNotInstalled means node is not on PATH or the harness's node_modules is
// missing (run `npm ci` in interop/vcjs).
var ErrNotInstalled = errors.New("interop: Node harness not installed")

// HarnessDir is the harness folder relative to the module root.
const HarnessDir = "interop/vcjs"

// FindDir returns the absolute path of the harness folder, found by walking
// up from the working directory to the module root (the folder with go.mod).
// Go tests run in their package's folder, so this works from any package of
// the module.
func FindDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("interop: working directory: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir := filepath.Join(d, filepath.FromSlash(HarnessDir))
			if _, err := os.Stat(filepath.Join(dir, "harness.mjs")); err != nil {
				return "", fmt.Errorf("interop: no harness at %s: %w", dir, err)
			}
			return dir, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("interop: no go.mod above %s", wd)
		}
		d = parent
	}
}

// Check reports whether the harness in dir can run: node on PATH and
// dir/node_modules present. The error wraps ErrNotInstalled.
func Check(dir string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("%w: node not on PATH: %w", ErrNotInstalled, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: %s missing (run `npm ci --no-audit --no-fund` in %s)",
			ErrNotInstalled, filepath.Join(dir, "node_modules"), dir)
	}
	return nil
}

// Require returns the harness folder for a test, or ends the test: it fails
// (Fatal) when the environment variable CI is set and the harness is not
// installed, and skips otherwise.
func Require(tb testing.TB) string {
	tb.Helper()
	dir, err := FindDir()
	if err == nil {
		err = Check(dir)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("interop harness required in CI: %v", err)
		}
		tb.Skipf("interop harness not available: %v", err)
	}
	return dir
}

// Run runs `node harness.mjs` in dir, writes req as JSON on its standard
// input and decodes its JSON answer into resp (a pointer, or nil to discard
// it). A credential that does not verify is an answer, not an error; an error
// means the harness could not run or rejected the request (its standard error
// is included). ctx bounds the node process.
func Run(ctx context.Context, dir string, req, resp any) error {
	in, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("interop: encode request: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", "harness.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("interop: node harness.mjs: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(stdout.Bytes(), resp); err != nil {
		return fmt.Errorf("interop: decode answer: %w (stdout %.200q)", err, stdout.String())
	}
	return nil
}

// Batch runs several requests in one node process (each node start costs
// a few hundred milliseconds) and returns the answers in order, undecoded.
func Batch(ctx context.Context, dir string, reqs ...any) ([]json.RawMessage, error) {
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := Run(ctx, dir, map[string]any{"op": "batch", "requests": reqs}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(reqs) {
		return nil, fmt.Errorf("interop: batch of %d requests got %d answers", len(reqs), len(out.Results))
	}
	return out.Results, nil
}

// VerifyCredentialRequest is the op verify-credential: @digitalbazaar/vc
// verifyCredential with both EdDSA cryptosuites. Documents maps URLs to the
// documents the loader may serve besides the embedded contexts: DID
// documents (a DID URL with a fragment is dereferenced in its DID's
// document), verification methods, status list credentials. Now, if set,
// is the verifier's clock (RFC 3339).
type VerifyCredentialRequest struct {
	Op         string         `json:"op"` // "verify-credential", set by NewVerifyCredential
	Credential any            `json:"credential"`
	Documents  map[string]any `json:"documents,omitempty"`
	Now        string         `json:"now,omitempty"`
}

// NewVerifyCredential returns a verify-credential request.
func NewVerifyCredential(credential any, documents map[string]any) VerifyCredentialRequest {
	return VerifyCredentialRequest{Op: "verify-credential", Credential: credential, Documents: documents}
}

// VerifyCredentialResult is the answer to verify-credential.
type VerifyCredentialResult struct {
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
	// StatusResult is present when the credential has a
	// BitstringStatusListEntry: vc-bitstring-status-list's checkStatus,
	// which also verifies the status list credential's proof.
	StatusResult *StatusResult `json:"statusResult,omitempty"`
	// Loaded lists every URL the document loader was asked for.
	Loaded []string `json:"loaded"`
}

// StatusResult is checkStatus's result.
type StatusResult struct {
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
	Results  []struct {
		Verified             bool   `json:"verified"`
		StatusPurpose        string `json:"statusPurpose"`
		StatusListIndex      string `json:"statusListIndex"`
		StatusListCredential string `json:"statusListCredential"`
		Status               bool   `json:"status"` // the bit
	} `json:"results"`
}

// IssuedResult is the answer to issue-credential and create-status-list: the
// secured credential, the Multikey verification method of the key derived
// from the seed (did:key controller) and its DID document.
type IssuedResult struct {
	Credential         json.RawMessage `json:"credential"`
	VerificationMethod json.RawMessage `json:"verificationMethod"`
	ControllerDocument json.RawMessage `json:"controllerDocument"`
}
