package openbadges

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ubeu/gateway/host/vc/contexts"
)

// Limits on the fields of an issue request. Lengths of text are counted in characters (runes),
// of identifiers in bytes.
const (
	MaxIDBytes          = 2048      // a URI or DID
	MaxImageDataBytes   = 512 << 10 // an image given as a data: URI
	MaxNameChars        = 256       // names, captions, genres, audiences
	MaxDescriptionChars = 4096      // descriptions
	MaxNarrativeChars   = 16384     // criteria and evidence narratives (Markdown)
	MaxTags             = 32        // tags of one achievement
	MaxTagChars         = 64        // one tag
	MaxEvidence         = 32        // evidence entries of one credential
)

// Terms of the OB 3.0 data model that Build writes.
const (
	TypeVerifiableCredential = "VerifiableCredential"
	TypeOpenBadgeCredential  = "OpenBadgeCredential"
	TypeAchievementSubject   = "AchievementSubject"
	TypeAchievement          = "Achievement"
	TypeProfile              = "Profile"
	TypeEvidence             = "Evidence"
	TypeImage                = "Image"
)

// IssueRequest is the body of POST /api/v1/badges/issue (design §6.6); its JSON names are the
// design's. The caller decodes it; Build checks it.
type IssueRequest struct {
	RecipientDID   string           `json:"recipientDid"`
	Achievement    AchievementInput `json:"achievement"`
	IssuerDID      string           `json:"issuerDid"`
	ExpirationDate string           `json:"expirationDate,omitempty"` // RFC 3339 with a zone; becomes validUntil
	Evidence       []EvidenceInput  `json:"evidence,omitempty"`
}

// AchievementInput is the achievement of an issue request: what the badge recognises. Tags
// becomes the OB property "tag".
type AchievementInput struct {
	ID              string        `json:"id"`             // URI: https, http, urn or did
	Type            string        `json:"type,omitempty"` // "Achievement" or empty
	Name            string        `json:"name"`
	Description     string        `json:"description"`
	Criteria        CriteriaInput `json:"criteria"`
	Image           *ImageInput   `json:"image,omitempty"`
	Tags            []string      `json:"tags,omitempty"`
	AchievementType string        `json:"achievementType,omitempty"` // see ValidAchievementType
}

// CriteriaInput says what earning the achievement takes: a narrative (Markdown), the URL of a
// page describing it, or both. At least one is required.
type CriteriaInput struct {
	Narrative string `json:"narrative,omitempty"`
	ID        string `json:"id,omitempty"`
}

// ImageInput is an OB Image: the URL (https or http) or data: URI (data:image/…) of a picture,
// with an optional caption. In JSON it may also be given as just the URL string.
type ImageInput struct {
	ID      string `json:"id"`
	Caption string `json:"caption,omitempty"`
}

// UnmarshalJSON accepts a string (the image URL) or an object {id, type?, caption?}; type, if
// present, must be "Image".
func (im *ImageInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*im = ImageInput{ID: s}
		return nil
	}
	var v struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Caption string `json:"caption"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.Type != "" && v.Type != TypeImage {
		return fmt.Errorf("image type must be %q, got %q", TypeImage, v.Type)
	}
	*im = ImageInput{ID: v.ID, Caption: v.Caption}
	return nil
}

// EvidenceInput is one piece of evidence of an issue request. At least one of ID, Name,
// Narrative or Description is required.
type EvidenceInput struct {
	ID          string `json:"id,omitempty"` // URL of the evidence: https, http, urn or did
	Narrative   string `json:"narrative,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Genre       string `json:"genre,omitempty"`
	Audience    string `json:"audience,omitempty"`
}

// Profile describes the issuer (or the creator of an achievement) as an OB Profile. ID is the
// issuer's DID and Name is required; the rest is optional.
type Profile struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	URL         string      `json:"url,omitempty"`   // https or http
	Email       string      `json:"email,omitempty"` // a bare address, a@b.c
	Description string      `json:"description,omitempty"`
	Image       *ImageInput `json:"image,omitempty"`
}

// BuildOptions are the parts of a credential that do not come from the request.
type BuildOptions struct {
	// ID is the credential's id, "urn:uuid:" and a UUID (RFC 9562 text form). Required.
	ID string
	// ValidFrom is when the credential becomes valid (written in UTC, whole seconds); zero means
	// now.
	ValidFrom time.Time
	// Name is the credential's display name; empty means the achievement's name.
	Name string
	// Description is the credential's display description, optional.
	Description string
	// Creator, if set, is written as the achievement's creator (who defined the achievement, when
	// it is not the issuer).
	Creator *Profile
}

