package openbadges

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"unicode/utf8"
)

// PNGKeyword is the keyword of the iTXt chunk that carries a baked credential (OB 3.0 §5.3.1).
const PNGKeyword = "openbadgecredential"

// pngSignature opens every PNG datastream (PNG §5.2).
const pngSignature = "\x89PNG\r\n\x1a\n"

// ErrNotPNG: the input is not a well-formed PNG datastream (bad signature, truncated or
// overlong chunk, wrong CRC, no IHDR first or no IEND last).
var ErrNotPNG = errors.New("openbadges: not a well-formed PNG")

// chunk is one PNG chunk: its type and data, and where it lies in the datastream (start of
// the length field to the end of the CRC).
type chunk struct {
	typ        string
	data       []byte
	start, end int
}

// readChunk reads the chunk at b[off:], verifying its length, type and CRC (PNG §5.3).
func readChunk(b []byte, off int) (chunk, error) {
	if len(b)-off < 12 {
		return chunk{}, fmt.Errorf("%w: truncated chunk at byte %d", ErrNotPNG, off)
	}
	n := binary.BigEndian.Uint32(b[off:])
	if n > 1<<31-1 || int64(n) > int64(len(b)-off-12) {
		return chunk{}, fmt.Errorf("%w: chunk at byte %d claims %d bytes", ErrNotPNG, off, n)
	}
	typ := b[off+4 : off+8]
	for _, c := range typ {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return chunk{}, fmt.Errorf("%w: bad chunk type at byte %d", ErrNotPNG, off)
		}
	}
	end := off + 12 + int(n)
	data := b[off+8 : end-4]
	if got, want := crc32.ChecksumIEEE(b[off+4:end-4]), binary.BigEndian.Uint32(b[end-4:]); got != want {
		return chunk{}, fmt.Errorf("%w: CRC mismatch in %s chunk at byte %d", ErrNotPNG, typ, off)
	}
	return chunk{typ: string(typ), data: data, start: off, end: end}, nil
}

// iTXt is the parsed data of an iTXt chunk (PNG §11.3.4.5).
type iTXt struct {
	keyword, language, translated string
	compressed                    bool
	text                          []byte
}

func parseITXt(d []byte) (iTXt, bool) {
	k := bytes.IndexByte(d, 0)
	if k < 1 || k > 79 || len(d) < k+3 {
		return iTXt{}, false
	}
	t := iTXt{keyword: string(d[:k]), compressed: d[k+1] != 0}
	if d[k+1] > 1 || d[k+2] != 0 {
		return iTXt{}, false
	}
	rest := d[k+3:]
	l := bytes.IndexByte(rest, 0)
	if l < 0 {
		return iTXt{}, false
	}
	t.language, rest = string(rest[:l]), rest[l+1:]
	l = bytes.IndexByte(rest, 0)
	if l < 0 {
		return iTXt{}, false
	}
	t.translated, t.text = string(rest[:l]), rest[l+1:]
	return t, true
}

// BakePNG returns png with credential (a JSON credential or a compact JWS) in an uncompressed
// iTXt chunk of keyword "openbadgecredential", with empty language tag and translated keyword,
// inserted just before IEND (OB 3.0 §5.3.1.1). Any such chunk already there is replaced, so the
// result has exactly one. Every chunk's CRC is checked first; input that is not a well-formed
// PNG (ErrNotPNG), over MaxImageBytes (ErrTooLarge) or a credential of another form
// (ErrBadCredential) is refused. Chunks are otherwise copied unchanged, so the image decodes as
// before.
func BakePNG(png []byte, credential []byte) ([]byte, error) {
	if len(png) > MaxImageBytes {
		return nil, fmt.Errorf("%w: image of %d bytes (at most %d)", ErrTooLarge, len(png), MaxImageBytes)
	}
	if _, err := checkCredentialForm(credential); err != nil {
		return nil, err
	}
	chunks, err := readPNG(png)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(png) + len(credential) + 64)
	out.WriteString(pngSignature)
	for _, c := range chunks {
		switch c.typ {
		case "iTXt":
			if t, ok := parseITXt(c.data); ok && t.keyword == PNGKeyword {
				continue
			}
		case "IEND":
			writeChunk(&out, "iTXt", credentialITXt(credential))
		}
		out.Write(png[c.start:c.end])
	}
	return out.Bytes(), nil
}

