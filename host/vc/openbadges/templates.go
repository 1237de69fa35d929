package openbadges

import (
	"fmt"
	"strings"
)

// MaxSubjectChars bounds TemplateFields.Subject, so that the name made from it stays within
// MaxNameChars.
const MaxSubjectChars = 128

// Template is a pre-built educational achievement (GET /api/v1/badges/templates/educational,
// design §6.6): what it recognises, its OB 3.0 AchievementType, default criteria and tags, and
// which TemplateFields the issuer must fill. Apply turns it into the achievement of an issue
// request. The JSON form is what the API returns.
type Template struct {
	ID                string   `json:"id"` // "course-completion", used as badgeTemplateId by LMS sync
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	AchievementType   string   `json:"achievementType"`
	CriteriaNarrative string   `json:"criteriaNarrative"` // the default, with the subject left generic
	Tags              []string `json:"tags"`
	SubjectLabel      string   `json:"subjectLabel"`   // what TemplateFields.Subject names: "course", "skill", "subject"
	RequiredFields    []string `json:"requiredFields"` // JSON names of the TemplateFields the issuer must fill

	// Formats with one %s for the subject, used by Apply.
	nameFormat, descriptionFormat, criteriaFormat string
}

// TemplateFields is what an issuer fills in to use a template. Subject (the course, skill or
// subject area, per the template's SubjectLabel) and AchievementID are required; the other
// fields replace the template's defaults, and Tags are added to the template's.
type TemplateFields struct {
	AchievementID     string      `json:"achievementId"`
	Subject           string      `json:"subject"`
	Name              string      `json:"name,omitempty"`
	Description       string      `json:"description,omitempty"`
	CriteriaNarrative string      `json:"criteriaNarrative,omitempty"`
	CriteriaID        string      `json:"criteriaId,omitempty"`
	Image             *ImageInput `json:"image,omitempty"`
	Tags              []string    `json:"tags,omitempty"`
}

// EducationalTemplates returns the built-in templates: course-completion (AchievementType
// Course), skill-certification (Certification) and subject-mastery (Competency). The slice and
// its templates are fresh copies; callers may change them.
func EducationalTemplates() []Template {
	required := []string{"achievementId", "subject"}
	ts := []Template{
		{
			ID:                "course-completion",
			Name:              "Course Completion",
			Description:       "Awarded for successfully completing a course.",
			AchievementType:   "Course",
			CriteriaNarrative: "Completed all required modules of the course and passed its final assessment.",
			Tags:              []string{"education", "course", "completion"},
			SubjectLabel:      "course",
			nameFormat:        "Course Completion: %s",
			descriptionFormat: "Successfully completed the course %s.",
			criteriaFormat:    "Completed all required modules of %s and passed its final assessment.",
		},
		{
			ID:                "skill-certification",
			Name:              "Skill Certification",
			Description:       "Certifies a skill, demonstrated in an assessment.",
			AchievementType:   "Certification",
			CriteriaNarrative: "Demonstrated the skill in an assessment set and reviewed by the issuer, meeting its published standard.",
			Tags:              []string{"education", "skill", "certification"},
			SubjectLabel:      "skill",
			nameFormat:        "Skill Certification: %s",
			descriptionFormat: "Certified proficiency in %s, demonstrated in an assessment.",
			criteriaFormat:    "Demonstrated %s in an assessment set and reviewed by the issuer, meeting its published standard.",
		},
		{
			ID:                "subject-mastery",
			Name:              "Subject Mastery",
			Description:       "Recognises mastery of a subject area across its learning outcomes.",
			AchievementType:   "Competency",
			CriteriaNarrative: "Met the mastery standard in every assessed learning outcome of the subject.",
			Tags:              []string{"education", "mastery", "competency"},
			SubjectLabel:      "subject",
			nameFormat:        "Subject Mastery: %s",
			descriptionFormat: "Demonstrated mastery of %s across its learning outcomes.",
			criteriaFormat:    "Met the mastery standard in every assessed learning outcome of %s.",
		},
	}
	for i := range ts {
		ts[i].RequiredFields = append([]string(nil), required...)
	}
	return ts
}

// TemplateByID returns the built-in template with that id.
func TemplateByID(id string) (Template, bool) {
	for _, t := range EducationalTemplates() {
		if t.ID == id {
			return t, true
		}
	}
	return Template{}, false
}

// Apply makes the achievement of an issue request from the template and f: the name,
// description and criteria narrative are the template's, about f.Subject, unless f gives its
// own; tags are the template's followed by f.Tags not already present. The result is checked
// as Build checks an achievement; errors are *FieldError (see FieldErrors), with fields named
// "template.<json name>" for f and "achievement.…" for the result.
func (t Template) Apply(f TemplateFields) (AchievementInput, error) {
	if t.nameFormat == "" {
		return AchievementInput{}, fmt.Errorf("openbadges: template %q is not a built-in template", t.ID)
	}
	var c checker
	checkLine(&c, "template.subject", f.Subject, MaxSubjectChars, true)
	if f.AchievementID == "" {
		c.add("template.achievementId", "required")
	}
	if err := c.err(); err != nil {
		return AchievementInput{}, err
	}
	subject := strings.TrimSpace(f.Subject)
	a := AchievementInput{
		ID:              f.AchievementID,
		Type:            TypeAchievement,
		Name:            pick(f.Name, fmt.Sprintf(t.nameFormat, subject)),
		Description:     pick(f.Description, fmt.Sprintf(t.descriptionFormat, subject)),
		Criteria:        CriteriaInput{Narrative: pick(f.CriteriaNarrative, fmt.Sprintf(t.criteriaFormat, subject)), ID: f.CriteriaID},
		Image:           f.Image,
		AchievementType: t.AchievementType,
	}
	seen := map[string]bool{}
	for _, tag := range append(append([]string(nil), t.Tags...), f.Tags...) {
		k := strings.TrimSpace(tag)
		if !seen[k] {
			seen[k] = true
			a.Tags = append(a.Tags, tag)
		}
	}
	achievementJSON(&c, "achievement", a)
	if err := c.err(); err != nil {
		return AchievementInput{}, err
	}
	return a, nil
}

func pick(override, def string) string {
	if strings.TrimSpace(override) != "" {
		return override
	}
	return def
}