// FieldError says which field of the input is wrong and why. Field is a dotted JSON path of the
// request ("achievement.criteria.narrative", "evidence[1].id"), "issuer.…" for the issuer
// profile and "options.…" for BuildOptions.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return "openbadges: " + e.Field + ": " + e.Reason }

// FieldErrors returns every *FieldError in err (as Build returns them, joined), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// checker collects field errors.
type checker struct{ errs []error }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error { return errors.Join(c.errs...) }

// Build makes the unsigned OpenBadgeCredential (VCDM 2.0, OB 3.0 context 3.0.3) for req, issued
// by issuer, as a JSON-ready map of map[string]any, []any and string values. It checks every
// field first and returns all problems at once, each a *FieldError (see FieldErrors); nothing is
// built from a request that has one.
//
// The credential has the credentials v2 and OB 3.0.3 contexts, type [VerifiableCredential,
// OpenBadgeCredential], id, name, issuer as a Profile, validFrom, validUntil (from
// ExpirationDate, which must be later than validFrom), credentialSubject of type
// AchievementSubject with the recipient's DID as id and the achievement, and the evidence.
// Every term is defined by those two contexts, so the result can be signed with eddsa-rdfc-2022.
func Build(req IssueRequest, issuer Profile, o BuildOptions) (map[string]any, error) {
	var c checker

	if !isUUIDURN(o.ID) {
		c.add("options.id", "must be urn:uuid: followed by a UUID")
	}
	validFrom := o.ValidFrom
	if validFrom.IsZero() {
		validFrom = time.Now()
	}
	validFrom = validFrom.UTC().Truncate(time.Second)

	checkDID(&c, "recipientDid", req.RecipientDID)
	checkDID(&c, "issuerDid", req.IssuerDID)
	if issuer.ID == "" {
		issuer.ID = req.IssuerDID
	} else if issuer.ID != req.IssuerDID {
		c.add("issuerDid", "does not match the issuer profile %q", issuer.ID)
	}
	issuerJSON := profileJSON(&c, "issuer", issuer, true)

	var validUntil time.Time
	if req.ExpirationDate != "" {
		t, err := time.Parse(time.RFC3339, req.ExpirationDate)
		switch {
		case err != nil:
			c.add("expirationDate", "must be an RFC 3339 date-time with a time zone, like 2026-09-20T00:00:00Z")
		case !t.UTC().Truncate(time.Second).After(validFrom):
			c.add("expirationDate", "must be later than the issuance time %s", validFrom.Format(time.RFC3339))
		default:
			validUntil = t.UTC().Truncate(time.Second)
		}
	}

	ach := achievementJSON(&c, "achievement", req.Achievement)
	if o.Creator != nil {
		if cr := profileJSON(&c, "options.creator", *o.Creator, false); cr != nil {
			ach["creator"] = cr
		}
	}

	if len(req.Evidence) > MaxEvidence {
		c.add("evidence", "too many entries (at most %d)", MaxEvidence)
	}
	var evidence []any
	for i, ev := range req.Evidence {
		if i >= MaxEvidence {
			break
		}
		if e := evidenceJSON(&c, fmt.Sprintf("evidence[%d]", i), ev); e != nil {
			evidence = append(evidence, e)
		}
	}

	checkLine(&c, "options.name", o.Name, MaxNameChars, false)
	name := o.Name
	if strings.TrimSpace(name) == "" {
		name = req.Achievement.Name
	}
	checkText(&c, "options.description", o.Description, MaxDescriptionChars, false)

	if err := c.err(); err != nil {
		return nil, err
	}

	cred := map[string]any{
		"@context":  []any{contexts.CredentialsV2, contexts.OpenBadgesV303},
		"id":        o.ID,
		"type":      []any{TypeVerifiableCredential, TypeOpenBadgeCredential},
		"issuer":    issuerJSON,
		"validFrom": validFrom.Format(time.RFC3339),
		"name":      strings.TrimSpace(name),
		"credentialSubject": map[string]any{
			"id":          req.RecipientDID,
			"type":        []any{TypeAchievementSubject},
			"achievement": ach,
		},
	}
	if !validUntil.IsZero() {
		cred["validUntil"] = validUntil.Format(time.RFC3339)
	}
	if d := strings.TrimSpace(o.Description); d != "" {
		cred["description"] = d
	}
	if len(evidence) > 0 {
		cred["evidence"] = evidence
	}
	return cred, nil
}

