package credentials

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ContextV2 is the base context every VCDM 2.0 credential starts with.
const ContextV2 = "https://www.w3.org/ns/credentials/v2"

// dateTimeStamp is XML Schema dateTimeStamp (VCDM 2.0 § 4.9: validFrom and
// validUntil are dateTimeStamp strings; a time zone is required).
var dateTimeStamp = regexp.MustCompile(`^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// parseDateTime parses a dateTimeStamp.
func parseDateTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || !dateTimeStamp.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// isURL reports whether s is an absolute URL (a scheme and something
// after it), as the data model requires of ids (§ 4.4: "MUST be a URL").
func isURL(s string) bool {
	if s == "" || len(s) > 2048 || strings.ContainsAny(s, " \t\r\n<>\"{}|\\^`") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Opaque != "" || u.Host != "" || u.Path != "")
}

// entries returns v as a list of objects: an object or an array of
// objects (each the data model's "one or more" values).
func entries(field string, v any) ([]map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}, nil
	case []any:
		if len(x) == 0 {
			return nil, invalid(field, "must not be an empty array")
		}
		out := make([]map[string]any, 0, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "must be an object")
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, invalid(field, "must be an object or an array of objects")
}

// entryField names entry i of member field: "field" for a single object,
// "field[i]" for an array.
func entryField(field string, v any, i int) string {
	if _, isArray := v.([]any); !isArray {
		return field
	}
	return fmt.Sprintf("%s[%d]", field, i)
}

// types returns the type member as a list of strings.
func types(field string, v any, required bool) ([]string, error) {
	switch x := v.(type) {
	case nil:
		if required {
			return nil, invalid(field, "is required")
		}
		return nil, nil
	case string:
		if x == "" {
			return nil, invalid(field, "must not be empty")
		}
		return []string{x}, nil
	case []any:
		if len(x) == 0 {
			return nil, invalid(field, "must not be empty")
		}
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, invalid(field, "must hold non-empty strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, invalid(field, "must be a string or an array of strings")
}

// typedMembers are the members whose every entry MUST have a type
// (VCDM 2.0 § 4.10 Status, § 4.11 Data Schemas, § 5.4 Refreshing, § 5.5
// Terms of Use, § 5.6 Evidence).
var typedMembers = []string{"credentialStatus", "credentialSchema", "refreshService", "termsOfUse", "evidence"}

// CheckUnsigned validates an unsigned credential against the data model's
// MUSTs before it is secured: the base context first, the
// VerifiableCredential type, ids that are URLs, an issuer (URL or object
// with a URL id), a non-empty credentialSubject, dateTimeStamp validity
// dates in order, a type on every status, schema, refresh, terms-of-use
// and evidence entry (schemas with a URL id too), and relatedResource
// entries with a URL id and a digest. A proof must not be present yet.
func CheckUnsigned(c map[string]any) error {
	ctxs, ok := c["@context"].([]any)
	if !ok || len(ctxs) == 0 || ctxs[0] != ContextV2 {
		return invalid("@context", "must be an array whose first item is %q", ContextV2)
	}
	for i, x := range ctxs {
		switch v := x.(type) {
		case string:
			if !isURL(v) {
				return invalid(fmt.Sprintf("@context[%d]", i), "must be a URL")
			}
		case map[string]any:
		default:
			return invalid(fmt.Sprintf("@context[%d]", i), "must be a URL or an object")
		}
	}
	ts, err := types("type", c["type"], true)
	if err != nil {
		return err
	}
	if !slices.Contains(ts, "VerifiableCredential") {
		return invalid("type", "must include VerifiableCredential")
	}
	if v, has := c["id"]; has {
		if s, ok := v.(string); !ok || !isURL(s) {
			return invalid("id", "must be a URL")
		}
	}
	switch v := c["issuer"].(type) {
	case string:
		if !isURL(v) {
			return invalid("issuer", "must be a URL")
		}
	case map[string]any:
		if s, ok := v["id"].(string); !ok || !isURL(s) {
			return invalid("issuer.id", "must be a URL")
		}
	case nil:
		return invalid("issuer", "is required")
	default:
		return invalid("issuer", "must be a URL or an object with an id")
	}
	subs, err := entries("credentialSubject", c["credentialSubject"])
	if err != nil {
		if c["credentialSubject"] == nil {
			return invalid("credentialSubject", "is required")
		}
		return err
	}
	for i, sub := range subs {
		f := entryField("credentialSubject", c["credentialSubject"], i)
		if len(sub) == 0 {
			return invalid(f, "must not be empty")
		}
		if v, has := sub["id"]; has {
			if s, ok := v.(string); !ok || !isURL(s) {
				return invalid(f+".id", "must be a URL")
			}
		}
	}
	var from, until time.Time
	if v, has := c["validFrom"]; has {
		if from, ok = parseDateTime(v); !ok {
			return invalid("validFrom", "must be an XML Schema dateTimeStamp (e.g. 2026-01-01T00:00:00Z)")
		}
	}
	if v, has := c["validUntil"]; has {
		if until, ok = parseDateTime(v); !ok {
			return invalid("validUntil", "must be an XML Schema dateTimeStamp (e.g. 2027-01-01T00:00:00Z)")
		}
	}
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		return invalid("validUntil", "must be after validFrom")
	}
	for _, m := range typedMembers {
		v, has := c[m]
		if !has {
			continue
		}
		es, err := entries(m, v)
		if err != nil {
			return err
		}
		for i, e := range es {
			f := entryField(m, v, i)
			if _, err := types(f+".type", e["type"], true); err != nil {
				return err
			}
			if id, has := e["id"]; has || m == "credentialSchema" {
				if s, ok := id.(string); !ok || !isURL(s) {
					return invalid(f+".id", "must be a URL")
				}
			}
		}
	}
	if v, has := c["relatedResource"]; has {
		es, err := entries("relatedResource", v)
		if err != nil {
			return err
		}
		for i, e := range es {
			f := entryField("relatedResource", v, i)
			if s, ok := e["id"].(string); !ok || !isURL(s) {
				return invalid(f+".id", "must be a URL")
			}
			sri, hasSRI := e["digestSRI"].(string)
			mb, hasMB := e["digestMultibase"].(string)
			if !hasSRI && !hasMB {
				return invalid(f, "must have digestSRI or digestMultibase")
			}
			if hasSRI {
				if _, _, err := parseSRI(sri); err != nil {
					return invalid(f+".digestSRI", "%v", err)
				}
			}
			if hasMB {
				if _, _, err := parseDigestMultibase(mb); err != nil {
					return invalid(f+".digestMultibase", "%v", err)
				}
			}
		}
	}
	if _, has := c["proof"]; has {
		return invalid("proof", "must not be present in a credential to issue")
	}
	return nil
}

// issuerID returns the credential's issuer URL.
func issuerID(c map[string]any) string {
	switch v := c["issuer"].(type) {
	case string:
		return v
	case map[string]any:
		s, _ := v["id"].(string)
		return s
	}
	return ""
}

// subjectID returns the first credentialSubject's id, if any.
func subjectID(c map[string]any) string {
	switch v := c["credentialSubject"].(type) {
	case map[string]any:
		s, _ := v["id"].(string)
		return s
	case []any:
		if len(v) > 0 {
			if m, ok := v[0].(map[string]any); ok {
				s, _ := m["id"].(string)
				return s
			}
		}
	}
	return ""
}
