package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

// fakeSSO plays the saml plugin: it records what the host sends and
// answers what the test sets.
type fakeSSO struct {
	mu       sync.Mutex
	begins   []*abiv1.BeginLoginRequest
	consumes []*abiv1.ConsumeResponseRequest
	identity *abiv1.Identity
	err      error
	metaErr  error
}

func (f *fakeSSO) BeginLogin(_ context.Context, r *abiv1.BeginLoginRequest) (*abiv1.BeginLoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.begins = append(f.begins, r)
	return &abiv1.BeginLoginResponse{RedirectURL: "https://idp.example/sso?SAMLRequest=x&RelayState=" + r.RelayState, RequestID: "id-" + r.RelayState[:8]}, nil
}

func (f *fakeSSO) ConsumeResponse(_ context.Context, r *abiv1.ConsumeResponseRequest) (*abiv1.ConsumeResponseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consumes = append(f.consumes, r)
	if f.err != nil {
		return nil, f.err
	}
	return &abiv1.ConsumeResponseResponse{Identity: f.identity}, nil
}

func (f *fakeSSO) Metadata(_ context.Context, r *abiv1.MetadataRequest) (*abiv1.MetadataResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.metaErr != nil {
		return nil, f.metaErr
	}
	return &abiv1.MetadataResponse{XML: []byte("<md/>")}, nil
}

type fakePlugins struct{ t abiv1.Transport }

func (p fakePlugins) Get(name string) (abiv1.Transport, bool) {
	if name != PluginName || p.t == nil {
		return nil, false
	}
	return p.t, true
}