// achievementJSON checks a and returns it as an OB Achievement (nil if a check failed).
func achievementJSON(c *checker, field string, a AchievementInput) map[string]any {
	n := len(c.errs)
	checkURI(c, field+".id", a.ID, MaxIDBytes, true, "https", "http", "urn", "did")
	if a.Type != "" && a.Type != TypeAchievement {
		c.add(field+".type", "must be %q", TypeAchievement)
	}
	checkLine(c, field+".name", a.Name, MaxNameChars, true)
	checkText(c, field+".description", a.Description, MaxDescriptionChars, true)
	if strings.TrimSpace(a.Criteria.Narrative) == "" && a.Criteria.ID == "" {
		c.add(field+".criteria", "needs a narrative or an id")
	}
	checkText(c, field+".criteria.narrative", a.Criteria.Narrative, MaxNarrativeChars, false)
	checkURI(c, field+".criteria.id", a.Criteria.ID, MaxIDBytes, false, "https", "http")
	if a.AchievementType != "" && !ValidAchievementType(a.AchievementType) {
		c.add(field+".achievementType", "not an OB 3.0 AchievementType (such as Course, Competency, Certificate) nor ext:<name>")
	}
	if len(a.Tags) > MaxTags {
		c.add(field+".tags", "too many tags (at most %d)", MaxTags)
	}
	seen := make(map[string]bool, len(a.Tags))
	var tags []any
	for i, t := range a.Tags {
		f := fmt.Sprintf("%s.tags[%d]", field, i)
		checkLine(c, f, t, MaxTagChars, true)
		t = strings.TrimSpace(t)
		if seen[t] {
			c.add(f, "duplicate tag %q", t)
		}
		seen[t] = true
		tags = append(tags, t)
	}
	img := imageJSON(c, field+".image", a.Image)
	if len(c.errs) > n {
		return nil
	}

	criteria := map[string]any{}
	if a.Criteria.ID != "" {
		criteria["id"] = a.Criteria.ID
	}
	if s := strings.TrimSpace(a.Criteria.Narrative); s != "" {
		criteria["narrative"] = s
	}
	out := map[string]any{
		"id":          a.ID,
		"type":        []any{TypeAchievement},
		"name":        strings.TrimSpace(a.Name),
		"description": strings.TrimSpace(a.Description),
		"criteria":    criteria,
	}
	if img != nil {
		out["image"] = img
	}
	if len(tags) > 0 {
		out["tag"] = tags
	}
	if a.AchievementType != "" {
		out["achievementType"] = a.AchievementType
	}
	return out
}

// imageJSON checks im and returns it as an OB Image, or nil if im is nil or a check failed.
func imageJSON(c *checker, field string, im *ImageInput) map[string]any {
	if im == nil {
		return nil
	}
	n := len(c.errs)
	if strings.HasPrefix(strings.ToLower(im.ID), "data:") {
		checkDataImage(c, field+".id", im.ID)
	} else {
		checkURI(c, field+".id", im.ID, MaxIDBytes, true, "https", "http")
	}
	checkLine(c, field+".caption", im.Caption, MaxNameChars, false)
	if len(c.errs) > n {
		return nil
	}
	out := map[string]any{"id": im.ID, "type": TypeImage}
	if s := strings.TrimSpace(im.Caption); s != "" {
		out["caption"] = s
	}
	return out
}

// evidenceJSON checks ev and returns it as an OB Evidence (nil if a check failed).
func evidenceJSON(c *checker, field string, ev EvidenceInput) map[string]any {
	n := len(c.errs)
	if ev.ID == "" && strings.TrimSpace(ev.Name) == "" && strings.TrimSpace(ev.Narrative) == "" &&
		strings.TrimSpace(ev.Description) == "" {
		c.add(field, "needs at least one of id, name, narrative, description")
	}
	checkURI(c, field+".id", ev.ID, MaxIDBytes, false, "https", "http", "urn", "did")
	checkLine(c, field+".name", ev.Name, MaxNameChars, false)
	checkText(c, field+".narrative", ev.Narrative, MaxNarrativeChars, false)
	checkText(c, field+".description", ev.Description, MaxDescriptionChars, false)
	checkLine(c, field+".genre", ev.Genre, MaxNameChars, false)
	checkLine(c, field+".audience", ev.Audience, MaxNameChars, false)
	if len(c.errs) > n {
		return nil
	}
	out := map[string]any{"type": []any{TypeEvidence}}
	if ev.ID != "" {
		out["id"] = ev.ID
	}
	for k, v := range map[string]string{"name": ev.Name, "narrative": ev.Narrative,
		"description": ev.Description, "genre": ev.Genre, "audience": ev.Audience} {
		if s := strings.TrimSpace(v); s != "" {
			out[k] = s
		}
	}
	return out
}

