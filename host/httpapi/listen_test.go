package httpapi

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeCert(t *testing.T, certFile, keyFile string) []byte {
	t.Helper()
	c, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return c.Certificate[0]
}

func TestCertReload(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	first := writeCert(t, cf, kf)
	r, err := newCertReloader(cf, kf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.get(nil)
	if string(got.Certificate[0]) != string(first) {
		t.Fatal("first certificate not served")
	}
	second := writeCert(t, cf, kf)
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(cf, future, future)
	os.Chtimes(kf, future, future)
	r.checked = time.Time{}
	got, _ = r.get(nil)
	if string(got.Certificate[0]) != string(second) {
		t.Fatal("changed certificate not reloaded")
	}
	// A broken replacement keeps the previous certificate.
	os.WriteFile(cf, []byte("garbage"), 0o600)
	later := future.Add(2 * time.Second)
	os.Chtimes(cf, later, later)
	r.checked = time.Time{}
	got, _ = r.get(nil)
	if string(got.Certificate[0]) != string(second) {
		t.Fatal("a broken certificate replaced the good one")
	}
}
