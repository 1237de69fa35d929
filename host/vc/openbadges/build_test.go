package openbadges

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/vc/contexts"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
)

// designRequest is the request body of POST /api/v1/badges/issue in design §6.6, verbatim.
const designRequest = `{
  "recipientDid": "did:hedera:mainnet:user123",
  "achievement": {
    "id": "urn:uuid:course-completion-001",
    "type": "Achievement",
    "name": "Course Completion Certificate",
    "description": "Successfully completed the Advanced JavaScript course",
    "criteria": {
      "narrative": "Completed all modules and passed final assessment"
    },
    "tags": ["education", "javascript", "certification"]
  },
  "issuerDid": "did:hedera:mainnet:university",
  "expirationDate": "2026-09-20T00:00:00Z",
  "evidence": [{
    "id": "https://university.edu/transcript/123",
    "narrative": "Official university transcript",
    "name": "Academic Transcript"
  }]
}`

var (
	testIssuer = Profile{Name: "UBeU University", URL: "https://university.edu", Email: "registrar@university.edu"}
	testOpts   = BuildOptions{
		ID:        "urn:uuid:6f1c2a0e-3b7d-4e58-9a21-0c4d5e6f7a8b",
		ValidFrom: time.Date(2025, 9, 20, 14, 0, 0, 0, time.UTC),
	}
)

func decodeStrict(t testing.TB, s string) IssueRequest {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var req IssueRequest
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return req
}

// fullRequest uses every field of the request.
func fullRequest() IssueRequest {
	return IssueRequest{
		RecipientDID: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		IssuerDID:    "did:web:university.example:issuers:1",
		Achievement: AchievementInput{
			ID:          "https://university.example/achievements/js-advanced",
			Type:        "Achievement",
			Name:        "Advanced JavaScript",
			Description: "Completed the Advanced JavaScript course.\nTwelve modules, one project.",
			Criteria: CriteriaInput{
				Narrative: "# Requirements\n- all modules\n- final assessment ≥ 70 %",
				ID:        "https://university.example/achievements/js-advanced/criteria",
			},
			Image:           &ImageInput{ID: "https://university.example/badges/js.png", Caption: "JS badge"},
			Tags:            []string{"education", "javascript"},
			AchievementType: "Course",
		},
		ExpirationDate: "2030-01-01T00:00:00+02:00",
		Evidence: []EvidenceInput{
			{ID: "https://university.example/transcripts/123", Name: "Transcript", Narrative: "Official transcript",
				Description: "The transcript of the term.", Genre: "Transcript", Audience: "Employers"},
			{Name: "Project review", Description: "Reviewed by two lecturers."},
		},
	}
}

func mustBuildJSON(t testing.TB, req IssueRequest, issuer Profile, o BuildOptions) []byte {
	t.Helper()
	cred, err := Build(req, issuer, o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	b, err := json.Marshal(cred)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("Build made a credential the OB 3.0 schema rejects: %v\n%s", err, b)
	}
	return b
}

func TestBuildDesignExample(t *testing.T) {
	req := decodeStrict(t, designRequest)
	b := mustBuildJSON(t, req, testIssuer, testOpts)

	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@context": []any{contexts.CredentialsV2, contexts.OpenBadgesV303},
		"id":       testOpts.ID,
		"type":     []any{"VerifiableCredential", "OpenBadgeCredential"},
		"issuer": map[string]any{
			"id": "did:hedera:mainnet:university", "type": []any{"Profile"}, "name": "UBeU University",
			"url": "https://university.edu", "email": "registrar@university.edu",
		},
		"validFrom":  "2025-09-20T14:00:00Z",
		"validUntil": "2026-09-20T00:00:00Z",
		"name":       "Course Completion Certificate",
		"credentialSubject": map[string]any{
			"id":   "did:hedera:mainnet:user123",
			"type": []any{"AchievementSubject"},
			"achievement": map[string]any{
				"id":          "urn:uuid:course-completion-001",
				"type":        []any{"Achievement"},
				"name":        "Course Completion Certificate",
				"description": "Successfully completed the Advanced JavaScript course",
				"criteria":    map[string]any{"narrative": "Completed all modules and passed final assessment"},
				"tag":         []any{"education", "javascript", "certification"},
			},
		},
		"evidence": []any{map[string]any{
			"id": "https://university.edu/transcript/123", "type": []any{"Evidence"},
			"narrative": "Official university transcript", "name": "Academic Transcript",
		}},
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", "  ")
		wb, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("credential differs\ngot:  %s\nwant: %s", gb, wb)
	}
}

