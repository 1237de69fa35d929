package openbadges

import (
	"bytes"
	"encoding/xml"
	"image/color"
	"image/png"
	"io"
	"strings"
	"testing"
)

func TestDefaultPNG(t *testing.T) {
	b := DefaultPNG()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != DefaultImageSize || r.Dy() != DefaultImageSize {
		t.Fatalf("size %v", r)
	}
	at := func(x, y int) color.NRGBA { return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA) }
	if c := at(128, 128); c != badgeFill {
		t.Errorf("centre %v, want the badge colour", c)
	}
	if c := at(128, 128-100); c != badgeRing {
		t.Errorf("ring %v, want white", c)
	}
	if c := at(0, 0); c.A != 0 {
		t.Errorf("corner %v, want transparent", c)
	}
	b[0] = 0
	if DefaultPNG()[0] != 0x89 {
		t.Error("DefaultPNG returns a shared slice")
	}
}

func TestDefaultSVG(t *testing.T) {
	svg := DefaultSVG("  <script>alert(1)</script> & a very long achievement name\x01 ")
	var title, text string
	d := xml.NewDecoder(bytes.NewReader(svg))
	var cur string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			cur = e.Name.Local
			if e.Name.Local == "script" {
				t.Fatal("label became markup")
			}
		case xml.CharData:
			switch cur {
			case "title":
				title += string(e)
			case "text":
				text += string(e)
			}
		case xml.EndElement:
			cur = ""
		}
	}
	if !strings.HasPrefix(title, "<script>alert(1)</script> & a very long") {
		t.Errorf("title %q", title)
	}
	if n := len([]rune(text)); n != maxLabelChars || !strings.HasSuffix(text, "…") {
		t.Errorf("text %q (%d characters), want cut to %d", text, n, maxLabelChars)
	}
	if strings.Contains(string(svg), "\x01") {
		t.Error("control character written into XML")
	}
	if bytes.Contains(DefaultSVG(""), []byte("<text")) || bytes.Contains(DefaultSVG(" "), []byte("<title")) {
		t.Error("empty label still drawn")
	}
	// The default badge bakes.
	if _, err := BakeSVG(DefaultSVG("x"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
}
