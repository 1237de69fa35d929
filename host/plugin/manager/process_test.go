package manager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/procrt"
)

// writeProcessPackage writes an unsigned package directory of the native
// echo resolver named name at version, for this os/arch.
func writeProcessPackage(t *testing.T, name, version string) string {
	t.Helper()
	bin := echoNativeBuild.get(t)
	return writeEchoPackage(t, name, version, "bin/echo", bin, fmt.Sprintf(`runtime: process
artifacts:
  process:
    %s/%s: {file: bin/echo, sha256: %x}
limits: {call_timeout: 5s}
`, runtime.GOOS, runtime.GOARCH, sha256.Sum256(bin)))
}

// newDefaultManager starts a Manager with the default runtimes (wasm and
// process) on root.
func newDefaultManager(t *testing.T, root string) *Manager {
	t.Helper()
	m, err := New(context.Background(), Options{Root: root, Logger: quietLogger(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// pidOf returns the process ID of the current generation of name.
func pidOf(t *testing.T, m *Manager, name string) int {
	t.Helper()
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.slots[name]
	if s == nil || s.cur.Load() == nil {
		t.Fatalf("%s not loaded", name)
	}
	pi, ok := s.cur.Load().inst.(*processInstance)
	if !ok {
		t.Fatalf("%s runs as %T, not a process", name, s.cur.Load().inst)
	}
	pid := pi.Pid()
	if pid <= 0 {
		t.Fatalf("%s has no process", name)
	}
	return pid
}

// running reports whether pid is a live process (not absent, not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("checks processes through /proc")
	}
}

// TestProcessPluginLifecycle installs the native echo resolver as a process
// plugin, serves it through a manager with the default runtimes, upgrades
// it under load without a failed call, and removes it: each replaced or
// removed generation's process is gone when the call returns.
func TestProcessPluginLifecycle(t *testing.T) {
	skipUnlessLinux(t)
	root := t.TempDir()
	install(t, root, writeProcessPackage(t, "echo", "1.0.0"), configFor("did:example:v1"))
	m := newDefaultManager(t, root)
	ctx := context.Background()

	tr, ok := m.Get("echo")
	if !ok {
		t.Fatalf("echo not loaded: %+v", m.List())
	}
	if did, err := resolveDID(ctx, tr); err != nil || did != "did:example:v1" {
		t.Fatalf("Resolve = %q, %v", did, err)
	}
	_, err := abiv1.NewResolverClient(tr).Resolve(ctx, &abiv1.ResolveRequest{Name: "nobody.eth"})
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != abiv1.ErrorCodeNotFound {
		t.Errorf("Resolve(unknown) = %v, want NOT_FOUND", err)
	}
	st := status(t, m, "echo")
	if st.State != StateLoaded || st.Runtime != pluginpkg.RuntimeProcess || len(st.Interfaces) != 1 || st.Interfaces[0] != "resolver" {
		t.Errorf("status = %+v", st)
	}
	if es := m.ByInterface(abiv1.IfaceResolver); len(es) != 1 || es[0].Name != "echo" {
		t.Errorf("ByInterface(resolver) = %+v", es)
	}
	if err := m.Ready(); err != nil {
		t.Errorf("Ready() = %v", err)
	}
	pid1 := pidOf(t, m, "echo")

	// Upgrade while goroutines call in a loop.
	st = upgradeUnderLoad(t, tr, 4, func() (Status, error) {
		return m.Install(ctx, writeProcessPackage(t, "echo", "1.1.0"), InstallOptions{
			AllowUnsigned: true, Grants: grants, Config: configFor("did:example:v2")})
	})
	if st.Version != "1.1.0" || st.State != StateLoaded || len(st.Draining) != 0 {
		t.Errorf("status after upgrade = %+v", st)
	}
	if running(pid1) {
		t.Errorf("process %d of 1.0.0 still runs after the upgrade", pid1)
	}
	pid2 := pidOf(t, m, "echo")
	if pid2 == pid1 {
		t.Errorf("1.1.0 runs in the process of 1.0.0 (%d)", pid1)
	}

	if err := m.Remove(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if running(pid2) {
		t.Errorf("process %d still runs after Remove", pid2)
	}
	if _, ok := m.Get("echo"); ok {
		t.Error("Get(echo) succeeded after Remove")
	}
	if _, err := resolveDID(ctx, tr); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("call after Remove = %v, want ErrNotLoaded", err)
	}
}

// TestProcessPluginTampered flips one byte of an installed binary: Load's
// digest check refuses it, Ready reports it, and nothing is launched. A
// binary changed under a running plugin is refused by procrt's check when
// the process is restarted.
func TestProcessPluginTampered(t *testing.T) {
	root := t.TempDir()
	install(t, root, writeProcessPackage(t, "good", "1.0.0"), configFor("did:example:good"))
	install(t, root, writeProcessPackage(t, "tampered", "1.0.0"), configFor("x"))
	flipByte(t, filepath.Join(root, "tampered", "1.0.0", "bin", "echo"))

	m := newDefaultManager(t, root)
	ctx := context.Background()
	if _, ok := m.Get("tampered"); ok {
		t.Error("tampered binary loaded")
	}
	if st := status(t, m, "tampered"); st.State != StateFailed || !strings.Contains(st.Error, "sha256 mismatch") {
		t.Errorf("tampered status = %+v", st)
	}
	err := m.Ready()
	if err == nil || !strings.Contains(err.Error(), "tampered") || strings.Contains(err.Error(), "good") {
		t.Errorf("Ready() = %v, want an error naming tampered only", err)
	}
	tr, ok := m.Get("good")
	if !ok {
		t.Fatalf("good not loaded: %+v", m.List())
	}

	if did, err := resolveDID(ctx, tr); err != nil || did != "did:example:good" {
		t.Fatalf("good: %q, %v", did, err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// Tamper with the running plugin's binary and kill its process: procrt
	// checks the digest again before the restart and refuses it, so calls
	// fail rather than reach the changed binary.
	pid := pidOf(t, m, "good")
	flipByte(t, filepath.Join(root, "good", "1.0.0", "bin", "echo"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := resolveDID(ctx, tr)
		if errors.Is(err, procrt.ErrUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call after the kill = %v, want procrt.ErrUnavailable", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // several restart attempts
	if _, err := resolveDID(ctx, tr); !errors.Is(err, procrt.ErrUnavailable) {
		t.Errorf("call with the binary tampered = %v, want procrt.ErrUnavailable", err)
	}
}

// flipByte replaces the file at p with a copy that has one byte inverted.
func flipByte(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	// Write beside and rename: a running binary cannot be opened for
	// writing (ETXTBSY).
	if err := os.WriteFile(p+".new", b, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
}

// TestCloseStopsProcessPlugins: Manager.Close leaves no plugin process.
func TestCloseStopsProcessPlugins(t *testing.T) {
	skipUnlessLinux(t)
	root := t.TempDir()
	install(t, root, writeProcessPackage(t, "a", "1.0.0"), configFor("did:example:a"))
	install(t, root, writeProcessPackage(t, "b", "1.0.0"), configFor("did:example:b"))
	m, err := New(context.Background(), Options{Root: root, Logger: quietLogger(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{pidOf(t, m, "a"), pidOf(t, m, "b")}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d still runs after Close", pid)
		}
	}
}
