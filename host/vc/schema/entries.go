package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrInvalidEntry marks a credentialSchema value that breaks the data
// model's structural rules (VC Data Model 2.0 § 4.11: each entry has an id
// that is a URL and a type).
var ErrInvalidEntry = errors.New("invalid credentialSchema")

// entry is one credentialSchema object as read from a credential.
type entry struct {
	id              string
	types           []string
	digestSRI       string
	digestMultibase []string
	// problems lists the data-model violations of the entry; an entry with
	// problems is a Failure and is not dereferenced.
	problems []string
}

// knownType returns the vc-json-schema type the entry declares, or "".
func (e entry) knownType() string {
	for _, t := range e.types {
		if t == TypeJsonSchema || t == TypeJsonSchemaCredential {
			return t
		}
	}
	return ""
}

// CheckEntries checks the data model's structural MUSTs for the
// credentialSchema property of credential (VC Data Model 2.0 § 4.11): when
// present, it is one object or a non-empty array of objects, each with an
// id that is an absolute URL and a type (a string or strings). A digestSRI
// or digestMultibase on an entry must be well formed. It does not
// dereference anything, so it suits issuance, before signing. The error
// wraps ErrInvalidEntry and names every problem; nil when credentialSchema
// is absent or well formed.
func CheckEntries(credential map[string]any) error {
	raw, ok := credential["credentialSchema"]
	if !ok {
		return nil
	}
	ents, err := parseEntries(raw)
	if err != nil {
		return err
	}
	var errs []error
	for i, e := range ents {
		for _, p := range e.problems {
			errs = append(errs, fmt.Errorf("%w: credentialSchema[%d]: %s", ErrInvalidEntry, i, p))
		}
	}
	return errors.Join(errs...)
}

// parseEntries reads a credentialSchema value: an object or an array of
// objects. Values built by Go code (map[string]string, []map[string]any)
// are accepted as well as decoded JSON.
func parseEntries(raw any) ([]entry, error) {
	var objs []any
	switch t := raw.(type) {
	case []any:
		objs = t
	case []map[string]any:
		for _, m := range t {
			objs = append(objs, m)
		}
	case nil:
		return nil, fmt.Errorf("%w: credentialSchema is null", ErrInvalidEntry)
	default:
		objs = []any{raw}
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%w: credentialSchema is an empty array", ErrInvalidEntry)
	}
	ents := make([]entry, len(objs))
	for i, o := range objs {
		ents[i] = parseEntry(o)
	}
	return ents, nil
}

// parseEntry reads one credentialSchema object.
func parseEntry(o any) entry {
	var e entry
	var m map[string]any
	switch t := o.(type) {
	case map[string]any:
		m = t
	case map[string]string:
		m = make(map[string]any, len(t))
		for k, s := range t {
			m[k] = s
		}
	default:
		e.problems = append(e.problems, fmt.Sprintf("entry is %s, not an object", jsonKind(o)))
		return e
	}

	switch id := m["id"].(type) {
	case nil:
		e.problems = append(e.problems, "id is missing")
	case string:
		e.id = id
		if err := checkURL(id); err != nil {
			e.problems = append(e.problems, fmt.Sprintf("id %q: %v", truncate(id, 100), err))
		}
	default:
		e.problems = append(e.problems, fmt.Sprintf("id is %s, not a string", jsonKind(id)))
	}

	switch t := m["type"].(type) {
	case nil:
		e.problems = append(e.problems, "type is missing")
	case string:
		e.types = []string{t}
	case []string:
		e.types = slices.Clone(t)
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				e.problems = append(e.problems, fmt.Sprintf("type contains %s, not a string", jsonKind(x)))
				continue
			}
			e.types = append(e.types, s)
		}
	default:
		e.problems = append(e.problems, fmt.Sprintf("type is %s, not a string", jsonKind(t)))
	}
	if m["type"] != nil && (len(e.types) == 0 || slices.Contains(e.types, "")) {
		e.problems = append(e.problems, "type is empty")
	}

	if d, ok := m["digestSRI"]; ok {
		s, isStr := d.(string)
		if !isStr {
			e.problems = append(e.problems, fmt.Sprintf("digestSRI is %s, not a string", jsonKind(d)))
		} else if _, err := parseSRI(s); err != nil {
			e.problems = append(e.problems, fmt.Sprintf("digestSRI: %v", err))
		} else {
			e.digestSRI = s
		}
	}
	if d, ok := m["digestMultibase"]; ok {
		var vals []string
		switch t := d.(type) {
		case string:
			vals = []string{t}
		case []string:
			vals = t
		case []any:
			for _, x := range t {
				if s, ok := x.(string); ok {
					vals = append(vals, s)
				} else {
					e.problems = append(e.problems, fmt.Sprintf("digestMultibase contains %s, not a string", jsonKind(x)))
				}
			}
		default:
			e.problems = append(e.problems, fmt.Sprintf("digestMultibase is %s, not a string", jsonKind(d)))
		}
		for _, s := range vals {
			if _, err := parseMultibaseDigest(s); err != nil {
				e.problems = append(e.problems, fmt.Sprintf("digestMultibase %q: %v", truncate(s, 100), err))
				continue
			}
			e.digestMultibase = append(e.digestMultibase, s)
		}
	}
	return e
}

// checkURL accepts an absolute URL (a scheme, and a host for http/https).
func checkURL(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return errors.New("not a URL (contains white space)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme == "" {
		return errors.New("not an absolute URL (no scheme)")
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return errors.New("not a URL (no host)")
	}
	return nil
}

// jsonKind names the JSON type of a decoded value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any, []string, []map[string]any:
		return "an array"
	case map[string]any, map[string]string:
		return "an object"
	case json.Number, float64, float32, int, int64:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
