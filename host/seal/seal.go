// Package seal encrypts data at rest with AES-256-GCM under the master key.
//
// A sealed value is: version byte (1) || 12-byte random nonce || ciphertext
// with its 16-byte tag. The caller passes associated data (usually the record
// key) so that a sealed value cannot be moved to another record unnoticed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ubeu/gateway/host/fsutil"
)

const version1 = 1

// KeySize is the size of a master key in bytes.
const KeySize = 32

// ErrOpen is returned when a sealed value cannot be authenticated.
var ErrOpen = errors.New("seal: message authentication failed")

// Sealer encrypts and decrypts with one master key. It is safe for
// concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to ad.
func (s *Sealer) Seal(plaintext, ad []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = version1
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("seal: crypto/rand failed: " + err.Error())
	}
	return s.aead.Seal(out, out[1:1+ns], plaintext, ad)
}

// Open decrypts a value made by Seal with the same ad.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != version1 {
		return nil, ErrOpen
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// EncodeKey renders a key as it is written in a key file or variable.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// DecodeKey parses a base64 (standard or URL alphabet) or 64-hex-digit key.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, errors.New("master key must be 32 bytes, written in base64 or hex")
}

// LoadMasterKey finds the master key: from the environment value env if it is
// set, else from keyFile if it is set. With neither, it uses (and on first
// use creates, mode 0600) the development key file devFile and logs a warning
// every time, since a key stored beside the data protects nothing.
func LoadMasterKey(env, keyFile, devFile string, log *slog.Logger) ([]byte, error) {
	if env != "" {
		k, err := DecodeKey(env)
		if err != nil {
			return nil, fmt.Errorf("GATEWAYD_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("master key file: %w", err)
		}
		k, err := DecodeKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", keyFile, err)
		}
		return k, nil
	}
	b, err := os.ReadFile(devFile)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(devFile), 0o700); err != nil {
			return nil, fmt.Errorf("dev master key: %w", err)
		}
		if err := fsutil.WriteFileAtomic(devFile, []byte(EncodeKey(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("dev master key: %w", err)
		}
		log.Warn("no master key configured: generated a development master key beside the data; set master_key_file or GATEWAYD_MASTER_KEY in production", "file", devFile)
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dev master key: %w", err)
	}
	k, err := DecodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("dev master key file %s: %w", devFile, err)
	}
	log.Warn("no master key configured: using the development master key stored beside the data; set master_key_file or GATEWAYD_MASTER_KEY in production", "file", devFile)
	return k, nil
}
