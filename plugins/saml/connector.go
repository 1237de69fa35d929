package main

import (
	"bytes"
	"context"
	"crypto"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Connector is one enterprise's SAML connection: the IdP it trusts and how
// its assertions map to the enterprise's members. The host stores it, as
// JSON checked against config.schema.json ($defs.connector), under
// "connector/<enterpriseId>" in the plugin's KV namespace, with EntityID
// and ACSURL filled in from the gateway's public URL.
type Connector struct {
	// Enabled turns the connector on; a disabled one refuses logins.
	Enabled bool `json:"enabled"`
	// EntityID is this SP's entity ID for the enterprise (also the
	// audience assertions must name), ACSURL its assertion consumer
	// service, MetadataURL where its metadata is served.
	EntityID    string `json:"entityId"`
	ACSURL      string `json:"acsUrl"`
	MetadataURL string `json:"metadataUrl,omitempty"`
	// IdPMetadataXML is the IdP's SAML metadata (an EntityDescriptor, or
	// an EntitiesDescriptor holding exactly one IdP); IdPMetadataURL is
	// where to fetch it instead (through the host's HTTP allow-list,
	// cached for a day).
	IdPMetadataXML string `json:"idpMetadataXml,omitempty"`
	IdPMetadataURL string `json:"idpMetadataUrl,omitempty"`
	// AllowIdPInitiated accepts unsolicited responses (no AuthnRequest
	// sent). Off by default: SP-initiated login binds every response to
	// the request this gateway sent.
	AllowIdPInitiated bool `json:"allowIdpInitiated,omitempty"`
	// NameIDFormat is requested in the AuthnRequest's NameIDPolicy;
	// empty leaves the choice to the IdP.
	NameIDFormat string `json:"nameIdFormat,omitempty"`
	// AttributeMapping maps the gateway's member fields ("email",
	// "displayName", "givenName", "familyName", "groups", "employeeId")
	// to SAML attribute names. Unmapped attributes are dropped; "email"
	// falls back to common names and to an e-mail NameID.
	AttributeMapping map[string]string `json:"attributeMapping,omitempty"`
	// SignAuthnRequests signs the AuthnRequest (RSA-SHA256) with sp_key.
	SignAuthnRequests bool `json:"signAuthnRequests,omitempty"`
	// RequireEncryptedAssertions refuses plaintext assertions.
	RequireEncryptedAssertions bool `json:"requireEncryptedAssertions,omitempty"`
}

// pluginConfig is the plugin's own configuration.
type pluginConfig struct {
	// Enterprises are connectors given in the configuration, by
	// enterprise ID; one stored by the host in the KV takes precedence.
	Enterprises map[string]*Connector `json:"enterprises,omitempty"`
}

var enterpriseIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// connectorKey is the KV key of an enterprise's connector.
func connectorKey(enterpriseID string) string { return "connector/" + enterpriseID }

// sp is a connector made ready: the crewjam service provider and the
// IdP's signing certificates.
type sp struct {
	conn  *Connector
	sp    *saml.ServiceProvider
	certs []*x509.Certificate
	key   *rsa.PrivateKey // nil without sp_key
}

// provider implements abiv1.SSO.
type provider struct {
	mu    sync.Mutex
	cache map[string]cachedSP // by enterprise ID
	// keys are parsed sp_key secrets, by the sha256 of their bytes.
	keys map[string]spKeyPair
}

type spKeyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

type cachedSP struct {
	stamp string // KV version and metadata fetch time the SP was built from
	sp    *sp
}

func newProvider() *provider {
	return &provider{cache: map[string]cachedSP{}, keys: map[string]spKeyPair{}}
}

var _ abiv1.SSO = (*provider)(nil)

// errNoConnector is returned for an enterprise without a connector.
func errNoConnector(id string) error {
	return abiv1.Errorf(abiv1.ErrorCodeNotFound, "enterprise %q has no SAML connector", id)
}

// loadConnector reads the connector of enterpriseID and a stamp that
// changes whenever it does.
func loadConnector(ctx context.Context, enterpriseID string) (*Connector, string, error) {
	if !enterpriseIDRE.MatchString(enterpriseID) {
		return nil, "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "enterprise_id is missing or malformed")
	}
	raw, _, ok, err := sdk.KV().Get(ctx, connectorKey(enterpriseID))
	if err != nil {
		return nil, "", abiv1.Errorf(abiv1.ErrorCodeUnavailable, "kv: %v", err)
	}
	var c Connector
	if ok {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, "", abiv1.Errorf(abiv1.ErrorCodeInternal, "stored connector: %v", err)
		}
		return &c, "kv:" + hashHex(raw), nil
	}
	var pc pluginConfig
	if b, err := sdk.ConfigBytes(); err == nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &pc); err != nil {
			return nil, "", abiv1.Errorf(abiv1.ErrorCodeInternal, "config: %v", err)
		}
	}
	if pc.Enterprises[enterpriseID] == nil {
		return nil, "", errNoConnector(enterpriseID)
	}
	b, _ := json.Marshal(pc.Enterprises[enterpriseID])
	return pc.Enterprises[enterpriseID], "config:" + hashHex(b), nil
}

