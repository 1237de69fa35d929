package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestVersionAndConfig(t *testing.T) {
	out, err := run(t, context.Background(), "version")
	if err != nil || !strings.HasPrefix(out, "gatewayd ") {
		t.Fatalf("version: %q %v", out, err)
	}
	t.Setenv("GATEWAYD_MASTER_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=")
	t.Setenv("GATEWAYD_RATELIMIT_API_LIMIT", "77")
	out, err = run(t, context.Background(), "config", "print", "--listen", "127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "listen: 127.0.0.1:9999") || !strings.Contains(out, "limit: 77") {
		t.Fatalf("flags and env not applied:\n%s", out)
	}
	if strings.Contains(out, "c2VjcmV0") || !strings.Contains(out, "[redacted]") {
		t.Fatalf("master key not redacted:\n%s", out)
	}
	t.Setenv("GATEWAYD_LOG_LEVEL", "loud")
	if _, err := run(t, context.Background(), "config", "print"); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("invalid level: %v", err)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	out, err := run(t, context.Background(), "policy", "test")
	if err != nil || !strings.Contains(out, "0 failed") {
		t.Fatalf("embedded policies: %q %v", out, err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "authz.rego"), []byte("package gatewayd.authz\n\ndefault allow := false\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "authz_test.rego"), []byte("package gatewayd.authz_test\n\nimport data.gatewayd.authz\n\ntest_allows if authz.allow\n"), 0o644)
	if out, err := run(t, context.Background(), "policy", "test", dir); err == nil {
		t.Fatalf("failing policy test passed: %s", out)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeAdminTokenBackupRestore(t *testing.T) {
	data := t.TempDir()
	addr := freeAddr(t)
	t.Setenv("GATEWAYD_LOG_LEVEL", "warn")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(t, ctx, "serve", "--listen", addr, "--data-dir", data)
		done <- err
	}()
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
			r.Body.Close()
			ready = r.StatusCode == 200
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ready {
		cancel()
		t.Fatalf("not ready: %v", <-done)
	}
	// admin token works while the server holds the store.
	tok, err := run(t, context.Background(), "admin", "token", "--data-dir", data, "--listen", addr)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("admin token rejected: %v %v", r, err)
	}
	r.Body.Close()
	// backup while running: fetched live from the server.
	live := filepath.Join(t.TempDir(), "live.backup")
	if out, err := run(t, context.Background(), "backup", live, "--data-dir", data, "--listen", addr); err != nil {
		t.Fatalf("live backup: %v %s", err, out)
	}
	// A registration is paid by the treasury; reconcile asks the running
	// server, then reads the stopped data dir itself: both find the books
	// and the ledger in agreement.
	reg, err := http.Post("http://"+addr+"/api/v1/users/register", "application/json",
		strings.NewReader(`{"email":"cli@example.com","password":"correct horse battery staple"}`))
	if err != nil || reg.StatusCode != 201 {
		t.Fatalf("register: %v %v", reg, err)
	}
	reg.Body.Close()
	out, err := run(t, context.Background(), "treasury", "reconcile", "--json", "--data-dir", data, "--listen", addr)
	if err != nil {
		t.Fatalf("live reconcile: %v %s", err, out)
	}
	var rep struct{ Records, Transactions, Matched, Differences int }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Records < 1 || rep.Transactions < 2 || rep.Matched != rep.Records || rep.Differences != 0 {
		t.Fatalf("live reconcile report: %v %s", err, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if out, err := run(t, context.Background(), "treasury", "reconcile", "--data-dir", data); err != nil ||
		!strings.Contains(out, fmt.Sprintf("records %d, paid transactions %d, records matched %d, differences 0", rep.Records, rep.Transactions, rep.Records)) {
		t.Fatalf("offline reconcile: %v %s", err, out)
	}
	// offline backup, then restore into a fresh data dir with the same key.
	off := filepath.Join(t.TempDir(), "off.backup")
	if out, err := run(t, context.Background(), "backup", off, "--data-dir", data); err != nil {
		t.Fatalf("offline backup: %v %s", err, out)
	}
	for _, f := range []string{live, off} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup file %s: %v %v", f, fi, err)
		}
	}
	dst := t.TempDir()
	t.Setenv("GATEWAYD_MASTER_KEY_FILE", filepath.Join(data, "master.key"))
	if out, err := run(t, context.Background(), "restore", live, "--data-dir", dst); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	if out, err := run(t, context.Background(), "restore", live, "--data-dir", dst); err == nil {
		t.Fatalf("restore over existing data accepted: %s", out)
	}
}
