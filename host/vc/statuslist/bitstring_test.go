package statuslist

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
)

// specEncodedList is the encodedList of the examples of
// § BitstringStatusListCredential and of the appendix "Status List
// Verifiable Credential": an all-zero list of 131,072 entries.
const specEncodedList = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

func TestSpecExampleDecodes(t *testing.T) {
	b, err := Decode(specEncodedList)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != MinBytes || b.Len() != MinEntries {
		t.Fatalf("got %d bytes, want %d", len(b), MinBytes)
	}
	if n := b.Count(); n != 0 {
		t.Fatalf("%d bits set, the example has none", n)
	}
	// The example credential's entry (index 94567) is not revoked.
	if set, err := b.Get(94567); err != nil || set {
		t.Fatalf("index 94567: %v %v", set, err)
	}
}

// The example was made with zlib; Go's compress/flate emits a different
// (equally valid) DEFLATE stream, so the bytes cannot match. What must
// match is the GZIP member header and the expanded bitstring.
func TestEncodeAllZeroMatchesSpec(t *testing.T) {
	b, err := NewBitstring(MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := base64.RawURLEncoding.DecodeString(enc[1:])
	spec, _ := base64.RawURLEncoding.DecodeString(specEncodedList[1:])
	// ID1 ID2 CM FLG, MTIME(4): same; OS (byte 9): Unix in both.
	if !bytes.Equal(ours[:8], spec[:8]) || ours[9] != spec[9] {
		t.Fatalf("gzip header % x, spec % x", ours[:10], spec[:10])
	}
	// ISIZE trailer: 16384 in both.
	if !bytes.Equal(ours[len(ours)-4:], spec[len(spec)-4:]) {
		t.Fatalf("ISIZE % x, spec % x", ours[len(ours)-4:], spec[len(spec)-4:])
	}
	back, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Decode(specEncodedList)
	if !bytes.Equal(back, want) {
		t.Fatal("round trip differs from the spec's list")
	}
	if len(enc) > 120 {
		t.Fatalf("all-zero list encodes to %d characters; expected a few dozen", len(enc))
	}
	t.Logf("ours %s (%d chars), spec %s (%d chars)", enc, len(enc), specEncodedList, len(specEncodedList))
}

func TestBitOrder(t *testing.T) {
	b, _ := NewBitstring(MinEntries)
	for _, i := range []int{0, 7, 8, MinEntries - 1} {
		if err := b.Set(i, true); err != nil {
			t.Fatal(err)
		}
	}
	if b[0] != 0x81 || b[1] != 0x80 || b[len(b)-1] != 0x01 {
		t.Fatalf("first bytes % x, last %x", b[:2], b[len(b)-1])
	}
	if err := b.Set(MinEntries, true); !errors.Is(err, ErrRange) {
		t.Fatalf("Set past the end: %v", err)
	}
	if _, err := b.Get(-1); !errors.Is(err, ErrRange) {
		t.Fatalf("Get(-1): %v", err)
	}
	_ = b.Set(0, false)
	if set, _ := b.Get(0); set || b[0] != 0x01 {
		t.Fatalf("clear bit 0: % x", b[0])
	}
}

func TestStatusMultiBit(t *testing.T) {
	b, _ := NewBitstring(MinEntries)
	// Entry 3 of 2-bit entries occupies bits 6 and 7: value 0b10.
	_ = b.Set(6, true)
	if v, err := b.Status(3, 2); err != nil || v != 2 {
		t.Fatalf("Status(3,2) = %d, %v", v, err)
	}
	if v, _ := b.Status(6, 1); v != 1 {
		t.Fatalf("Status(6,1) = %d", v)
	}
	if _, err := b.Status(uint64(MinEntries/2), 2); !errors.Is(err, ErrRange) {
		t.Fatalf("Status past the end: %v", err)
	}
}

func TestRoundTripRandom(t *testing.T) {
	for _, entries := range []int{MinEntries, 3*MinEntries + 5} {
		b, _ := NewBitstring(entries)
		set := map[int]bool{}
		for range 5000 {
			i := rand.IntN(b.Len())
			set[i] = true
			_ = b.Set(i, true)
		}
		enc, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) || got.Count() != len(set) {
			t.Fatalf("round trip of %d entries lost bits", entries)
		}
	}
}

func gz(t testing.TB, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w.Write(data)
	w.Close()
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func TestGzipBombRejected(t *testing.T) {
	// 256 MiB of zeros compresses to about 1 MiB of GZIP.
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for range 256 {
		w.Write(chunk)
	}
	w.Close()
	bomb := "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
	t.Logf("bomb: %d characters for 256 MiB", len(bomb))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bomb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("decoding the bomb allocated %d MiB", alloc>>20)
	}
	// Exactly at the cap is accepted; one byte more is not.
	if _, err := DecodeLimit(gz(t, make([]byte, 1<<20)), 1<<20); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	if _, err := DecodeLimit(gz(t, make([]byte, 1<<20+1)), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over the cap: %v", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := gz(t, make([]byte, MinBytes))
	cases := map[string]struct {
		in   string
		want error
	}{
		"empty":              {"", ErrMalformed},
		"no multibase":       {valid[1:], ErrMalformed},
		"base58btc prefix":   {"z" + valid[1:], ErrMalformed},
		"padding":            {valid + "==", ErrMalformed},
		"std alphabet":       {"u+/" + valid[3:], ErrMalformed},
		"not gzip":           {"u" + base64.RawURLEncoding.EncodeToString([]byte("hello, world")), ErrMalformed},
		"truncated gzip":     {valid[:len(valid)-8], ErrMalformed},
		"short list":         {gz(t, make([]byte, MinBytes-1)), ErrListLength},
		"empty list":         {gz(t, nil), ErrListLength},
		"whitespace":         {valid[:10] + " " + valid[10:], ErrMalformed},
		"huge encoded input": {"u" + string(bytes.Repeat([]byte("A"), maxEncodedLen)), ErrTooLarge},
	}
	for name, c := range cases {
		if _, err := Decode(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if _, err := Decode(valid); err != nil {
		t.Fatalf("valid: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(specEncodedList)
	f.Add(gz(f, make([]byte, MinBytes)))
	f.Add("u")
	f.Add("uH4sI")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			if b != nil {
				t.Fatal("bitstring and error")
			}
			return
		}
		if len(b) < MinBytes || len(b) > MaxDecodedBytes {
			t.Fatalf("accepted a list of %d bytes", len(b))
		}
	})
}
