package openbadges

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"
	"unicode/utf8"
)

// DefaultImageSize is the width and height, in pixels, of DefaultPNG and DefaultSVG.
const DefaultImageSize = 256

// Colours of the default badge: a blue disc with a white ring on a transparent background.
var (
	badgeFill = color.NRGBA{R: 0x2e, G: 0x5e, B: 0xaa, A: 0xff}
	badgeRing = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
)

// defaultPNG renders the default badge once, on first use.
var defaultPNG = sync.OnceValue(func() []byte {
	const n = DefaultImageSize
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	c := float64(n-1) / 2
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			dx, dy := float64(x)-c, float64(y)-c
			switch d2 := dx*dx + dy*dy; {
			case d2 <= 120*120 && (d2 < 97*97 || d2 > 103*103):
				img.SetNRGBA(x, y, badgeFill)
			case d2 <= 120*120:
				img.SetNRGBA(x, y, badgeRing)
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("openbadges: encoding the default badge: " + err.Error()) // cannot happen with a bytes.Buffer
	}
	return b.Bytes()
})

// DefaultPNG returns a plain 256×256 PNG badge (a blue disc with a white ring), drawn with
// image/png, to bake a credential into when the issuer gave no image. Each call returns a new
// copy.
func DefaultPNG() []byte { return bytes.Clone(defaultPNG()) }

// maxLabelChars is how much of a label DefaultSVG shows before cutting it with an ellipsis.
const maxLabelChars = 24

// DefaultSVG returns a plain 256×256 SVG badge like DefaultPNG, with label (such as the
// achievement's name) as its title and, cut to 24 characters, as text across the disc. The
// label is XML-escaped; characters XML cannot carry become U+FFFD. An empty label gives the
// badge without text.
func DefaultSVG(label string) []byte {
	label = strings.Join(strings.Fields(label), " ")
	short := label
	if utf8.RuneCountInString(short) > maxLabelChars {
		short = string([]rune(short)[:maxLabelChars-1]) + "…"
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">` + "\n")
	if label != "" {
		b.WriteString("  <title>")
		_ = xml.EscapeText(&b, []byte(label)) // writes to a bytes.Buffer cannot fail
		b.WriteString("</title>\n")
	}
	b.WriteString(`  <circle cx="128" cy="128" r="120" fill="#2e5eaa"/>` + "\n")
	b.WriteString(`  <circle cx="128" cy="128" r="100" fill="none" stroke="#ffffff" stroke-width="6"/>` + "\n")
	if short != "" {
		b.WriteString(`  <text x="128" y="135" font-family="sans-serif" font-size="18" fill="#ffffff" text-anchor="middle">`)
		_ = xml.EscapeText(&b, []byte(short))
		b.WriteString("</text>\n")
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