// load returns the ready SP of enterpriseID; acsURL, when set, must be the
// connector's (the host computes both from the same public URL).
func (p *provider) load(ctx context.Context, enterpriseID, acsURL string) (*sp, error) {
	conn, stamp, err := loadConnector(ctx, enterpriseID)
	if err != nil {
		return nil, err
	}
	if acsURL != "" && conn.ACSURL != "" && acsURL != conn.ACSURL {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "acs_url %q is not the connector's %q", acsURL, conn.ACSURL)
	}
	if conn.ACSURL == "" {
		conn.ACSURL = acsURL
	}
	meta, metaStamp, err := idpMetadata(ctx, enterpriseID, conn)
	if err != nil {
		return nil, err
	}
	keyRaw, err := spKeySecret()
	if err != nil {
		return nil, err
	}
	stamp += "|" + metaStamp + "|" + hashHex(keyRaw)
	p.mu.Lock()
	c, ok := p.cache[enterpriseID]
	p.mu.Unlock()
	if ok && c.stamp == stamp {
		return c.sp, nil
	}
	s, err := p.build(conn, meta, keyRaw)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cache[enterpriseID] = cachedSP{stamp: stamp, sp: s}
	p.mu.Unlock()
	return s, nil
}

// build makes the crewjam ServiceProvider of a connector.
func (p *provider) build(conn *Connector, meta, keyRaw []byte) (*sp, error) {
	if conn.EntityID == "" || conn.ACSURL == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "connector has no entityId or acsUrl")
	}
	acs, err := url.Parse(conn.ACSURL)
	if err != nil || acs.Scheme == "" || acs.Host == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "connector acsUrl %q is not an absolute URL", conn.ACSURL)
	}
	ed, err := parseIdPMetadata(meta)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "IdP metadata: %v", err)
	}
	certs, err := idpSigningCerts(ed)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "IdP metadata: %v", err)
	}
	s := &saml.ServiceProvider{
		EntityID:          conn.EntityID,
		AcsURL:            *acs,
		IDPMetadata:       ed,
		AuthnNameIDFormat: saml.UnspecifiedNameIDFormat,
	}
	if conn.NameIDFormat != "" {
		s.AuthnNameIDFormat = saml.NameIDFormat(conn.NameIDFormat)
	}
	if conn.MetadataURL != "" {
		if u, err := url.Parse(conn.MetadataURL); err == nil {
			s.MetadataURL = *u
		}
	}
	key, cert, err := p.spKey(keyRaw)
	if err != nil {
		return nil, err
	}
	if key != nil {
		s.Key, s.Certificate = key, cert
	}
	if conn.SignAuthnRequests {
		if key == nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "signAuthnRequests is set but no sp_key secret is granted")
		}
		s.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	}
	if conn.RequireEncryptedAssertions && key == nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "requireEncryptedAssertions is set but no sp_key secret is granted")
	}
	return &sp{conn: conn, sp: s, certs: certs, key: key}, nil
}

// spKeySecret reads the secret sp_key: nil if it is not granted or empty.
func spKeySecret() ([]byte, error) {
	b, err := sdk.Secret("sp_key")
	var e *abiv1.Error
	if err != nil && (errors.Is(err, sdk.ErrNoHost) || errors.As(err, &e) && (e.Code == abiv1.ErrorCodeNotFound || e.Code == abiv1.ErrorCodePermissionDenied)) {
		return nil, nil
	}
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "sp_key: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	return b, nil
}

// spKey returns the SP's RSA key and certificate from the secret's bytes
// (nils for none). Without a CERTIFICATE block, the certificate is a
// self-signed one derived deterministically from the key (RSA PKCS #1 v1.5
// signatures are deterministic), so the metadata stays the same across
// restarts.
func (p *provider) spKey(raw []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	if raw == nil {
		return nil, nil, nil
	}
	h := hashHex(raw)
	p.mu.Lock()
	kp, ok := p.keys[h]
	p.mu.Unlock()
	if ok {
		return kp.key, kp.cert, nil
	}
	key, cert, err := parseSPKey(raw)
	if err != nil {
		return nil, nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "sp_key: %v", err)
	}
	p.mu.Lock()
	p.keys[h] = spKeyPair{key, cert}
	p.mu.Unlock()
	return key, cert, nil
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func parseSPKey(b []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	var key *rsa.PrivateKey
	var cert *x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, nil, err
			}
			key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, nil, errors.New("not an RSA key")
			}
			key = rk
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, nil, err
			}
			cert = c
		}
	}
	if key == nil {
		return nil, nil, errors.New("no PEM private key")
	}
	if key.N.BitLen() < 2048 {
		return nil, nil, errors.New("RSA key shorter than 2048 bits")
	}
	if cert == nil {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "gatewayd SAML SP"},
			NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:     time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, key.Public(), crypto.Signer(key))
		if err != nil {
			return nil, nil, err
		}
		if cert, err = x509.ParseCertificate(der); err != nil {
			return nil, nil, err
		}
	} else if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("certificate does not match the key")
	}
	return key, cert, nil
}