// profileJSON checks p and returns it as an OB Profile (nil if a check failed). The id of an
// issuer must be a DID; a creator's may be any https or DID URI.
func profileJSON(c *checker, field string, p Profile, issuer bool) map[string]any {
	n := len(c.errs)
	if issuer {
		checkDID(c, field+".id", p.ID)
	} else {
		checkURI(c, field+".id", p.ID, MaxIDBytes, true, "https", "http", "did", "urn")
	}
	checkLine(c, field+".name", p.Name, MaxNameChars, true)
	checkURI(c, field+".url", p.URL, MaxIDBytes, false, "https", "http")
	if p.Email != "" {
		a, err := mail.ParseAddress(p.Email)
		if err != nil || a.Address != p.Email || a.Name != "" || len(p.Email) > 254 {
			c.add(field+".email", "must be a bare e-mail address")
		}
	}
	checkText(c, field+".description", p.Description, MaxDescriptionChars, false)
	img := imageJSON(c, field+".image", p.Image)
	if len(c.errs) > n {
		return nil
	}
	out := map[string]any{
		"id":   p.ID,
		"type": []any{TypeProfile},
		"name": strings.TrimSpace(p.Name),
	}
	if p.URL != "" {
		out["url"] = p.URL
	}
	if p.Email != "" {
		out["email"] = p.Email
	}
	if s := strings.TrimSpace(p.Description); s != "" {
		out["description"] = s
	}
	if img != nil {
		out["image"] = img
	}
	return out
}

// achievementTypes is the AchievementType enumeration of OB 3.0 (schema $defs/Achievement).
var achievementTypes = map[string]bool{
	"Achievement": true, "ApprenticeshipCertificate": true, "Assessment": true, "Assignment": true,
	"AssociateDegree": true, "Award": true, "Badge": true, "BachelorDegree": true, "Certificate": true,
	"CertificateOfCompletion": true, "Certification": true, "CommunityService": true, "Competency": true,
	"Course": true, "CoCurricular": true, "Degree": true, "Diploma": true, "DoctoralDegree": true,
	"Fieldwork": true, "GeneralEducationDevelopment": true, "JourneymanCertificate": true,
	"LearningProgram": true, "License": true, "Membership": true, "ProfessionalDoctorate": true,
	"QualityAssuranceCredential": true, "MasterCertificate": true, "MasterDegree": true,
	"MicroCredential": true, "ResearchDoctorate": true, "SecondarySchoolDiploma": true,
}

// ValidAchievementType reports whether s is a term of the OB 3.0 AchievementType vocabulary
// ("Course", "Competency", "Certificate", …) or an extension term "ext:" followed by letters,
// digits, '.', '-' or '_' (at most 64 bytes).
func ValidAchievementType(s string) bool {
	if achievementTypes[s] {
		return true
	}
	name, ok := strings.CutPrefix(s, "ext:")
	if !ok || name == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isAlnum(name[i]) && name[i] != '.' && name[i] != '-' && name[i] != '_' {
			return false
		}
	}
	return true
}

// checkLine checks one line of display text: valid UTF-8, no control or bidirectional-override
// characters, at most max characters once trimmed, and present if required.
func checkLine(c *checker, field, s string, max int, required bool) {
	checkString(c, field, s, max, required, false)
}

// checkText is checkLine for text that may span lines (tabs and line breaks allowed).
func checkText(c *checker, field, s string, max int, required bool) {
	checkString(c, field, s, max, required, true)
}

func checkString(c *checker, field, s string, max int, required, multiline bool) {
	if !utf8.ValidString(s) {
		c.add(field, "not valid UTF-8")
		return
	}
	t := strings.TrimSpace(s)
	if t == "" {
		if required {
			c.add(field, "required")
		}
		return
	}
	if n := utf8.RuneCountInString(t); n > max {
		c.add(field, "too long (%d characters, at most %d)", n, max)
		return
	}
	for _, r := range t {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			c.add(field, "contains a control character (U+%04X)", r)
			return
		}
		if isBidiControl(r) {
			c.add(field, "contains a bidirectional formatting character (U+%04X)", r)
			return
		}
	}
}

