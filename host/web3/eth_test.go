package web3

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// anvilKey0 is the first of anvil's well-known development accounts
// (mnemonic "test test … junk"), address 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266.
const anvilKey0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

func key(t testing.TB, h string) *secp256k1.PrivateKey {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return secp256k1.PrivKeyFromBytes(b)
}

func TestKeccak256(t *testing.T) {
	// The empty-input Keccak-256 (not SHA3-256's a7ffc6f8…).
	if got := hex.EncodeToString(Keccak256(nil)); got != "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470" {
		t.Fatalf("keccak256(\"\") = %s", got)
	}
}

// TestPersonalHash checks EIP-191 version 0x45 hashes against the values
// of ethers' hashMessage (@ethersproject/hash 5.x) for the same strings.
func TestPersonalHash(t *testing.T) {
	for msg, want := range map[string]string{
		"hello world": "d9eba16ed0ecae432b71fe008c98cc872bb4cc214d3220a36f365326cf807d68",
		"Hello World": "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2",
		eipExample:    "feb8b972ef20f0d2c96ad8048a55c6f3b130487954146238f73db5550adabacc",
	} {
		if got := hex.EncodeToString(PersonalHash([]byte(strings.Replace(msg, eipAddr, anvilAddr0, 1)))); got != want {
			t.Errorf("PersonalHash(%.20q) = %s, want %s", msg, got, want)
		}
	}
}

// TestChecksumAddress uses the test vectors of EIP-55.
func TestChecksumAddress(t *testing.T) {
	for _, want := range []string{
		// All caps
		"0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
		// All lower
		"0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
		// Normal
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		a, sum, err := ParseAddress(want)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if ChecksumAddress(a) != sum {
			t.Fatal("ParseAddress and ChecksumAddress disagree")
		}
		if sum != want && sum != "0x"+strings.ToUpper(want[2:]) && strings.ToLower(sum) != want {
			t.Errorf("checksum of %s = %s", want, sum)
		}
		if want == strings.ToLower(want) || want[2:] == strings.ToUpper(want[2:]) {
			continue
		}
		if sum != want {
			t.Errorf("checksum of %s = %s", want, sum)
		}
		// One flipped case breaks the checksum.
		bad := []byte(want)
		for i := 2; i < len(bad); i++ {
			if c := bad[i]; c >= 'a' && c <= 'f' {
				bad[i] = c - 32
				break
			}
		}
		if _, _, err := ParseAddress(string(bad)); !errors.Is(err, ErrAddress) {
			t.Errorf("%s with a case flipped: %v", want, err)
		}
	}
	for _, bad := range []string{"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"} {
		if _, _, err := ParseAddress(bad); !errors.Is(err, ErrAddress) {
			t.Errorf("ParseAddress(%q) = %v", bad, err)
		}
	}
}

func TestPubkeyAddress(t *testing.T) {
	for k, want := range map[string]string{
		anvilKey0: anvilAddr0,
		"0000000000000000000000000000000000000000000000000000000000000001": "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
	} {
		if got := ChecksumAddress(PubkeyAddress(key(t, k).PubKey())); got != want {
			t.Errorf("address of key %s… = %s, want %s", k[:6], got, want)
		}
	}
}

// TestSignatureVectors recovers signatures made by ethers' SigningKey
// (RFC 6979, as the decred library signs) and checks that SignPersonal
// produces the same bytes.
func TestSignatureVectors(t *testing.T) {
	k := key(t, anvilKey0)
	for msg, want := range map[string]string{
		"hello world": "0xa461f509887bd19e312c0c58467ce8ff8e300d3c1a90b608a760c5b80318eaf15fe57c96f9175d6cd4daad4663763baa7e78836e067d0163e9a2ccf2ff753f5b1b",
		strings.Replace(eipExample, eipAddr, anvilAddr0, 1): "0xfd085e6e9cedd4cecdaeb73e26ec90236c7d7bdf484ee1a8d40a5ca45b7ff7d000eef747f8cf61b2e18e9db55ebf797887554b4e8e32ca6198a36dd4598fb0031c",
	} {
		signer, err := RecoverPersonal([]byte(msg), want)
		if err != nil || signer != anvilAddr0 {
			t.Fatalf("recover: %s %v", signer, err)
		}
		if got := SignPersonal(k, []byte(msg)); got != want {
			t.Errorf("SignPersonal = %s, want %s", got, want)
		}
		// v as 0/1 (Ledger and some wallets) recovers the same address.
		raw, _ := hex.DecodeString(want[2:])
		raw[64] -= 27
		if signer, err := RecoverPersonal([]byte(msg), hex.EncodeToString(raw)); err != nil || signer != anvilAddr0 {
			t.Errorf("v=0/1: %s %v", signer, err)
		}
		// Another message: another signer (or an error), never the key's.
		if signer, err := RecoverPersonal([]byte(msg+"."), want); err == nil && signer == anvilAddr0 {
			t.Error("signature recovered to the signer over another message")
		}
	}
}

func TestSignRecoverRoundTrip(t *testing.T) {
	for i := 0; i < 20; i++ {
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(strings.Repeat("m", i*37))
		got, err := RecoverPersonal(msg, SignPersonal(k, msg))
		if err != nil || got != ChecksumAddress(PubkeyAddress(k.PubKey())) {
			t.Fatalf("round trip %d: %s %v", i, got, err)
		}
	}
}

func TestDecodeSignatureRefuses(t *testing.T) {
	good := SignPersonal(key(t, anvilKey0), []byte("x"))
	raw, _ := hex.DecodeString(good[2:])
	mod := func(f func(b []byte)) string {
		b := append([]byte{}, raw...)
		f(b)
		return "0x" + hex.EncodeToString(b)
	}
	// High s: n - s is the same signature's malleable twin (EIP-2 refuses it).
	high := mod(func(b []byte) {
		var s secp256k1.ModNScalar
		s.SetByteSlice(b[32:64])
		s.Negate()
		sb := s.Bytes()
		copy(b[32:64], sb[:])
		b[64] ^= 1 // the twin's recovery bit flips
	})
	n := "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
	for name, sig := range map[string]string{
		"empty":      "",
		"64 bytes":   good[:130],
		"66 bytes":   good + "00",
		"not hex":    "0x" + strings.Repeat("zz", 65),
		"v=29":       mod(func(b []byte) { b[64] = 29 }),
		"v=2":        mod(func(b []byte) { b[64] = 2 }),
		"r=0":        mod(func(b []byte) { clear(b[:32]) }),
		"s=0":        mod(func(b []byte) { clear(b[32:64]) }),
		"r=n":        "0x" + n + good[66:],
		"high s":     high,
		"odd length": good[:131],
	} {
		if _, err := DecodeSignature(sig); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecodeSignature(strings.TrimPrefix(good, "0x")); err != nil {
		t.Errorf("without 0x: %v", err)
	}
}
