// Package contexts holds the JSON-LD contexts gatewayd processes credentials with, embedded in
// the binary, and a document loader that serves only them. Nothing is ever fetched over the
// network: a context that is not listed here is an error. SOURCES.md says where each file comes
// from.
package contexts

import (
	"bytes"
	"embed"
	"fmt"
	"sort"

	"github.com/piprate/json-gold/ld"
)

// URLs of the embedded contexts.
const (
	CredentialsV2   = "https://www.w3.org/ns/credentials/v2"
	ExamplesV2      = "https://www.w3.org/ns/credentials/examples/v2"
	DataIntegrityV2 = "https://w3id.org/security/data-integrity/v2"
	MultikeyV1      = "https://w3id.org/security/multikey/v1"
	DIDV1           = "https://www.w3.org/ns/did/v1"
	OpenBadgesV303  = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
	// UndefinedTermsV2 maps every term no other context defines into
	// https://www.w3.org/ns/credentials/undefined-term# (VCDM 2.0 § 5.2),
	// for credentials with issuer-chosen claim names.
	UndefinedTermsV2 = "https://www.w3.org/ns/credentials/undefined-terms/v2"
)

//go:embed *.jsonld *.json
var files embed.FS

var byURL = map[string]string{
	CredentialsV2:    "credentials-v2.jsonld",
	ExamplesV2:       "credentials-examples-v2.jsonld",
	DataIntegrityV2:  "data-integrity-v2.jsonld",
	MultikeyV1:       "multikey-v1.jsonld",
	DIDV1:            "did-v1.jsonld",
	OpenBadgesV303:   "ob-v3p0-context-3.0.3.json",
	UndefinedTermsV2: "credentials-undefined-terms-v2.jsonld",
}

// URLs lists the context URLs the loader serves, sorted.
func URLs() []string {
	out := make([]string, 0, len(byURL))
	for u := range byURL {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Bytes returns the embedded text of the context at url, or false if there is none.
func Bytes(url string) ([]byte, bool) {
	name, ok := byURL[url]
	if !ok {
		return nil, false
	}
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, false
	}
	return b, true
}

// ErrUnknownContext is returned (wrapped) for a URL that is not embedded.
var ErrUnknownContext = fmt.Errorf("contexts: context not embedded (never fetched)")

// Loader is a static json-gold document loader over the embedded contexts. Its documents are
// parsed once and shared; json-gold only reads them. The zero value is not usable; use
// NewLoader or Default.
type Loader struct {
	docs map[string]*ld.RemoteDocument
}

// NewLoader parses the embedded contexts. It fails only if an embedded file is not JSON.
func NewLoader() (*Loader, error) {
	l := &Loader{docs: make(map[string]*ld.RemoteDocument, len(byURL))}
	for u, name := range byURL {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("contexts: read %s: %w", name, err)
		}
		doc, err := ld.DocumentFromReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("contexts: parse %s: %w", name, err)
		}
		l.docs[u] = &ld.RemoteDocument{DocumentURL: u, Document: doc}
	}
	return l, nil
}

var defaultLoader = func() *Loader {
	l, err := NewLoader()
	if err != nil {
		panic(err) // embedded files are checked by the tests
	}
	return l
}()

// Default returns the process-wide loader.
func Default() *Loader { return defaultLoader }

// LoadDocument implements ld.DocumentLoader. It serves only embedded contexts and refuses any
// other URL without touching the network.
func (l *Loader) LoadDocument(url string) (*ld.RemoteDocument, error) {
	d, ok := l.docs[url]
	if !ok {
		return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, fmt.Errorf("%w: %q", ErrUnknownContext, url))
	}
	return d, nil
}

var _ ld.DocumentLoader = (*Loader)(nil)
