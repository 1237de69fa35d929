package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := s.Seal([]byte("secret"), []byte("u/1"))
	if bytes.Contains(ct, []byte("secret")) {
		t.Fatal("plaintext visible")
	}
	if ct2 := s.Seal([]byte("secret"), []byte("u/1")); bytes.Equal(ct, ct2) {
		t.Fatal("nonce reused")
	}
	pt, err := s.Open(ct, []byte("u/1"))
	if err != nil || string(pt) != "secret" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := s.Open(ct, []byte("u/2")); !errors.Is(err, ErrOpen) {
		t.Fatal("moved to another record and still opened")
	}
	ct[len(ct)-1] ^= 1
	if _, err := s.Open(ct, []byte("u/1")); !errors.Is(err, ErrOpen) {
		t.Fatal("tampered value opened")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(s.Seal([]byte("x"), nil), nil); !errors.Is(err, ErrOpen) {
		t.Fatal("opened with another key")
	}
	for _, bad := range [][]byte{nil, {1}, make([]byte, 28)} {
		if _, err := s.Open(bad, nil); !errors.Is(err, ErrOpen) {
			t.Fatalf("short input %v", bad)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
}

func TestDecodeKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, KeySize)
	for _, s := range []string{EncodeKey(key), hex.EncodeToString(key), " " + EncodeKey(key) + "\n"} {
		k, err := DecodeKey(s)
		if err != nil || !bytes.Equal(k, key) {
			t.Fatalf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "short", EncodeKey(key[:31]), hex.EncodeToString(key[:31])} {
		if _, err := DecodeKey(s); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
}

func TestLoadMasterKey(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "data", "master.key")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// warned reports whether the last call logged the development key
	// warning, and clears the log.
	warned := func() bool {
		defer logs.Reset()
		return strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "development master key")
	}
	k1, err := LoadMasterKey("", "", dev, log)
	if err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); strings.Contains(out, EncodeKey(k1)) {
		t.Fatal("the generated key was logged")
	}
	if !warned() {
		t.Fatal("generating a development master key must warn")
	}
	fi, err := os.Stat(dev)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev key file: %v %v", fi, err)
	}
	k2, _ := LoadMasterKey("", "", dev, log)
	if !bytes.Equal(k1, k2) {
		t.Fatal("dev key not reused")
	}
	if !warned() {
		t.Fatal("every start on the development master key must warn")
	}
	envKey := bytes.Repeat([]byte{1}, KeySize)
	k3, err := LoadMasterKey(EncodeKey(envKey), dev, dev, log)
	if err != nil || !bytes.Equal(k3, envKey) {
		t.Fatal("the environment must win")
	}
	k4, err := LoadMasterKey("", dev, filepath.Join(dir, "unused"), log)
	if err != nil || !bytes.Equal(k4, k1) {
		t.Fatal("key file not read")
	}
	if warned() {
		t.Fatal("a configured master key must not warn")
	}
	if _, err := LoadMasterKey("nope", "", dev, log); err == nil {
		t.Fatal("bad env key accepted")
	}
	if _, err := LoadMasterKey("", filepath.Join(dir, "missing"), dev, log); err == nil {
		t.Fatal("missing key file accepted")
	}
}