// isBidiControl reports the embedding, override and isolate characters that can make a name
// display as something else.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// checkURI checks that s is an absolute URI (RFC 3986) of one of the schemes, at most max bytes,
// without spaces or control characters. An http(s) URI needs a host.
func checkURI(c *checker, field, s string, max int, required bool, schemes ...string) {
	if s == "" {
		if required {
			c.add(field, "required")
		}
		return
	}
	if len(s) > max {
		c.add(field, "too long (%d bytes, at most %d)", len(s), max)
		return
	}
	if !utf8.ValidString(s) {
		c.add(field, "not valid UTF-8")
		return
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) || isBidiControl(r) ||
			r == '<' || r == '>' || r == '"' || r == '\\' || r == '{' || r == '}' || r == '|' || r == '^' || r == '`' {
			c.add(field, "must be a URI (no spaces or characters such as <>\"\\{}|^`)")
			return
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		c.add(field, "must be an absolute URI (%s)", strings.Join(schemes, ", "))
		return
	}
	scheme := strings.ToLower(u.Scheme)
	ok := false
	for _, sc := range schemes {
		ok = ok || scheme == sc
	}
	if !ok {
		c.add(field, "scheme %q not allowed (want %s)", u.Scheme, strings.Join(schemes, ", "))
		return
	}
	switch scheme {
	case "http", "https":
		if u.Host == "" || u.Opaque != "" {
			c.add(field, "%s URI needs a host", scheme)
		}
	case "did":
		if !isDID(s) {
			c.add(field, "not a valid DID")
		}
	default:
		if u.Opaque == "" && u.Path == "" {
			c.add(field, "URI has nothing after the scheme")
		}
	}
}

// checkDataImage checks a data: URI of an image (RFC 2397), data:image/<subtype>[;…],<data>.
func checkDataImage(c *checker, field, s string) {
	if len(s) > MaxImageDataBytes {
		c.add(field, "data URI too long (%d bytes, at most %d)", len(s), MaxImageDataBytes)
		return
	}
	head, data, ok := strings.Cut(s[len("data:"):], ",")
	mediaType, _, _ := strings.Cut(head, ";")
	if !ok || data == "" || !strings.HasPrefix(strings.ToLower(mediaType), "image/") {
		c.add(field, "data URI must be data:image/<type>[;base64],<data>")
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			c.add(field, "data URI must be ASCII without spaces")
			return
		}
	}
}

// checkDID checks DID syntax (DID Core 1.0 §3.1): did:<method-name>:<method-specific-id>, with
// no path, query or fragment.
func checkDID(c *checker, field, s string) {
	switch {
	case s == "":
		c.add(field, "required")
	case len(s) > MaxIDBytes:
		c.add(field, "too long (%d bytes, at most %d)", len(s), MaxIDBytes)
	case !isDID(s):
		c.add(field, "must be a DID, did:<method>:<method-specific-id>")
	}
}

// isDID implements the DID Core ABNF:
//
//	did                = "did:" method-name ":" method-specific-id
//	method-name        = 1*method-char            ; %x61-7A / DIGIT
//	method-specific-id = *( *idchar ":" ) 1*idchar
//	idchar             = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded
func isDID(s string) bool {
	rest, ok := strings.CutPrefix(s, "did:")
	if !ok {
		return false
	}
	method, id, ok := strings.Cut(rest, ":")
	if !ok || method == "" || id == "" {
		return false
	}
	for i := 0; i < len(method); i++ {
		if (method[i] < 'a' || method[i] > 'z') && (method[i] < '0' || method[i] > '9') {
			return false
		}
	}
	if id[len(id)-1] == ':' {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case isAlnum(b) || b == '.' || b == '-' || b == '_' || b == ':':
		case b == '%' && i+2 < len(id) && isHex(id[i+1]) && isHex(id[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

// isUUIDURN reports whether s is "urn:uuid:" and a UUID in its 8-4-4-4-12 hex form.
func isUUIDURN(s string) bool {
	u, ok := strings.CutPrefix(s, "urn:uuid:")
	if !ok || len(u) != 36 {
		return false
	}
	for i := 0; i < len(u); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if u[i] != '-' {
				return false
			}
		} else if !isHex(u[i]) {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}
