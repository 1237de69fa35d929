package pluginpkg

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ubeu/gateway/host/fsutil"
)

// Unsigned is the signer recorded for a plugin installed without a signature.
const Unsigned = "unsigned"

// Key file names written by [Keygen].
const (
	PublicKeyFile  = "publisher.pub"
	PrivateKeyFile = "publisher.key"
)

// compactPrefix starts the one-line public key form "ed25519:<base64>".
const compactPrefix = "ed25519:"

// PublicKey is a publisher key trusted by the operator.
type PublicKey struct {
	Key ed25519.PublicKey
	// ID is "ed25519:" and the first 16 hex digits of the sha256 of the
	// raw key: what the lock file records as the signer.
	ID string
	// Name is where the key came from (the trusted file's base name), for messages.
	Name string
}

// KeyID returns the ID of a raw Ed25519 public key.
func KeyID(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return compactPrefix + hex.EncodeToString(sum[:8])
}

// ParsePublicKey reads a public key in either form: the compact line
// "ed25519:<standard base64 of the 32-byte key>" (anything after whitespace
// is a comment), or a PEM "PUBLIC KEY" block (PKIX).
func ParsePublicKey(data []byte) (PublicKey, error) {
	s := strings.TrimSpace(string(data))
	if rest, ok := strings.CutPrefix(s, compactPrefix); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			rest = f[0]
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return PublicKey{}, errors.New("public key: want ed25519:<base64 of 32 bytes>")
		}
		k := ed25519.PublicKey(raw)
		return PublicKey{Key: k, ID: KeyID(k)}, nil
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return PublicKey{}, errors.New("public key: neither ed25519:<base64> nor a PEM PUBLIC KEY block")
	}
	pk, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	k, ok := pk.(ed25519.PublicKey)
	if !ok {
		return PublicKey{}, fmt.Errorf("public key: %T, want Ed25519", pk)
	}
	return PublicKey{Key: k, ID: KeyID(k)}, nil
}

// FormatPublicKey returns the compact form "ed25519:<base64>".
func FormatPublicKey(k ed25519.PublicKey) string {
	return compactPrefix + base64.StdEncoding.EncodeToString(k)
}

// LoadTrusted reads every *.pub file of dir (for example
// <data-dir>/plugins/trusted). A missing directory means no trusted key. A key
// file that anyone may write is refused: whoever can write it can make
// gatewayd run their code.
func LoadTrusted(dir string) ([]PublicKey, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	var keys []PublicKey
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if fi.Mode().Perm()&0o002 != 0 {
			return nil, fmt.Errorf("trusted key %s is world-writable", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		k, err := ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("trusted key %s: %w", p, err)
		}
		k.Name = filepath.Base(p)
		keys = append(keys, k)
	}
	return keys, nil
}

// Keygen makes an Ed25519 key pair in dir: publisher.key, the private key as
// PKCS#8 PEM with mode 0600, and publisher.pub, the public key in the compact
// form. It never overwrites an existing key.
func Keygen(dir string) (pubPath, privPath string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	privPath = filepath.Join(dir, PrivateKeyFile)
	pubPath = filepath.Join(dir, PublicKeyFile)
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("keygen: %w", err)
	}
	if err := writeNew(pubPath, []byte(FormatPublicKey(pub)+"\n"), 0o644); err != nil {
		_ = os.Remove(privPath)
		return "", "", fmt.Errorf("keygen: %w", err)
	}
	return pubPath, privPath, nil
}

func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadPrivateKey reads a PKCS#8 PEM Ed25519 private key.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T, want Ed25519", path, k)
	}
	return priv, nil
}

// Sign signs the exact bytes of the manifest at manifestPath with the
// private key at privKeyPath and writes the detached signature beside it as
// plugin.yaml.sig (manifestPath + ".sig"): the standard base64 of the
// 64-byte Ed25519 signature and a newline. Because the manifest pins the
// sha256 of every artifact, the signature covers the whole package.
// Re-sign after any change to the manifest, even whitespace.
func Sign(manifestPath, privKeyPath string) error {
	priv, err := ReadPrivateKey(privKeyPath)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if _, err := DecodeManifest(data); err != nil {
		return fmt.Errorf("sign: refusing an invalid manifest: %w", err)
	}
	sig := ed25519.Sign(priv, data)
	out := base64.StdEncoding.EncodeToString(sig) + "\n"
	if err := fsutil.WriteFileAtomic(manifestPath+".sig", []byte(out), 0o644); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// decodeSignature accepts the base64 form written by [Sign] (surrounding
// whitespace ignored) or the raw 64 bytes.
func decodeSignature(sig []byte) ([]byte, error) {
	if len(sig) == ed25519.SignatureSize {
		return sig, nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sig)))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return nil, errors.New("signature: want base64 of 64 bytes, or 64 raw bytes")
	}
	return raw, nil
}

// ErrUntrusted is returned by [Verify] when no trusted key made the signature.
var ErrUntrusted = errors.New("signature is not from a trusted publisher key")

// Verify checks a detached signature over the exact manifest bytes against
// each trusted key and returns the ID of the key that made it.
func Verify(manifestBytes, sig []byte, trusted []PublicKey) (signer string, err error) {
	raw, err := decodeSignature(sig)
	if err != nil {
		return "", err
	}
	if len(trusted) == 0 {
		return "", fmt.Errorf("%w: no trusted keys are configured", ErrUntrusted)
	}
	for _, k := range trusted {
		if len(k.Key) == ed25519.PublicKeySize && ed25519.Verify(k.Key, manifestBytes, raw) {
			if k.ID == "" {
				return KeyID(k.Key), nil
			}
			return k.ID, nil
		}
	}
	return "", fmt.Errorf("%w (checked %d keys; the manifest may have been changed after signing)", ErrUntrusted, len(trusted))
}