// UnbakePNG returns the credential baked in png: the text of the first iTXt chunk of keyword
// "openbadgecredential" (OB 3.0 §5.3.1.2), a copy. The chunks up to it are checked (CRC,
// IHDR first); the rest of the stream is not read. A compressed chunk, which the specification
// forbids, is refused rather than inflated; so is text that is neither a JSON object nor a
// compact JWS (ErrBadCredential). A PNG without the chunk gives ErrNotBaked.
func UnbakePNG(png []byte) ([]byte, error) {
	if len(png) > MaxImageBytes {
		return nil, fmt.Errorf("%w: image of %d bytes (at most %d)", ErrTooLarge, len(png), MaxImageBytes)
	}
	if !bytes.HasPrefix(png, []byte(pngSignature)) {
		return nil, fmt.Errorf("%w: no PNG signature", ErrNotPNG)
	}
	for off, i := len(pngSignature), 0; ; i++ {
		c, err := readChunk(png, off)
		if err != nil {
			return nil, err
		}
		if i == 0 && c.typ != "IHDR" {
			return nil, fmt.Errorf("%w: first chunk is %s, not IHDR", ErrNotPNG, c.typ)
		}
		switch c.typ {
		case "IEND":
			return nil, ErrNotBaked
		case "iTXt":
			t, ok := parseITXt(c.data)
			if !ok || t.keyword != PNGKeyword {
				break
			}
			if t.compressed {
				return nil, fmt.Errorf("%w: the %s chunk is compressed, which OB 3.0 forbids", ErrBadCredential, PNGKeyword)
			}
			if !utf8.Valid(t.text) {
				return nil, fmt.Errorf("%w: the %s text is not UTF-8", ErrBadCredential, PNGKeyword)
			}
			if _, err := checkCredentialForm(t.text); err != nil {
				return nil, err
			}
			return bytes.Clone(t.text), nil
		}
		off = c.end
	}
}

// readPNG reads every chunk of a PNG datastream, which must start with IHDR, end with IEND and
// have nothing after it.
func readPNG(b []byte) ([]chunk, error) {
	if !bytes.HasPrefix(b, []byte(pngSignature)) {
		return nil, fmt.Errorf("%w: no PNG signature", ErrNotPNG)
	}
	var chunks []chunk
	for off := len(pngSignature); ; {
		c, err := readChunk(b, off)
		if err != nil {
			return nil, err
		}
		if len(chunks) == 0 && (c.typ != "IHDR" || len(c.data) != 13) {
			return nil, fmt.Errorf("%w: first chunk is not a 13-byte IHDR", ErrNotPNG)
		}
		chunks = append(chunks, c)
		off = c.end
		if c.typ == "IEND" {
			if off != len(b) {
				return nil, fmt.Errorf("%w: %d bytes after IEND", ErrNotPNG, len(b)-off)
			}
			return chunks, nil
		}
	}
}

// credentialITXt is the data of the iTXt chunk carrying credential: keyword, NUL, compression
// flag 0, compression method 0, empty language tag, NUL, empty translated keyword, NUL, text.
func credentialITXt(credential []byte) []byte {
	d := make([]byte, 0, len(PNGKeyword)+5+len(credential))
	d = append(d, PNGKeyword...)
	d = append(d, 0, 0, 0, 0, 0)
	return append(d, credential...)
}

// writeChunk appends a chunk: length, type, data, CRC-32 of type and data.
func writeChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
