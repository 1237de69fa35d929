package openbadges

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// pngChunks lists the chunks of a PNG, failing the test on a malformed one.
func pngChunks(t testing.TB, b []byte) []chunk {
	t.Helper()
	cs, err := readPNG(b)
	if err != nil {
		t.Fatalf("readPNG: %v", err)
	}
	return cs
}

func builtCredential(t testing.TB) []byte {
	t.Helper()
	return mustBuildJSON(t, decodeStrict(t, designRequest), testIssuer, testOpts)
}

func TestBakePNGRoundTrip(t *testing.T) {
	src := DefaultPNG()
	cred := builtCredential(t)
	baked, err := BakePNG(src, cred)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnbakePNG(baked)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, cred) {
		t.Fatalf("unbaked %q, want %q", got, cred)
	}
	if err := Validate(got); err != nil {
		t.Fatal(err)
	}

	// The image still decodes, to the same pixels.
	before, err := png.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	after, err := png.Decode(bytes.NewReader(baked))
	if err != nil {
		t.Fatalf("baked PNG does not decode: %v", err)
	}
	if !samePixels(before, after) {
		t.Fatal("baking changed the pixels")
	}

	// One iTXt chunk, just before IEND, laid out as the specification's example constructor
	// (keyword 'openbadgecredential', compression 0, method 0, empty language tag and translated
	// keyword), with a CRC computed here independently.
	cs := pngChunks(t, baked)
	it := cs[len(cs)-2]
	if it.typ != "iTXt" || cs[len(cs)-1].typ != "IEND" || countCredentialChunks(cs) != 1 {
		t.Fatalf("chunk order: %v", chunkTypes(cs))
	}
	wantData := append([]byte("openbadgecredential\x00\x00\x00\x00\x00"), cred...)
	if !bytes.Equal(it.data, wantData) {
		t.Fatalf("iTXt data = %q", it.data[:40])
	}
	raw := baked[it.start:it.end]
	if n := binary.BigEndian.Uint32(raw); int(n) != len(wantData) {
		t.Errorf("length field %d, want %d", n, len(wantData))
	}
	if crc := binary.BigEndian.Uint32(raw[len(raw)-4:]); crc != crc32.ChecksumIEEE(append([]byte("iTXt"), wantData...)) {
		t.Errorf("CRC %08x is not CRC-32 of type and data", crc)
	}
	// Everything else is the source, unchanged.
	if !bytes.Equal(append(baked[:it.start:it.start], baked[it.end:]...), src) {
		t.Error("other chunks changed")
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}

func chunkTypes(cs []chunk) []string {
	var ts []string
	for _, c := range cs {
		ts = append(ts, c.typ)
	}
	return ts
}

func countCredentialChunks(cs []chunk) int {
	n := 0
	for _, c := range cs {
		if t, ok := parseITXt(c.data); c.typ == "iTXt" && ok && t.keyword == PNGKeyword {
			n++
		}
	}
	return n
}

// TestBakePNGReplaces bakes twice: the second credential replaces the first, and the result is
// the same as baking the second into the clean image.
func TestBakePNGReplaces(t *testing.T) {
	src := DefaultPNG()
	once, err := BakePNG(src, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := BakePNG(once, []byte("header.payload.signature"))
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := BakePNG(src, []byte("header.payload.signature"))
	if !bytes.Equal(twice, direct) {
		t.Fatal("re-baking differs from baking the clean image")
	}
	if got, _ := UnbakePNG(twice); string(got) != "header.payload.signature" {
		t.Fatalf("unbaked %q", got)
	}
	if n := countCredentialChunks(pngChunks(t, twice)); n != 1 {
		t.Fatalf("%d credential chunks", n)
	}
}

// TestBakePNGOtherImages bakes PNGs of other colour types and keeps unrelated text chunks.
func TestBakePNGOtherImages(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{color.Black, color.White})
	pal.SetColorIndex(1, 1, 1)
	gray := image.NewGray16(image.Rect(0, 0, 5, 5))
	gray.SetGray16(2, 2, color.Gray16{Y: 0x8000})
	for name, img := range map[string]image.Image{"paletted": pal, "gray16": gray} {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		// An unrelated iTXt chunk (another keyword) must stay.
		src := insertBeforeIEND(b.Bytes(), "iTXt", []byte("Comment\x00\x00\x00\x00\x00hello"))
		baked, err := BakePNG(src, []byte(`{"x":"y"}`))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dec, err := png.Decode(bytes.NewReader(baked))
		if err != nil || !samePixels(img, dec) {
			t.Fatalf("%s: decode after baking: %v", name, err)
		}
		if !bytes.Contains(baked, []byte("Comment\x00\x00\x00\x00\x00hello")) {
			t.Errorf("%s: unrelated iTXt chunk dropped", name)
		}
	}
}