type fixture struct {
	svc  *Service
	st   store.Store
	fake *fakeSSO
	reg  *prometheus.Registry
	ent  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sl, err := seal.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(context.Background(), badgerstore.Options{InMemory: true, Sealer: sl, IndexKey: bytes.Repeat([]byte{2}, 32),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := &fakeSSO{identity: &abiv1.Identity{Subject: "alice@acme.example", Issuer: "https://idp.example", Email: "alice@acme.example"}}
	reg := prometheus.NewRegistry()
	svc, err := New(Options{Plugins: fakePlugins{abiv1.HandlerTransport(abiv1.DispatchSSO(fake))}, Store: st,
		PublicURL: "https://gw.example/", Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Schema: func() ([]byte, error) { return os.ReadFile("../../plugins/saml/config.schema.json") }})
	if err != nil {
		t.Fatal(err)
	}
	ent := &store.Enterprise{ID: "ent-1", OrganizationName: "Acme", ParentDomain: "acme.example", ContactEmail: "it@acme.example", Tier: "pro", Status: "active", CreatedAt: time.Now()}
	if err := st.Enterprises().Create(context.Background(), ent); err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, st: st, fake: fake, reg: reg, ent: ent.ID}
}

const idpMeta = `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example"/>`

func (f *fixture) configure(t *testing.T, st Settings) {
	t.Helper()
	if _, err := f.svc.SetConfig(context.Background(), f.ent, st); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
}

func (f *fixture) member(t *testing.T, email, tenant, status string) *store.User {
	t.Helper()
	u := &store.User{ID: "u-" + strings.Split(email, "@")[0], Email: email, Roles: []string{store.RoleUser, RoleMember}, Tenant: tenant, Status: status, CreatedAt: time.Now()}
	if err := f.st.Users().Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSetConfig(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, st := range map[string]Settings{
		"no IdP metadata":              {Enabled: true},
		"both metadata XML and URL":    {Enabled: true, IdPMetadataXML: idpMeta, IdPMetadataURL: "https://idp.example/md"},
		"metadata over plain HTTP":     {Enabled: true, IdPMetadataURL: "http://idp.example/md"},
		"unknown attribute mapping":    {Enabled: true, IdPMetadataXML: idpMeta, AttributeMapping: map[string]string{"salary": "x"}},
		"unknown NameID format":        {Enabled: true, IdPMetadataXML: idpMeta, NameIDFormat: "urn:x"},
		"empty attribute mapping name": {Enabled: true, IdPMetadataXML: idpMeta, AttributeMapping: map[string]string{"email": ""}},
	} {
		if _, err := f.svc.SetConfig(ctx, f.ent, st); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantErr(t, err, http.StatusBadRequest, CodeValidation)
		}
	}
	if _, err := f.svc.View(ctx, f.ent); err == nil {
		t.Fatal("refused settings were stored")
	}
	v, err := f.svc.SetConfig(ctx, f.ent, Settings{Enabled: true, IdPMetadataXML: idpMeta, JITProvisioning: true, AttributeMapping: map[string]string{"email": "mail"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.EntityID != "https://gw.example/saml/ent-1/metadata" || v.ACSURL != "https://gw.example/saml/ent-1/acs" || v.LoginURL != "https://gw.example/saml/ent-1/login" ||
		!v.Settings.JITProvisioning || !v.Status.PluginLoaded {
		t.Fatalf("view: %+v", v)
	}
	raw, _, err := f.st.KV().Get(ctx, "plugin:saml", "connector/ent-1")
	if err != nil {
		t.Fatal(err)
	}
	var conn map[string]any
	json.Unmarshal(raw, &conn)
	if conn["acsUrl"] != "https://gw.example/saml/ent-1/acs" || conn["entityId"] != "https://gw.example/saml/ent-1/metadata" || conn["jitProvisioning"] != nil {
		t.Fatalf("stored connector: %s", raw)
	}
	// Settings the plugin cannot use (its Metadata fails): refused, the
	// previous connector kept.
	f.fake.metaErr = abiv1.Errorf(abiv1.ErrorCodeUnavailable, "IdP metadata: no signing certificate")
	_, err = f.svc.SetConfig(ctx, f.ent, Settings{Enabled: true, IdPMetadataXML: "<nope/>"})
	wantErr(t, err, http.StatusBadRequest, CodeValidation)
	if after, _, _ := f.st.KV().Get(ctx, "plugin:saml", "connector/ent-1"); !bytes.Equal(after, raw) {
		t.Fatalf("connector changed by refused settings: %s", after)
	}
	f.fake.metaErr = nil
	if err := f.svc.DeleteConfig(ctx, f.ent); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.svc.DeleteConfig(ctx, f.ent), http.StatusNotFound, CodeNotFound)
	_, err = f.svc.View(ctx, f.ent)
	wantErr(t, err, http.StatusNotFound, CodeNotFound)
}

func TestLoginStateBoundToBrowserAndUsedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.configure(t, Settings{Enabled: true, IdPMetadataXML: idpMeta})
	alice := f.member(t, "alice@acme.example", f.ent, "active")

	redirect, state, err := f.svc.Begin(ctx, f.ent, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(state) != 43 || !strings.Contains(redirect, state) || f.fake.begins[0].ACSURL != "https://gw.example/saml/ent-1/acs" || !f.fake.begins[0].ForceAuthn {
		t.Fatalf("begin: %q %q %+v", redirect, state, f.fake.begins[0])
	}
	// Another browser (no cookie, or another state): refused, the plugin
	// is not asked, and the state is spent.
	_, err = f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x", "RelayState": state}, Cookie: "forged"})
	wantErr(t, err, http.StatusUnauthorized, CodeUnauthorized)
	if len(f.fake.consumes) != 0 {
		t.Fatal("the plugin was asked")
	}
	_, state, _ = f.svc.Begin(ctx, f.ent, false)
	l, err := f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x", "RelayState": state}, Cookie: state})
	if err != nil {
		t.Fatal(err)
	}
	if l.User.ID != alice.ID || f.fake.consumes[0].ExpectedRequestID != "id-"+state[:8] || f.fake.consumes[0].ContentType != "application/x-www-form-urlencoded" {
		t.Fatalf("login %+v, request %+v", l.User, f.fake.consumes[0])
	}
	// The same state again: unknown, so the response is unsolicited (the
	// plugin refuses those unless IdP-initiated login is on).
	if _, err := f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x", "RelayState": state}, Cookie: state, Redirect: true}); err != nil {
		t.Fatal(err)
	}
	if c := f.fake.consumes[1]; c.ExpectedRequestID != "" || c.ContentType != "application/x-saml-redirect" {
		t.Fatalf("second use: %+v", c)
	}
	// A state started for another enterprise.
	other := &store.Enterprise{ID: "ent-2", OrganizationName: "Other", ParentDomain: "other.example", ContactEmail: "it@other.example", Tier: "pro", CreatedAt: time.Now()}
	f.st.Enterprises().Create(ctx, other)
	f.svc.SetConfig(ctx, "ent-2", Settings{Enabled: true, IdPMetadataXML: idpMeta})
	_, state2, _ := f.svc.Begin(ctx, "ent-2", false)
	_, err = f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x", "RelayState": state2}, Cookie: state2})
	wantErr(t, err, http.StatusUnauthorized, CodeUnauthorized)

	if n := counter(f.svc.logins.WithLabelValues("success")); n != 2 {
		t.Fatalf("success count %v", n)
	}
	if n := counter(f.svc.logins.WithLabelValues("refused")); n != 2 {
		t.Fatalf("refused count %v", n)
	}
	v, _ := f.svc.View(ctx, f.ent)
	if v.Status.Logins != 2 || v.Status.Failures != 2 || len(v.Status.LastErrors) != 2 || v.Status.LastLoginAt.IsZero() {
		t.Fatalf("status %+v", v.Status)
	}
}

func TestMemberResolution(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.configure(t, Settings{Enabled: true, IdPMetadataXML: idpMeta})
	consume := func(id *abiv1.Identity) (*Login, error) {
		f.fake.identity = id
		return f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x"}})
	}
	idp := "https://idp.example"
	// Not provisioned, no JIT.
	_, err := consume(&abiv1.Identity{Subject: "s1", Issuer: idp, Email: "nobody@acme.example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	// Another enterprise's member, and an account outside any enterprise.
	f.member(t, "bob@acme.example", "ent-other", "active")
	_, err = consume(&abiv1.Identity{Subject: "s2", Issuer: idp, Email: "bob@acme.example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	f.member(t, "carol@acme.example", "", "active")
	_, err = consume(&abiv1.Identity{Subject: "s3", Issuer: idp, Email: "Carol@Acme.Example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	// Suspended.
	d := f.member(t, "dave@acme.example", f.ent, "suspended")
	_, err = consume(&abiv1.Identity{Subject: "s4", Issuer: idp, Email: "dave@acme.example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	// No e-mail and no link; a malformed e-mail.
	_, err = consume(&abiv1.Identity{Subject: "s5", Issuer: idp})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	_, err = consume(&abiv1.Identity{Subject: "s6", Issuer: idp, Email: "Eve <eve@acme.example>"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	// Active: found by e-mail (case-insensitively), then linked by subject
	// even when the IdP later sends another address.
	d.Status = "active"
	f.st.Users().Update(ctx, d)
	l, err := consume(&abiv1.Identity{Subject: "s4", Issuer: idp, Email: "DAVE@acme.example"})
	if err != nil || l.User.ID != d.ID || l.Created {
		t.Fatalf("%+v %v", l, err)
	}
	l, err = consume(&abiv1.Identity{Subject: "s4", Issuer: idp, Email: "dave.renamed@acme.example"})
	if err != nil || l.User.ID != d.ID {
		t.Fatalf("subject link: %+v %v", l, err)
	}
	// The same subject from another issuer is not linked.
	_, err = consume(&abiv1.Identity{Subject: "s4", Issuer: "https://evil-idp.example", Email: "nobody2@acme.example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)

	// Just in time.
	f.configure(t, Settings{Enabled: true, IdPMetadataXML: idpMeta, JITProvisioning: true})
	l, err = consume(&abiv1.Identity{Subject: "s7", Issuer: idp, Email: "Frank@acme.example"})
	if err != nil || !l.Created || l.User.Tenant != f.ent || l.User.Email != "frank@acme.example" || l.User.PasswordHash != "" || l.User.Roles[1] != RoleMember {
		t.Fatalf("JIT: %+v %v", l, err)
	}
	// JIT never takes over an account outside the enterprise.
	_, err = consume(&abiv1.Identity{Subject: "s8", Issuer: idp, Email: "carol@acme.example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	// Disabled connector.
	f.configure(t, Settings{Enabled: false, IdPMetadataXML: idpMeta})
	_, err = consume(&abiv1.Identity{Subject: "s7", Issuer: idp, Email: "frank@acme.example"})
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
	_, _, err = f.svc.Begin(ctx, f.ent, false)
	wantErr(t, err, http.StatusForbidden, CodeForbidden)
}

func TestPluginErrorsMapped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.configure(t, Settings{Enabled: true, IdPMetadataXML: idpMeta})
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "SAMLResponse is not base64"), 400, CodeValidation},
		{abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "signature"), 401, CodeUnauthorized},
		{abiv1.Errorf(abiv1.ErrorCodePermissionDenied, "IdP-initiated"), 403, CodeForbidden},
		{abiv1.Errorf(abiv1.ErrorCodeNotFound, "no connector"), 404, CodeNotFound},
		{abiv1.Errorf(abiv1.ErrorCodeInternal, "boom"), 503, CodeUnavailable},
	} {
		f.fake.err = c.err
		_, err := f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x"}})
		wantErr(t, err, c.status, c.code)
	}
	// Many failures: the status keeps the last ten.
	f.fake.err = abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "again")
	for range 15 {
		f.svc.Consume(ctx, f.ent, Response{Form: map[string]string{"SAMLResponse": "x"}})
	}
	v, _ := f.svc.View(ctx, f.ent)
	if len(v.Status.LastErrors) != maxLastErrors || v.Status.Failures != 19 {
		t.Fatalf("status: %d errors, %d failures", len(v.Status.LastErrors), v.Status.Failures)
	}
	// No plugin loaded: 503; unknown enterprise: 404.
	f.svc.o.Plugins = fakePlugins{}
	_, _, err := f.svc.Begin(ctx, f.ent, false)
	wantErr(t, err, http.StatusServiceUnavailable, CodeUnavailable)
	_, err = f.svc.Metadata(ctx, "nope")
	wantErr(t, err, http.StatusNotFound, CodeNotFound)
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
