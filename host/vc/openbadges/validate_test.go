package openbadges

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var specExamples = []string{
	"testdata/spec-basic-openbadgecredential.json",
	"testdata/spec-sample-file-openbadgecredential.json",
	"testdata/spec-complete-openbadgecredential.json",
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateSpecExamples(t *testing.T) {
	for _, f := range specExamples {
		if err := Validate(readFile(t, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestValidateRejectsBroken breaks the specification's examples one property at a time.
func TestValidateRejectsBroken(t *testing.T) {
	cases := []struct {
		name, file string
		mutate     func(m map[string]any)
	}{
		{"no validFrom", specExamples[0], func(m map[string]any) { delete(m, "validFrom") }},
		{"no id", specExamples[0], func(m map[string]any) { delete(m, "id") }},
		{"no issuer", specExamples[0], func(m map[string]any) { delete(m, "issuer") }},
		{"no credentialSubject", specExamples[0], func(m map[string]any) { delete(m, "credentialSubject") }},
		{"VCDM 1.1 issuanceDate instead of validFrom", specExamples[0], func(m map[string]any) {
			m["issuanceDate"] = m["validFrom"]
			delete(m, "validFrom")
		}},
		{"validFrom not a date-time", specExamples[0], func(m map[string]any) { m["validFrom"] = "1 January 2010" }},
		{"validUntil without time", specExamples[2], func(m map[string]any) { m["validUntil"] = "2030-01-01" }},
		{"type lacks OpenBadgeCredential", specExamples[0], func(m map[string]any) { m["type"] = []any{"VerifiableCredential"} }},
		{"type lacks VerifiableCredential", specExamples[0], func(m map[string]any) { m["type"] = []any{"OpenBadgeCredential"} }},
		{"type a string", specExamples[0], func(m map[string]any) { m["type"] = "OpenBadgeCredential" }},
		{"contexts swapped", specExamples[0], func(m map[string]any) {
			c := m["@context"].([]any)
			m["@context"] = []any{c[1], c[0]}
		}},
		{"VCDM 1.1 context", specExamples[0], func(m map[string]any) {
			m["@context"] = []any{"https://www.w3.org/2018/credentials/v1", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"}
		}},
		{"only one context", specExamples[0], func(m map[string]any) { m["@context"] = []any{"https://www.w3.org/ns/credentials/v2"} }},
		{"issuer Profile without type", specExamples[0], func(m map[string]any) { delete(m["issuer"].(map[string]any), "type") }},
		{"subject without achievement", specExamples[0], func(m map[string]any) { delete(subject(m), "achievement") }},
		{"subject type wrong", specExamples[0], func(m map[string]any) { subject(m)["type"] = []any{"Person"} }},
		{"achievement without criteria", specExamples[0], func(m map[string]any) { delete(achievement(m), "criteria") }},
		{"achievement without name", specExamples[0], func(m map[string]any) { delete(achievement(m), "name") }},
		{"achievement without description", specExamples[0], func(m map[string]any) { delete(achievement(m), "description") }},
		{"achievement type missing Achievement", specExamples[0], func(m map[string]any) { achievement(m)["type"] = []any{"Badge"} }},
		{"achievementType unknown", specExamples[2], func(m map[string]any) { achievement(m)["achievementType"] = "Trophy" }},
		{"tag not strings", specExamples[2], func(m map[string]any) { achievement(m)["tag"] = []any{1.0} }},
		{"image type not Image", specExamples[2], func(m map[string]any) { m["image"].(map[string]any)["type"] = "Picture" }},
		{"image extra property", specExamples[2], func(m map[string]any) { m["image"].(map[string]any)["width"] = 10.0 }},
		{"evidence without type", specExamples[2], func(m map[string]any) { delete(m["evidence"].([]any)[0].(map[string]any), "type") }},
		{"identifier hashed a string", specExamples[2], func(m map[string]any) {
			subject(m)["identifier"].([]any)[0].(map[string]any)["hashed"] = "false"
		}},
		{"endorsement without validFrom", specExamples[2], func(m map[string]any) {
			delete(m["endorsement"].([]any)[0].(map[string]any), "validFrom")
		}},
		{"proof an object", specExamples[0], func(m map[string]any) { m["proof"] = map[string]any{"type": "DataIntegrityProof"} }},
		{"credentialSchema an object", specExamples[1], func(m map[string]any) { m["credentialSchema"] = m["credentialSchema"].([]any)[0] }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(readFile(t, tc.file), &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			b, _ := json.Marshal(m)
			err := Validate(b)
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("Validate = %v, want ErrSchema", err)
			}
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("the schema's ValidationError is not wrapped: %v", err)
			}
		})
	}
}

func subject(m map[string]any) map[string]any { return m["credentialSubject"].(map[string]any) }

func achievement(m map[string]any) map[string]any { return subject(m)["achievement"].(map[string]any) }

func TestValidateNotJSON(t *testing.T) {
	for _, in := range []string{"", "{", "eyJhbGciOiJFZERTQSJ9.e30.c2ln", "{} {}"} {
		if err := Validate([]byte(in)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("Validate(%q) = %v, want ErrNotJSON", in, err)
		}
	}
	for _, in := range []string{"[]", "null", `"x"`} {
		if err := Validate([]byte(in)); !errors.Is(err, ErrSchema) {
			t.Errorf("Validate(%q) = %v, want ErrSchema", in, err)
		}
	}
}

func TestValidateTooLarge(t *testing.T) {
	b := readFile(t, specExamples[0])
	big := append(bytes.TrimRight(b, "}\n"), []byte(`,"pad":"`+strings.Repeat("x", MaxCredentialBytes)+`"}`)...)
	if err := Validate(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Validate = %v, want ErrTooLarge", err)
	}
}

// TestEmbeddedSchema checks that the embedded file is the VCDM 2.0 OB 3.0 schema.
func TestEmbeddedSchema(t *testing.T) {
	var s struct {
		Schema   string   `json:"$schema"`
		Title    string   `json:"title"`
		Required []string `json:"required"`
		Defs     map[string]any
	}
	if err := json.Unmarshal(achievementCredentialSchema, &s); err != nil {
		t.Fatal(err)
	}
	if s.Schema != "https://json-schema.org/draft/2019-09/schema#" || s.Title != "JSON Schema for the AchievementCredential class." {
		t.Errorf("$schema/title = %q/%q", s.Schema, s.Title)
	}
	if strings.Join(s.Required, ",") != "@context,id,type,credentialSubject,issuer,validFrom" {
		t.Errorf("required = %v", s.Required)
	}
	if _, err := compiledSchema(); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaRemoteRefsRefused compiles schemas with references that are not embedded using the
// same compiler set-up as the embedded schema: each must fail without a fetch.
func TestSchemaRemoteRefsRefused(t *testing.T) {
	for _, ref := range []string{
		"https://example.com/other.json",
		"http://127.0.0.1:1/x.json",
		"file:///etc/passwd",
		"https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_profile_schema.json",
	} {
		c := newCompiler()
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"$ref":"` + ref + `"}`))
		if err := c.AddResource("urn:test:schema.json", doc); err != nil {
			t.Fatal(err)
		}
		_, err := c.Compile("urn:test:schema.json")
		if err == nil || !strings.Contains(err.Error(), "never fetched") {
			t.Errorf("$ref %s: %v, want refused", ref, err)
		}
	}
}

func TestValidateConcurrent(t *testing.T) {
	b := readFile(t, specExamples[2])
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- Validate(b) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