func insertBeforeIEND(b []byte, typ string, data []byte) []byte {
	var w bytes.Buffer
	w.Write(b[:len(b)-12])
	writeChunk(&w, typ, data)
	w.Write(b[len(b)-12:])
	return w.Bytes()
}

func TestBakePNGRefuses(t *testing.T) {
	src := DefaultPNG()
	cred := []byte(`{"a":1}`)
	flip := func(i int) []byte { b := bytes.Clone(src); b[i] ^= 0x01; return b }
	idat := pngChunks(t, src)[1]
	cases := []struct {
		name      string
		png, cred []byte
		want      error
	}{
		{"empty", nil, cred, ErrNotPNG},
		{"JPEG", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), cred, ErrNotPNG},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00"), cred, ErrNotPNG},
		{"signature only", []byte(pngSignature), cred, ErrNotPNG},
		{"truncated", src[:len(src)-5], cred, ErrNotPNG},
		{"no IEND", src[:len(src)-12], cred, ErrNotPNG},
		{"bad CRC in IDAT data", flip(idat.start + 10), cred, ErrNotPNG},
		{"bad CRC field", flip(idat.end - 1), cred, ErrNotPNG},
		{"huge length", func() []byte { b := bytes.Clone(src); binary.BigEndian.PutUint32(b[8:], 0xffffff00); return b }(), cred, ErrNotPNG},
		{"bad chunk type", func() []byte { b := bytes.Clone(src); b[12] = '1'; return b }(), cred, ErrNotPNG},
		{"data after IEND", append(bytes.Clone(src), "junk"...), cred, ErrNotPNG},
		{"IDAT first", src[:8:8], cred, ErrNotPNG},
		{"too large", append(bytes.Clone(src), make([]byte, MaxImageBytes)...), cred, ErrTooLarge},
		{"credential plain text", src, []byte("I earned it"), ErrBadCredential},
		{"credential JSON array", src, []byte(`[1]`), ErrBadCredential},
		{"credential broken JSON", src, []byte(`{"a":`), ErrBadCredential},
		{"credential JWS with padding", src, []byte("a.b.c="), ErrBadCredential},
		{"credential JWS two parts", src, []byte("a.b"), ErrBadCredential},
		{"credential empty", src, nil, ErrBadCredential},
		{"credential too large", src, append([]byte(`{"p":"`), make([]byte, MaxCredentialBytes)...), ErrTooLarge},
	}
	cases[11].png = append(append(bytes.Clone(src[:8]), src[idat.start:idat.end]...), src[8:]...)
	for _, tc := range cases {
		out, err := BakePNG(tc.png, tc.cred)
		if !errors.Is(err, tc.want) || out != nil {
			t.Errorf("%s: BakePNG = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestUnbakePNG(t *testing.T) {
	src := DefaultPNG()
	if _, err := UnbakePNG(src); !errors.Is(err, ErrNotBaked) {
		t.Errorf("clean image: %v, want ErrNotBaked", err)
	}
	baked, _ := BakePNG(src, []byte(`{"first":true}`))

	// A corrupted credential chunk fails its CRC.
	i := bytes.Index(baked, []byte(`"first"`))
	bad := bytes.Clone(baked)
	bad[i+1] = 'F'
	if _, err := UnbakePNG(bad); !errors.Is(err, ErrNotPNG) {
		t.Errorf("corrupted chunk: %v, want ErrNotPNG", err)
	}

	// The first chunk wins (§5.3.1.2); what follows it is not read.
	two := insertBeforeIEND(baked, "iTXt", credentialITXt([]byte(`{"second":true}`)))
	if got, err := UnbakePNG(two); err != nil || string(got) != `{"first":true}` {
		t.Errorf("two chunks: %q %v", got, err)
	}
	truncatedAfter := two[:len(two)-20]
	if got, err := UnbakePNG(truncatedAfter); err != nil || string(got) != `{"first":true}` {
		t.Errorf("damage after the chunk: %q %v", got, err)
	}

	// Compressed text is forbidden by the spec and not inflated.
	comp := insertBeforeIEND(src, "iTXt", []byte("openbadgecredential\x00\x01\x00\x00\x00x\x9c\x03\x00\x00\x00\x00\x01"))
	if _, err := UnbakePNG(comp); !errors.Is(err, ErrBadCredential) {
		t.Errorf("compressed: %v, want ErrBadCredential", err)
	}
	// Text that is not a credential, or not UTF-8.
	for _, text := range []string{"hello", "\xff\xfe{}", ""} {
		p := insertBeforeIEND(src, "iTXt", credentialITXt([]byte(text)))
		if _, err := UnbakePNG(p); !errors.Is(err, ErrBadCredential) {
			t.Errorf("text %q: %v, want ErrBadCredential", text, err)
		}
	}
	// A tEXt chunk with the keyword is not a baked OB 3.0 credential.
	p := insertBeforeIEND(src, "tEXt", []byte("openbadgecredential\x00{}"))
	if _, err := UnbakePNG(p); !errors.Is(err, ErrNotBaked) {
		t.Errorf("tEXt chunk: %v, want ErrNotBaked", err)
	}
	// The OB 2.0 keyword is not the OB 3.0 one.
	p = insertBeforeIEND(src, "iTXt", []byte("openbadges\x00\x00\x00\x00\x00{}"))
	if _, err := UnbakePNG(p); !errors.Is(err, ErrNotBaked) {
		t.Errorf("OB 2.0 keyword: %v, want ErrNotBaked", err)
	}
	for _, in := range [][]byte{nil, []byte("not a png"), src[:20]} {
		if _, err := UnbakePNG(in); !errors.Is(err, ErrNotPNG) {
			t.Errorf("UnbakePNG(%q) = %v, want ErrNotPNG", in, err)
		}
	}
	if _, err := UnbakePNG(make([]byte, MaxImageBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	// The result is a copy.
	got, _ := UnbakePNG(baked)
	got[0] = 'X'
	if again, _ := UnbakePNG(baked); again[0] != '{' {
		t.Error("UnbakePNG returned a slice of its input")
	}
}

func TestParseITXt(t *testing.T) {
	ok := []byte("k\x00\x00\x00en\x00kw\x00text")
	if it, good := parseITXt(ok); !good || it.keyword != "k" || it.language != "en" || it.translated != "kw" || string(it.text) != "text" {
		t.Errorf("parse: %+v %v", it, good)
	}
	for _, bad := range []string{"", "\x00\x00\x00\x00\x00", "k", "k\x00\x00", "k\x00\x02\x00\x00\x00", "k\x00\x00\x01\x00\x00",
		"k\x00\x00\x00en", "k\x00\x00\x00en\x00kw", string(bytes.Repeat([]byte("k"), 80)) + "\x00\x00\x00\x00\x00"} {
		if _, good := parseITXt([]byte(bad)); good {
			t.Errorf("parseITXt(%q) accepted", bad)
		}
	}
}
