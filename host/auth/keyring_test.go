package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestKeyringCreateReopen(t *testing.T) {
	clk, dir, s := newClock(), t.TempDir(), newSealer(t)

	_, err := OpenKeyring(dir, s, KeyringOptions{Now: clk.Now})
	if !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), "gatewayd serve") {
		t.Fatalf("open without Create = %v; want ErrNoKeyring mentioning gatewayd serve", err)
	}

	k := newKeyring(t, dir, s, clk)
	fi, err := os.Stat(filepath.Join(dir, KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode %v; want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
	if strings.Contains(string(raw), "seed") {
		t.Fatal("keyring file is not sealed")
	}

	k2, err := OpenKeyring(dir, s, KeyringOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Active().ID != k.Active().ID || !k2.Active().Private.Equal(k.Active().Private) {
		t.Fatal("reopened keyring has another active key")
	}

	if _, err := OpenKeyring(dir, newSealer(t), KeyringOptions{Now: clk.Now}); err == nil {
		t.Fatal("keyring opened with another master key")
	}

	raw[len(raw)-1] ^= 1
	if err := os.WriteFile(filepath.Join(dir, KeyringFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyring(dir, s, KeyringOptions{Now: clk.Now, Create: true}); err == nil {
		t.Fatal("tampered keyring opened")
	}
}

func TestKeyringRotateRetain(t *testing.T) {
	clk, dir, s := newClock(), t.TempDir(), newSealer(t)
	k := newKeyring(t, dir, s, clk)
	first := k.Active().ID

	clk.Add(time.Minute)
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	second := k.Active().ID
	if second == first {
		t.Fatal("Rotate kept the active key")
	}
	if _, ok := k.verifier(first, clk.Now()); !ok {
		t.Fatal("retired key no longer verifies right after rotation")
	}
	assertJWKS(t, k.JWKS(), []string{first, second}, nil)

	// Another process reading the file sees both keys.
	k2, err := OpenKeyring(dir, s, KeyringOptions{Now: clk.Now, Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Active().ID != second {
		t.Fatal("reopened keyring does not have the new active key")
	}
	if _, ok := k2.verifier(first, clk.Now()); !ok {
		t.Fatal("reopened keyring lost the retired key")
	}

	clk.Add(time.Hour) // Retain has passed
	if _, ok := k.verifier(first, clk.Now()); ok {
		t.Fatal("retired key still verifies after Retain")
	}
	assertJWKS(t, k.JWKS(), []string{second}, []string{first})

	clk.Add(time.Minute)
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, found := k.snap.Load().byID[first]; found {
		t.Fatal("expired key not dropped at rotation")
	}
	assertJWKS(t, k.JWKS(), []string{second, k.Active().ID}, []string{first})
}

func TestKeyringMaybeRotateReload(t *testing.T) {
	clk, dir, s := newClock(), t.TempDir(), newSealer(t)
	k, err := OpenKeyring(dir, s, KeyringOptions{Create: true, Now: clk.Now, RotateEvery: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	first := k.Active().ID
	if rotated, err := k.MaybeRotate(); rotated || err != nil {
		t.Fatalf("MaybeRotate on a fresh key = %v, %v", rotated, err)
	}
	clk.Add(25 * time.Hour)
	if rotated, err := k.MaybeRotate(); !rotated || err != nil || k.Active().ID == first {
		t.Fatalf("MaybeRotate on an old key = %v, %v", rotated, err)
	}

	other, err := OpenKeyring(dir, s, KeyringOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Rotate(); err != nil {
		t.Fatal(err)
	}
	if k.Active().ID == other.Active().ID {
		t.Fatal("keyrings agree before Reload")
	}
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	if k.Active().ID != other.Active().ID {
		t.Fatal("Reload did not pick up the other process's rotation")
	}
}

func assertJWKS(t *testing.T, raw []byte, want, notWant []string) {
	t.Helper()
	set, err := jwk.Parse(raw)
	if err != nil {
		t.Fatalf("jwk.Parse(%s): %v", raw, err)
	}
	if set.Len() != len(want) {
		t.Errorf("JWKS has %d keys; want %d: %s", set.Len(), len(want), raw)
	}
	for _, kid := range want {
		key, ok := set.LookupKeyID(kid)
		if !ok {
			t.Errorf("JWKS lacks kid %s: %s", kid, raw)
			continue
		}
		if tp, err := key.Thumbprint(cryptoSHA256); err != nil || b64url.EncodeToString(tp) != kid {
			t.Errorf("kid %s is not the RFC 7638 thumbprint (%v)", kid, err)
		}
	}
	for _, kid := range notWant {
		if _, ok := set.LookupKeyID(kid); ok {
			t.Errorf("JWKS still has kid %s", kid)
		}
	}
	if strings.Contains(string(raw), `"d"`) {
		t.Fatal("JWKS contains private key material")
	}
}
