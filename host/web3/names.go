package web3

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidName: the name fails the host's checks (before any plugin is
// asked; the plugin applies ENSIP-15 or the UNS rules itself).
var ErrInvalidName = errors.New("web3: invalid name")

// ErrUnsupportedTLD: no registry this gateway knows serves the name's TLD.
var ErrUnsupportedTLD = errors.New("web3: unsupported top-level domain")

// Registry is a naming system external names come from.
type Registry struct {
	// Name is "ENS" or "UNS".
	Name string
	// Plugin is the name of the resolver plugin that answers for it.
	Plugin string
	// Chains are the CAIP-2 chains a name may live on, in the order they
	// are asked.
	Chains []string
}

// The registries of the design ("Domain Verification Service"): ENS names
// on Ethereum, Unstoppable Domains names on Ethereum or Polygon.
var (
	ENS = Registry{Name: "ENS", Plugin: "ens", Chains: []string{ChainEthereum}}
	UNS = Registry{Name: "UNS", Plugin: "unstoppable", Chains: []string{ChainPolygon, ChainEthereum}}
)

// DefaultTLDs maps the top-level domains served to their registry: .eth
// to ENS, the Unstoppable Domains TLDs to UNS.
func DefaultTLDs() map[string]Registry {
	m := map[string]Registry{"eth": ENS}
	// The TLDs plugins/unstoppable serves by default.
	for _, t := range []string{"crypto", "x", "nft", "wallet", "blockchain", "bitcoin", "dao", "888", "zil", "polygon",
		"unstoppable", "klever", "hi", "kresus", "anime", "manga", "binanceus", "go", "altimist", "pudgy", "austin",
		"bitget", "pog", "clay", "witg", "metropolis", "wrkx", "secret", "raiin", "tball", "farms", "dfz", "kryptic", "ubu"} {
		m[t] = UNS
	}
	return m
}

// NetworkOf names a CAIP-2 chain as the design's blockchain_network does.
func NetworkOf(chain string) string {
	switch chain {
	case ChainEthereum:
		return "ethereum"
	case ChainPolygon:
		return "polygon"
	}
	return chain
}

// MaxNameBytes bounds an external name.
const MaxNameBytes = 255

// NormaliseName lower-cases a name and refuses what is plainly not a name:
// invalid UTF-8, control, format (invisible) and space characters, URL
// delimiters, empty labels, a single label, a non-ASCII TLD. Finer rules
// (ENSIP-15 scripts and emoji, confusables) are the plugin's. It returns
// the name and its TLD.
func NormaliseName(s string) (name, tld string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(s) > MaxNameBytes {
		return "", "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameBytes)
	}
	if !utf8.ValidString(s) {
		return "", "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	for _, r := range s {
		switch {
		case r < 0x80 && strings.ContainsRune("/\\?#%@:;,=&+*!$'\"()[]{}<>|^`~", r):
			return "", "", fmt.Errorf("%w: character %q is not allowed", ErrInvalidName, r)
		case unicode.IsControl(r), unicode.IsSpace(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return "", "", fmt.Errorf("%w: invisible, space or control character U+%04X", ErrInvalidName, r)
		}
	}
	name = strings.ToLower(s)
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", "", fmt.Errorf("%w: want at least two labels (name.tld)", ErrInvalidName)
	}
	for _, l := range labels {
		if l == "" {
			return "", "", fmt.Errorf("%w: empty label", ErrInvalidName)
		}
	}
	tld = labels[len(labels)-1]
	for i := 0; i < len(tld); i++ {
		if c := tld[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", "", fmt.Errorf("%w: top-level domain %q", ErrUnsupportedTLD, tld)
		}
	}
	return name, tld, nil
}
