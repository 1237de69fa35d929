package lms

import (
	"errors"
	"testing"
	"time"
)

// TestConnectionsAndMappings: validation, updates, a second sync of a
// running connection refused (ErrBusy), and deletion of a connection with
// its mappings; another enterprise sees none of it.
func TestConnectionsAndMappings(t *testing.T) {
	f := newFixture(t, pluginSet{})
	for _, in := range []ConnectionInput{
		{Type: "blackboard", BaseURL: "https://lms.example", Token: "t"},
		{Type: "moodle", BaseURL: "ftp://lms.example", Token: "t"},
		{Type: "moodle", BaseURL: "https://user:pw@lms.example", Token: "t"},
		{Type: "moodle", BaseURL: "https://lms.example/?q=1", Token: "t"},
		{Type: "moodle", BaseURL: "https://lms.example"},
		{Type: "moodle", BaseURL: "https://lms.example", Token: "t", SyncInterval: time.Second},
	} {
		var fe *FieldError
		if _, err := f.svc.CreateConnection(ctx, f.ent.ID, in); !errors.As(err, &fe) {
			t.Errorf("%+v: %v", in, err)
		}
	}
	c, err := f.svc.CreateConnection(ctx, f.ent.ID, ConnectionInput{Type: "moodle", BaseURL: "https://lms.example/", Token: "t1"})
	if err != nil || c.BaseURL != "https://lms.example" {
		t.Fatalf("%+v %v", c, err)
	}
	// The plugin is not loaded: the course cannot be checked, the mapping
	// is made; a sync reports the missing plugin.
	m := mustMap(t, f, c, MappingInput{CourseID: "7"})
	if _, err := f.svc.CreateMapping(ctx, f.ent.ID, c.ID, MappingInput{CourseID: "7", ActivityID: "x y", BadgeTemplateID: "course-completion"}); err == nil {
		t.Fatal("bad activity id accepted")
	}
	if _, err := f.svc.CreateMapping(ctx, f.ent.ID, c.ID, MappingInput{CourseID: "7", BadgeTemplateID: "course-completion", IssuerDID: "did:example:other"}); err == nil {
		t.Fatal("another issuer DID accepted")
	}
	r := mustSync(t, f, c)
	if r.Status != StatusFailed || len(r.Errors) != 1 || r.Errors[0].Code != "PLUGIN_NOT_LOADED" {
		t.Fatalf("report %+v", r)
	}
	u, err := f.svc.UpdateConnection(ctx, f.ent.ID, c.ID, ConnectionInput{Token: "t2", SyncInterval: time.Hour})
	if err != nil || u.SyncInterval != time.Hour {
		t.Fatalf("%+v %v", u, err)
	}
	if tok, _ := f.svc.token(u); string(tok) != "t2" {
		t.Fatalf("token %q", tok)
	}
	same, err := f.svc.EnsureConnection(ctx, f.ent.ID, ConnectionInput{Type: "moodle", BaseURL: "https://lms.example", Token: "t2"})
	if err != nil || same.ID != c.ID {
		t.Fatalf("ensure: %+v %v", same, err)
	}

	f.svc.mu.Lock()
	f.svc.running[c.ID] = true
	f.svc.mu.Unlock()
	if _, err := f.svc.Sync(ctx, f.ent.ID, c.ID, SyncOptions{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second sync: %v", err)
	}
	f.svc.mu.Lock()
	delete(f.svc.running, c.ID)
	f.svc.mu.Unlock()

	if _, err := f.svc.Connection(ctx, "ent-2", c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other enterprise: %v", err)
	}
	if _, err := f.svc.Sync(ctx, "ent-2", c.ID, SyncOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other enterprise sync: %v", err)
	}
	if err := f.svc.DeleteConnection(ctx, f.ent.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Mapping(ctx, f.ent.ID, c.ID, m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mapping after delete: %v", err)
	}
	if cs, _ := f.svc.Connections(ctx, f.ent.ID); len(cs) != 0 {
		t.Fatalf("%d connections left", len(cs))
	}
}
