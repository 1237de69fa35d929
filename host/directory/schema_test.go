package directory

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

// TestSetConfigPluginSchema: SetConfig validates the connector against the
// plugin's $defs.connector. The real plugins/scim schema accepts every
// configuration the built-in checks accept (a full one here) and refuses
// what they refuse; a stricter plugin schema is enforced on top.
func TestSetConfigPluginSchema(t *testing.T) {
	ctx := context.Background()
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: sealer, IndexKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	scimSchema, err := os.ReadFile("../../plugins/scim/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	schema := scimSchema
	s, err := New(Options{KV: st.KV(), Users: st.Users(), Enterprises: st.Enterprises(), Sessions: st.Sessions(), DIDs: &flakyDIDs{},
		Plugins: noPlugins{}, Sealer: sealer, Now: func() time.Time { return time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC) },
		PluginSchema: func(plugin string) ([]byte, error) {
			if plugin != "scim" {
				t.Errorf("schema asked of plugin %q", plugin)
			}
			return schema, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	full := []byte(`{"enabled": true, "onDeactivate": "revoke",
		"employeeCredential": {"enabled": true, "type": "EmployeeCredential", "claims": ["userName", "email", "department"]},
		"groupRoles": {"Engineering": "engineer", "Sales Team": "group:sales"},
		"pull": {"url": "https://hr.example.com/scim/v2", "token": "s3cret", "intervalSeconds": 900, "pageSize": 200}}`)
	c, err := ParseConfig(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(ctx, "ent-1", c); err != nil {
		t.Fatalf("a full configuration refused by the scim plugin's schema: %v", err)
	}
	// A plugin schema stricter than the built-in checks (no pull) is enforced.
	schema = []byte(`{"$defs": {"connector": {"type": "object", "not": {"required": ["pull"]}}}}`)
	if err := s.SetConfig(ctx, "ent-1", c); !errors.Is(err, ErrSchema) {
		t.Fatalf("stricter schema: %v, want ErrSchema", err)
	}
	// A schema without the definition leaves the built-in checks alone.
	schema = []byte(`{"type": "object"}`)
	if err := s.SetConfig(ctx, "ent-1", c); err != nil {
		t.Fatalf("schema without $defs.connector: %v", err)
	}
}