func TestBuildFullRequest(t *testing.T) {
	o := testOpts
	o.Name = "JS Advanced — Ada"
	o.Description = "Awarded to Ada for the autumn term."
	o.Creator = &Profile{ID: "https://faculty.university.example", Name: "Faculty of Computing",
		Image: &ImageInput{ID: "data:image/png;base64,iVBORw0KGgo="}}
	b := mustBuildJSON(t, fullRequest(), Profile{ID: "did:web:university.example:issuers:1", Name: "University",
		Description: "A university.", Image: &ImageInput{ID: "https://university.example/logo.png"}}, o)
	var got struct {
		Name, Description, ValidUntil string
		Subject                       struct {
			Achievement struct {
				AchievementType string
				Image           map[string]any
				Criteria        map[string]any
				Creator         map[string]any
				Tag             []string
			}
		} `json:"credentialSubject"`
		Evidence []map[string]any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	a := got.Subject.Achievement
	switch {
	case got.Name != o.Name || got.Description != o.Description:
		t.Errorf("name/description = %q/%q", got.Name, got.Description)
	case got.ValidUntil != "2029-12-31T22:00:00Z":
		t.Errorf("validUntil = %q, want the expiration in UTC", got.ValidUntil)
	case a.AchievementType != "Course":
		t.Errorf("achievementType = %q", a.AchievementType)
	case !reflect.DeepEqual(a.Image, map[string]any{"id": "https://university.example/badges/js.png", "type": "Image", "caption": "JS badge"}):
		t.Errorf("image = %v", a.Image)
	case a.Criteria["id"] != "https://university.example/achievements/js-advanced/criteria":
		t.Errorf("criteria = %v", a.Criteria)
	case a.Creator["name"] != "Faculty of Computing" || !reflect.DeepEqual(a.Creator["type"], []any{"Profile"}):
		t.Errorf("creator = %v", a.Creator)
	case !slices.Equal(a.Tag, []string{"education", "javascript"}):
		t.Errorf("tag = %v", a.Tag)
	case len(got.Evidence) != 2 || got.Evidence[1]["name"] != "Project review" || got.Evidence[1]["id"] != nil:
		t.Errorf("evidence = %v", got.Evidence)
	case got.Evidence[0]["genre"] != "Transcript" || got.Evidence[0]["audience"] != "Employers":
		t.Errorf("evidence[0] = %v", got.Evidence[0])
	}
}

func TestBuildMinimal(t *testing.T) {
	req := IssueRequest{
		RecipientDID: "did:example:ebfeb1f712ebc6f1c276e12ec21",
		IssuerDID:    "did:example:issuer",
		Achievement: AchievementInput{ID: "urn:uuid:0b5c1a56-7a7e-4f44-9c1b-4b7e1f2a3c4d", Name: "Teamwork",
			Description: "Collaboration.", Criteria: CriteriaInput{ID: "https://example.com/teamwork"}},
	}
	before := time.Now().UTC().Truncate(time.Second)
	cred, err := Build(req, Profile{Name: "Example Corp"}, BuildOptions{ID: testOpts.ID})
	if err != nil {
		t.Fatal(err)
	}
	vf, err := time.Parse(time.RFC3339, cred["validFrom"].(string))
	if err != nil || vf.Before(before) || vf.After(time.Now()) {
		t.Errorf("validFrom = %v, want now (zero ValidFrom)", cred["validFrom"])
	}
	for _, k := range []string{"validUntil", "evidence", "description"} {
		if _, ok := cred[k]; ok {
			t.Errorf("%s present though not given", k)
		}
	}
	b, _ := json.Marshal(cred)
	if err := Validate(b); err != nil {
		t.Fatal(err)
	}
}

// TestBuildSignsWithRDFC signs what Build makes with eddsa-rdfc-2022, which expands the
// credential in JSON-LD safe mode: a term the contexts do not define would fail. It then
// verifies the proof.
func TestBuildSignsWithRDFC(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	cred, err := Build(fullRequest(), Profile{Name: "University"}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	vm := "did:web:university.example:issuers:1#key-1"
	signed, err := dataintegrity.Sign(context.Background(), cred, priv, dataintegrity.ProofOptions{
		Cryptosuite: dataintegrity.EdDSARDFC2022, VerificationMethod: vm})
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	_, err = dataintegrity.Verify(context.Background(), signed, func(_ context.Context, m string) (ed25519.PublicKey, error) {
		if m != vm {
			return nil, errors.New("unknown key")
		}
		return pub, nil
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	// The OB 3.0 schema wants proof as an array; with the proof so written, the signed
	// credential is schema-valid too.
	var doc map[string]any
	if err := json.Unmarshal(signed, &doc); err != nil {
		t.Fatal(err)
	}
	doc["proof"] = []any{doc["proof"]}
	b, _ := json.Marshal(doc)
	if err := Validate(b); err != nil {
		t.Fatalf("signed credential: %v", err)
	}
}

func TestBuildFieldErrors(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name   string
		mutate func(*IssueRequest, *Profile, *BuildOptions)
		fields []string
	}{
		{"no recipient", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "" }, []string{"recipientDid"}},
		{"recipient not a DID", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "user123" }, []string{"recipientDid"}},
		{"recipient DID upper-case method", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "did:Key:abc" }, []string{"recipientDid"}},
		{"recipient DID URL", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "did:key:abc#frag" }, []string{"recipientDid"}},
		{"recipient DID trailing colon", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "did:web:example.com:" }, []string{"recipientDid"}},
		{"recipient DID bad escape", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "did:web:a%2" }, []string{"recipientDid"}},
		{"recipient DID too long", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.RecipientDID = "did:key:" + long(MaxIDBytes) }, []string{"recipientDid"}},
		{"no issuer DID", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.IssuerDID = "" }, []string{"issuerDid", "issuer.id"}},
		{"issuer mismatch", func(_ *IssueRequest, p *Profile, _ *BuildOptions) { p.ID = "did:example:other" }, []string{"issuerDid"}},
		{"issuer no name", func(_ *IssueRequest, p *Profile, _ *BuildOptions) { p.Name = " " }, []string{"issuer.name"}},
		{"issuer bad url", func(_ *IssueRequest, p *Profile, _ *BuildOptions) { p.URL = "javascript:alert(1)" }, []string{"issuer.url"}},
		{"issuer url without host", func(_ *IssueRequest, p *Profile, _ *BuildOptions) { p.URL = "https:///path" }, []string{"issuer.url"}},
		{"issuer bad email", func(_ *IssueRequest, p *Profile, _ *BuildOptions) { p.Email = "Registrar <r@u.edu>" }, []string{"issuer.email"}},
		{"no credential id", func(_ *IssueRequest, _ *Profile, o *BuildOptions) { o.ID = "" }, []string{"options.id"}},
		{"credential id not uuid", func(_ *IssueRequest, _ *Profile, o *BuildOptions) { o.ID = "urn:uuid:badge-123" }, []string{"options.id"}},
		{"no achievement id", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.ID = "" }, []string{"achievement.id"}},
		{"achievement id relative", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.ID = "course-completion-001" }, []string{"achievement.id"}},
		{"achievement id with space", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.ID = "https://u.edu/a b" }, []string{"achievement.id"}},
		{"achievement id javascript", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.ID = "javascript:alert(1)" }, []string{"achievement.id"}},
		{"achievement id urn empty", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.ID = "urn:" }, []string{"achievement.id"}},
		{"achievement type", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Type = "Badge" }, []string{"achievement.type"}},
		{"no name", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Name = "" }, []string{"achievement.name"}},
		{"name with newline", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Name = "A\nB" }, []string{"achievement.name"}},
		{"name with NUL", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Name = "A\x00B" }, []string{"achievement.name"}},
		{"name with C1 control", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Name = "A\u0085B" }, []string{"achievement.name"}},
		{"name with RLO", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Name = "Course \u202Egnp.exe" }, []string{"achievement.name"}},
		{"name invalid UTF-8", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Name = "A\xffB" }, []string{"achievement.name"}},
		{"name too long", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Name = strings.Repeat("é", MaxNameChars+1)
		}, []string{"achievement.name"}},
		{"no description", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Description = "\t" }, []string{"achievement.description"}},
		{"description with ESC", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Description = "x\x1b[31m" }, []string{"achievement.description"}},
		{"description too long", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Description = long(MaxDescriptionChars + 1)
		}, []string{"achievement.description"}},
		{"no criteria", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Criteria = CriteriaInput{} }, []string{"achievement.criteria"}},
		{"criteria id not URL", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Criteria.ID = "urn:x:y" }, []string{"achievement.criteria.id"}},
		{"narrative too long", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Criteria.Narrative = long(MaxNarrativeChars + 1)
		}, []string{"achievement.criteria.narrative"}},
		{"image no id", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Image = &ImageInput{Caption: "x"} }, []string{"achievement.image.id"}},
		{"image ftp", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Image = &ImageInput{ID: "ftp://x/y.png"}
		}, []string{"achievement.image.id"}},
		{"image data not image", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Image = &ImageInput{ID: "data:text/html,<script>alert(1)</script>"}
		}, []string{"achievement.image.id"}},
		{"image data too long", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Image = &ImageInput{ID: "data:image/png;base64," + long(MaxImageDataBytes)}
		}, []string{"achievement.image.id"}},
		{"image caption control", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Image = &ImageInput{ID: "https://x.example/i.png", Caption: "a\rb"}
		}, []string{"achievement.image.caption"}},
		{"tag empty", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Tags = []string{"ok", ""} }, []string{"achievement.tags[1]"}},
		{"tag duplicate", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.Tags = []string{"a", " a"} }, []string{"achievement.tags[1]"}},
		{"tag too long", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Tags = []string{long(MaxTagChars + 1)}
		}, []string{"achievement.tags[0]"}},
		{"too many tags", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Achievement.Tags = nil
			for i := 0; i <= MaxTags; i++ {
				r.Achievement.Tags = append(r.Achievement.Tags, "t"+strings.Repeat("x", i))
			}
		}, []string{"achievement.tags"}},
		{"achievement type unknown", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Achievement.AchievementType = "Trophy" }, []string{"achievement.achievementType"}},
		{"expiration not a date", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.ExpirationDate = "2026-09-20" }, []string{"expirationDate"}},
		{"expiration without zone", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.ExpirationDate = "2026-09-20T00:00:00" }, []string{"expirationDate"}},
		{"expiration before issuance", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.ExpirationDate = "2025-09-20T14:00:00Z" }, []string{"expirationDate"}},
		{"evidence empty", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Evidence = []EvidenceInput{{Genre: "x"}} }, []string{"evidence[0]"}},
		{"evidence id relative", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Evidence[0].ID = "/transcript/123" }, []string{"evidence[0].id"}},
		{"evidence name newline", func(r *IssueRequest, _ *Profile, _ *BuildOptions) { r.Evidence[0].Name = "a\nb" }, []string{"evidence[0].name"}},
		{"too much evidence", func(r *IssueRequest, _ *Profile, _ *BuildOptions) {
			r.Evidence = make([]EvidenceInput, MaxEvidence+1)
			for i := range r.Evidence {
				r.Evidence[i].Name = "e"
			}
		}, []string{"evidence"}},
		{"credential name control", func(_ *IssueRequest, _ *Profile, o *BuildOptions) { o.Name = "x\x07" }, []string{"options.name"}},
		{"creator without id", func(_ *IssueRequest, _ *Profile, o *BuildOptions) { o.Creator = &Profile{Name: "F"} }, []string{"options.creator.id"}},
		{"several at once", func(r *IssueRequest, p *Profile, _ *BuildOptions) {
			r.RecipientDID, r.Achievement.Name, p.Name = "x", "", ""
		}, []string{"recipientDid", "issuer.name", "achievement.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, issuer, o := decodeStrict(t, designRequest), testIssuer, testOpts
			tc.mutate(&req, &issuer, &o)
			cred, err := Build(req, issuer, o)
			if err == nil {
				t.Fatalf("Build accepted it: %v", cred)
			}
			if cred != nil {
				t.Error("Build returned a credential with its error")
			}
			var got []string
			for _, fe := range FieldErrors(err) {
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("fields = %q, want %q (%v)", got, tc.fields, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.fields[0] || fe.Reason == "" {
				t.Fatalf("errors.As: %v", fe)
			}
			if !strings.Contains(err.Error(), tc.fields[0]) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

func TestBuildAccepts(t *testing.T) {
	cases := map[string]func(*IssueRequest){
		"did with pct-encoding and colons": func(r *IssueRequest) { r.RecipientDID = "did:web:example.com%3A8443:users:ada" },
		"ext achievement type":             func(r *IssueRequest) { r.Achievement.AchievementType = "ext:Hackathon_2025" },
		"multi-line narrative":             func(r *IssueRequest) { r.Achievement.Criteria.Narrative = "a\r\n\tb" },
		"unicode name":                     func(r *IssueRequest) { r.Achievement.Name = "Curso de 日本語 — nível 2" },
		"did achievement id":               func(r *IssueRequest) { r.Achievement.ID = "did:web:u.example:achievements:1" },
		"data image":                       func(r *IssueRequest) { r.Achievement.Image = &ImageInput{ID: "data:image/svg+xml;base64,PHN2Zy8+"} },
		"expiration with offset":           func(r *IssueRequest) { r.ExpirationDate = "2026-09-20T00:00:00.5-05:00" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			req := decodeStrict(t, designRequest)
			mutate(&req)
			mustBuildJSON(t, req, testIssuer, testOpts)
		})
	}
}

func TestImageInputJSON(t *testing.T) {
	var a AchievementInput
	if err := json.Unmarshal([]byte(`{"image":"https://x.example/i.png"}`), &a); err != nil || a.Image.ID != "https://x.example/i.png" {
		t.Errorf("string form: %v %+v", err, a.Image)
	}
	if err := json.Unmarshal([]byte(`{"image":{"id":"https://x.example/i.png","type":"Image","caption":"c"}}`), &a); err != nil ||
		*a.Image != (ImageInput{ID: "https://x.example/i.png", Caption: "c"}) {
		t.Errorf("object form: %v %+v", err, a.Image)
	}
	if err := json.Unmarshal([]byte(`{"image":{"id":"https://x.example/i.png","type":"Video"}}`), &a); err == nil {
		t.Error("type Video accepted")
	}
	if err := json.Unmarshal([]byte(`{"image":42}`), &a); err == nil {
		t.Error("number accepted")
	}
}

func TestValidAchievementType(t *testing.T) {
	for _, s := range []string{"Course", "Competency", "Certificate", "MicroCredential", "ext:LabSafety", "ext:a.b-c_d"} {
		if !ValidAchievementType(s) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range []string{"", "course", "ext:", "ext:a b", "ext:" + strings.Repeat("a", 61), "Trophy", "ext:<x>"} {
		if ValidAchievementType(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestFieldErrorsOfOtherErrors(t *testing.T) {
	if got := FieldErrors(errors.New("x")); got != nil {
		t.Errorf("plain error: %v", got)
	}
	fe := &FieldError{Field: "a", Reason: "b"}
	if got := FieldErrors(errors.Join(errors.New("x"), errors.Join(fe))); len(got) != 1 || got[0] != fe {
		t.Errorf("nested: %v", got)
	}
}
