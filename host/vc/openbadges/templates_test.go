package openbadges

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestEducationalTemplates(t *testing.T) {
	ts := EducationalTemplates()
	wantIDs := []string{"course-completion", "skill-certification", "subject-mastery"}
	var ids []string
	for _, tp := range ts {
		ids = append(ids, tp.ID)
		if !ValidAchievementType(tp.AchievementType) {
			t.Errorf("%s: achievementType %q not in the OB 3.0 vocabulary", tp.ID, tp.AchievementType)
		}
		if tp.Name == "" || tp.Description == "" || tp.CriteriaNarrative == "" || len(tp.Tags) == 0 || tp.SubjectLabel == "" {
			t.Errorf("%s: incomplete: %+v", tp.ID, tp)
		}
		if !slices.Equal(tp.RequiredFields, []string{"achievementId", "subject"}) {
			t.Errorf("%s: requiredFields = %v", tp.ID, tp.RequiredFields)
		}
	}
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("ids = %v, want %v", ids, wantIDs)
	}
	if ts[0].AchievementType != "Course" || ts[1].AchievementType != "Certification" || ts[2].AchievementType != "Competency" {
		t.Errorf("achievement types = %s, %s, %s", ts[0].AchievementType, ts[1].AchievementType, ts[2].AchievementType)
	}

	// Callers get copies.
	ts[0].Tags[0] = "changed"
	ts[0].RequiredFields[0] = "changed"
	if again := EducationalTemplates(); again[0].Tags[0] != "education" || again[0].RequiredFields[0] != "achievementId" {
		t.Error("EducationalTemplates shares its slices between calls")
	}

	// The JSON form served by the API names the fields the issuer must fill.
	b, err := json.Marshal(EducationalTemplates()[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"id", "name", "description", "achievementType", "criteriaNarrative", "tags", "subjectLabel", "requiredFields"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
}

func TestTemplateApplyBuildsValidCredentials(t *testing.T) {
	for _, tp := range EducationalTemplates() {
		t.Run(tp.ID, func(t *testing.T) {
			a, err := tp.Apply(TemplateFields{
				AchievementID: "https://university.example/achievements/" + tp.ID + "/cs101",
				Subject:       "  CS101 Introduction to Programming ",
				Tags:          []string{"cs101", "education"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(a.Name, "CS101 Introduction to Programming") || strings.Contains(a.Name, "  ") ||
				!strings.Contains(a.Description, "CS101") || !strings.Contains(a.Criteria.Narrative, "CS101") {
				t.Errorf("subject not used: %+v", a)
			}
			if a.AchievementType != tp.AchievementType || a.Type != TypeAchievement {
				t.Errorf("types = %q/%q", a.Type, a.AchievementType)
			}
			if want := append(append([]string(nil), tp.Tags...), "cs101"); !slices.Equal(a.Tags, want) {
				t.Errorf("tags = %v, want %v (template's, then new ones)", a.Tags, want)
			}
			req := IssueRequest{RecipientDID: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
				IssuerDID: "did:example:university", Achievement: a}
			mustBuildJSON(t, req, testIssuer, testOpts)
		})
	}
}

func TestTemplateApplyOverrides(t *testing.T) {
	tp, ok := TemplateByID("skill-certification")
	if !ok {
		t.Fatal("skill-certification missing")
	}
	img := &ImageInput{ID: "https://u.example/i.png"}
	a, err := tp.Apply(TemplateFields{
		AchievementID: "urn:uuid:0b5c1a56-7a7e-4f44-9c1b-4b7e1f2a3c4d", Subject: "Welding",
		Name: "Certified Welder", Description: "Welds safely.", CriteriaNarrative: "Passed the practical.",
		CriteriaID: "https://u.example/welding", Image: img,
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Certified Welder" || a.Description != "Welds safely." || a.Criteria.Narrative != "Passed the practical." ||
		a.Criteria.ID != "https://u.example/welding" || a.Image != img {
		t.Errorf("overrides ignored: %+v", a)
	}
}

func TestTemplateApplyErrors(t *testing.T) {
	tp, _ := TemplateByID("course-completion")
	cases := []struct {
		f     TemplateFields
		field string
	}{
		{TemplateFields{AchievementID: "https://u.example/a"}, "template.subject"},
		{TemplateFields{Subject: "CS101"}, "template.achievementId"},
		{TemplateFields{AchievementID: "https://u.example/a", Subject: "CS\n101"}, "template.subject"},
		{TemplateFields{AchievementID: "https://u.example/a", Subject: strings.Repeat("x", MaxSubjectChars+1)}, "template.subject"},
		{TemplateFields{AchievementID: "not a uri", Subject: "CS101"}, "achievement.id"},
		{TemplateFields{AchievementID: "https://u.example/a", Subject: "CS101", Tags: []string{""}}, "achievement.tags[3]"},
		{TemplateFields{AchievementID: "https://u.example/a", Subject: "CS101", CriteriaID: "ftp://x/y"}, "achievement.criteria.id"},
	}
	for _, tc := range cases {
		_, err := tp.Apply(tc.f)
		fes := FieldErrors(err)
		if len(fes) == 0 || fes[0].Field != tc.field {
			t.Errorf("Apply(%+v) = %v, want a FieldError on %s", tc.f, err, tc.field)
		}
	}
	if _, ok := TemplateByID("nope"); ok {
		t.Error("TemplateByID found an unknown id")
	}
	var decoded Template
	_ = json.Unmarshal([]byte(`{"id":"course-completion","name":"x"}`), &decoded)
	if _, err := decoded.Apply(TemplateFields{AchievementID: "https://u.example/a", Subject: "x"}); err == nil {
		t.Error("a template that is not built in was applied")
	}
}