// idpMetadata returns the IdP metadata of a connector: the XML given, or
// the document at IdPMetadataURL, fetched through the host and cached in
// the KV for metadataTTL (a stale copy is used if a refresh fails).
func idpMetadata(ctx context.Context, enterpriseID string, conn *Connector) ([]byte, string, error) {
	if conn.IdPMetadataXML != "" {
		return []byte(conn.IdPMetadataXML), "inline", nil // covered by the connector's stamp
	}
	if conn.IdPMetadataURL == "" {
		return nil, "", abiv1.Errorf(abiv1.ErrorCodeUnavailable, "connector has neither idpMetadataXml nor idpMetadataUrl")
	}
	key := "idpmeta/" + enterpriseID
	type cached struct {
		URL       string `json:"url"`
		XML       []byte `json:"xml"`
		FetchedAt int64  `json:"fetchedAt"`
	}
	var c cached
	raw, _, ok, err := sdk.KV().Get(ctx, key)
	if err == nil && ok && json.Unmarshal(raw, &c) == nil && c.URL == conn.IdPMetadataURL {
		if sdk.Now().Sub(time.Unix(c.FetchedAt, 0)) < metadataTTL {
			return c.XML, fmt.Sprintf("url:%d", c.FetchedAt), nil
		}
	} else {
		c = cached{}
	}
	b, ferr := fetchMetadata(ctx, conn.IdPMetadataURL)
	if ferr != nil {
		if c.XML != nil {
			sdk.Log(slog.LevelWarn, "IdP metadata refresh failed; using the cached copy", attr("enterprise", enterpriseID), attr("err", ferr.Error()))
			return c.XML, fmt.Sprintf("url:%d", c.FetchedAt), nil
		}
		return nil, "", abiv1.Errorf(abiv1.ErrorCodeUnavailable, "IdP metadata from %s: %v", conn.IdPMetadataURL, ferr)
	}
	c = cached{URL: conn.IdPMetadataURL, XML: b, FetchedAt: sdk.Now().Unix()}
	if enc, err := json.Marshal(c); err == nil {
		_, _ = sdk.KV().Put(ctx, key, enc, sdk.PutCond{})
	}
	return b, fmt.Sprintf("url:%d", c.FetchedAt), nil
}

// metadataTTL is how long fetched IdP metadata is used before a refresh.
const metadataTTL = 24 * time.Hour

// maxMetadata bounds an IdP metadata document.
const maxMetadata = 1 << 20

func fetchMetadata(ctx context.Context, u string) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return nil, errors.New("not an http(s) URL")
	}
	resp, err := sdk.HTTP(ctx, &abiv1.HTTPRequest{Method: "GET", URL: u,
		Headers: []*abiv1.Header{{Name: "Accept", Values: []string{"application/samlmetadata+xml, application/xml, text/xml"}}}})
	if err != nil {
		return nil, err
	}
	if resp.Status != 200 {
		return nil, fmt.Errorf("HTTP status %d", resp.Status)
	}
	if len(resp.Body) > maxMetadata {
		return nil, errors.New("document too large")
	}
	if _, err := parseIdPMetadata(resp.Body); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// parseIdPMetadata reads an IdP's metadata: an EntityDescriptor with an
// IDPSSODescriptor, or an EntitiesDescriptor holding exactly one such.
// DTDs are refused as in a response; comments are allowed.
func parseIdPMetadata(b []byte) (*saml.EntityDescriptor, error) {
	if len(b) > maxMetadata {
		return nil, errors.New("document too large")
	}
	if err := checkXML(b, true); err != nil {
		return nil, err
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(b, &ed); err != nil {
		var eds saml.EntitiesDescriptor
		if err2 := xml.Unmarshal(b, &eds); err2 != nil {
			return nil, fmt.Errorf("neither an EntityDescriptor nor an EntitiesDescriptor: %v", err)
		}
		var found []saml.EntityDescriptor
		for _, e := range eds.EntityDescriptors {
			if len(e.IDPSSODescriptors) > 0 {
				found = append(found, e)
			}
		}
		if len(found) != 1 {
			return nil, fmt.Errorf("EntitiesDescriptor holds %d IdPs, want 1", len(found))
		}
		ed = found[0]
	}
	if ed.EntityID == "" || len(ed.IDPSSODescriptors) == 0 {
		return nil, errors.New("no IDPSSODescriptor with an entityID")
	}
	return &ed, nil
}

// idpSigningCerts returns the certificates of the IdP's signing keys (key
// descriptors with use "signing" or no use).
func idpSigningCerts(ed *saml.EntityDescriptor) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, d := range ed.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				data := strings.Join(strings.Fields(xc.Data), "")
				der, err := base64.StdEncoding.DecodeString(data)
				if err != nil {
					return nil, fmt.Errorf("signing certificate is not base64: %v", err)
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("signing certificate: %v", err)
				}
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no signing certificate")
	}
	return out, nil
}
