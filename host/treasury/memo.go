package treasury

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Every ledger transaction the treasury pays for carries a memo that holds
// its spend record's identity: "gwd1:" and the base64url (unpadded) of a
// 12-byte random nonce followed by the AES-256-GCM sealing, under a key of
// this gateway, of
//
//	kind (1) ‖ tier (1) ‖ operation code (1) ‖ units (uvarint) ‖
//	estimate in microcents (uvarint) ‖ payer ID
//
// where the payer ID is 16 bytes for a UUID (flag bit 0x80 of kind) or its
// text. The nonce is the spend ID. The memo is public on Hedera, so the
// payer is sealed; it lets the treasury rebuild a spend record that a
// crash lost from the ledger alone (see Recover), so the ledger itself is
// the write-ahead log of spending.
const memoPrefix = "gwd1:"

// Payer kinds.
const (
	KindUser       = "user"
	KindEnterprise = "enterprise"
	KindPlatform   = "platform"
)

var kinds = []string{KindPlatform, KindUser, KindEnterprise}

// tiers are the tiers a memo can name; any other is stored as "".
var tiers = []string{"", "individual", "pro", "enterprise", "free"}

func index(list []string, s string) (byte, bool) {
	for i, v := range list {
		if v == s {
			return byte(i), true
		}
	}
	return 0, false
}

// memoMeta is what a memo carries.
type memoMeta struct {
	SpendID   string
	Payer     Payer
	Operation string
	Units     int64
	Estimate  int64 // microcents
}

// ErrMemo is a memo that is not one of this gateway's.
var ErrMemo = errors.New("treasury: not a spend memo of this gateway")

type memoCodec struct{ aead cipher.AEAD }

func newMemoCodec(key []byte) (*memoCodec, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("treasury: memo key: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &memoCodec{a}, nil
}

const maxPayerID = 24

// encode returns the memo and the new spend ID.
func (c *memoCodec) encode(p Payer, op string, units, estimate int64) (memo, spendID string, err error) {
	k, ok := index(kinds, p.Kind)
	if !ok {
		return "", "", fmt.Errorf("treasury: unknown payer kind %q", p.Kind)
	}
	code, ok := opCode(op)
	if !ok {
		return "", "", fmt.Errorf("treasury: unknown operation %q", op)
	}
	t, _ := index(tiers, p.Tier)
	if units < 0 || estimate < 0 {
		return "", "", ErrAmount
	}
	plain := make([]byte, 3, 48)
	var id []byte
	if u, err := uuid.Parse(p.ID); err == nil && u.String() == p.ID {
		k |= 0x80
		id = u[:]
	} else if len(p.ID) <= maxPayerID {
		id = []byte(p.ID)
	} else {
		return "", "", fmt.Errorf("treasury: payer ID longer than %d bytes", maxPayerID)
	}
	plain[0], plain[1], plain[2] = k, t, code
	plain = binary.AppendUvarint(plain, uint64(units))
	plain = binary.AppendUvarint(plain, uint64(estimate))
	plain = append(plain, id...)
	nonce := make([]byte, c.aead.NonceSize())
	rand.Read(nonce)
	sealed := c.aead.Seal(nonce, nonce, plain, []byte(memoPrefix))
	memo = memoPrefix + base64.RawURLEncoding.EncodeToString(sealed)
	return memo, base64.RawURLEncoding.EncodeToString(nonce), nil
}

// decode opens a memo; ErrMemo if it is not one this key sealed.
func (c *memoCodec) decode(memo string) (memoMeta, error) {
	rest, ok := strings.CutPrefix(memo, memoPrefix)
	if !ok {
		return memoMeta{}, ErrMemo
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	ns := c.aead.NonceSize()
	if err != nil || len(b) < ns+c.aead.Overhead()+3 {
		return memoMeta{}, ErrMemo
	}
	plain, err := c.aead.Open(nil, b[:ns], b[ns:], []byte(memoPrefix))
	if err != nil || len(plain) < 3 {
		return memoMeta{}, ErrMemo
	}
	m := memoMeta{SpendID: base64.RawURLEncoding.EncodeToString(b[:ns])}
	k, t, code := plain[0], plain[1], plain[2]
	if int(k&0x7f) >= len(kinds) || int(t) >= len(tiers) || int(code) >= len(Operations) {
		return memoMeta{}, fmt.Errorf("%w: unknown codes", ErrMemo)
	}
	m.Payer.Kind, m.Payer.Tier, m.Operation = kinds[k&0x7f], tiers[t], Operations[code]
	p := plain[3:]
	units, n := binary.Uvarint(p)
	if n <= 0 || units > 1<<40 {
		return memoMeta{}, fmt.Errorf("%w: units", ErrMemo)
	}
	p = p[n:]
	est, n := binary.Uvarint(p)
	if n <= 0 || est > 1<<53 {
		return memoMeta{}, fmt.Errorf("%w: estimate", ErrMemo)
	}
	p = p[n:]
	m.Units, m.Estimate = int64(units), int64(est)
	if k&0x80 != 0 {
		u, err := uuid.FromBytes(p)
		if err != nil {
			return memoMeta{}, fmt.Errorf("%w: payer", ErrMemo)
		}
		m.Payer.ID = u.String()
	} else {
		m.Payer.ID = string(p)
	}
	return m, nil
}
