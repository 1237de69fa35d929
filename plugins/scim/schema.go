package main

import (
	"strings"
)

// Schema URNs (RFC 7643 section 8.7.1, RFC 7644 section 3.12).
const (
	urnUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	urnGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	urnEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	urnListResponse   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	urnPatchOp        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	urnError          = "urn:ietf:params:scim:api:messages:2.0:Error"
	urnSPConfig       = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	urnResourceType   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	urnSchema         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attribute types (RFC 7643 section 2.3).
const (
	tString    = "string"
	tBoolean   = "boolean"
	tDecimal   = "decimal"
	tInteger   = "integer"
	tDateTime  = "dateTime"
	tReference = "reference"
	tComplex   = "complex"
)

// attrDef is one attribute of a schema (RFC 7643 section 7).
type attrDef struct {
	Name       string
	Type       string
	Multi      bool
	Required   bool
	CaseExact  bool
	Mutability string // readWrite (default), readOnly, immutable, writeOnly
	Returned   string // default (default), always, never, request
	Uniqueness string // none (default), server
	Sub        []*attrDef
	RefTypes   []string
	Canonical  []string
	Desc       string
}

func (a *attrDef) readOnly() bool { return a.Mutability == "readOnly" }

// sub returns the sub-attribute named name (case-insensitive).
func (a *attrDef) sub(name string) *attrDef {
	for _, s := range a.Sub {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// schemaDef is a schema: its URN, name and attributes.
type schemaDef struct {
	ID    string
	Name  string
	Desc  string
	Attrs []*attrDef
}

func (s *schemaDef) attr(name string) *attrDef {
	for _, a := range s.Attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

func str(name, desc string) *attrDef { return &attrDef{Name: name, Type: tString, Desc: desc} }

func boolean(name, desc string) *attrDef { return &attrDef{Name: name, Type: tBoolean, Desc: desc} }

// multiComplex is the usual multi-valued complex attribute of RFC 7643
// section 2.4: value, display, type, primary.
func multiComplex(name, desc string, valueType string, types ...string) *attrDef {
	return &attrDef{Name: name, Type: tComplex, Multi: true, Desc: desc, Sub: []*attrDef{
		{Name: "value", Type: valueType, Desc: "The attribute's value."},
		str("display", "A human-readable name, primarily used for display purposes."),
		{Name: "type", Type: tString, Canonical: types, Desc: "A label indicating the attribute's function."},
		boolean("primary", "Indicates the 'primary' or preferred attribute value."),
	}}
}

// commonAttrs are id, externalId and meta (RFC 7643 section 3.1).
var (
	attrID         = &attrDef{Name: "id", Type: tString, CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "server", Desc: "Unique identifier assigned by the service provider."}
	attrExternalID = &attrDef{Name: "externalId", Type: tString, CaseExact: true, Desc: "Identifier of the resource in the provisioning client."}
	attrMeta       = &attrDef{Name: "meta", Type: tComplex, Mutability: "readOnly", Desc: "Resource metadata.", Sub: []*attrDef{
		{Name: "resourceType", Type: tString, CaseExact: true, Mutability: "readOnly"},
		{Name: "created", Type: tDateTime, Mutability: "readOnly"},
		{Name: "lastModified", Type: tDateTime, Mutability: "readOnly"},
		{Name: "location", Type: tReference, CaseExact: true, Mutability: "readOnly", RefTypes: []string{"uri"}},
		{Name: "version", Type: tString, CaseExact: true, Mutability: "readOnly"},
	}}
)

var userSchema = &schemaDef{ID: urnUser, Name: "User", Desc: "User Account", Attrs: []*attrDef{
	{Name: "userName", Type: tString, Required: true, Uniqueness: "server", Desc: "Unique identifier for the User, used to sign in; compared case-insensitively."},
	{Name: "name", Type: tComplex, Desc: "The components of the user's real name.", Sub: []*attrDef{
		str("formatted", "The full name."), str("familyName", "The family name."), str("givenName", "The given name."),
		str("middleName", "The middle name(s)."), str("honorificPrefix", "Honorific prefix(es)."), str("honorificSuffix", "Honorific suffix(es)."),
	}},
	str("displayName", "The name of the User, suitable for display to end-users."),
	str("nickName", "The casual way to address the user."),
	{Name: "profileUrl", Type: tReference, RefTypes: []string{"external"}, Desc: "A fully qualified URL pointing to the User's online profile."},
	str("title", "The user's title, such as \"Vice President\"."),
	str("userType", "Used to identify the relationship between the organization and the user."),
	str("preferredLanguage", "The User's preferred written or spoken language."),
	str("locale", "Used to indicate the User's default location."),
	str("timezone", "The User's time zone in the 'Olson' time zone database format."),
	boolean("active", "A Boolean value indicating the User's administrative status."),
	{Name: "password", Type: tString, Mutability: "writeOnly", Returned: "never", Desc: "The User's cleartext password; never stored or returned by this service provider."},
	multiComplex("emails", "Email addresses for the user.", tString, "work", "home", "other"),
	multiComplex("phoneNumbers", "Phone numbers for the User.", tString, "work", "home", "mobile", "fax", "pager", "other"),
	multiComplex("ims", "Instant messaging addresses for the User.", tString),
	multiComplex("photos", "URLs of photos of the User.", tReference, "photo", "thumbnail"),
	{Name: "addresses", Type: tComplex, Multi: true, Desc: "A physical mailing address for this User.", Sub: []*attrDef{
		str("formatted", "The full mailing address."), str("streetAddress", "The full street address component."),
		str("locality", "The city or locality component."), str("region", "The state or region component."),
		str("postalCode", "The zip code or postal code component."), str("country", "The country name component."),
		{Name: "type", Type: tString, Canonical: []string{"work", "home", "other"}},
		boolean("primary", "Indicates the primary address."),
	}},
	{Name: "groups", Type: tComplex, Multi: true, Mutability: "readOnly", Desc: "A list of groups to which the user belongs (managed through /Groups).", Sub: []*attrDef{
		{Name: "value", Type: tString, Mutability: "readOnly"},
		{Name: "$ref", Type: tReference, Mutability: "readOnly", RefTypes: []string{"User", "Group"}},
		{Name: "display", Type: tString, Mutability: "readOnly"},
		{Name: "type", Type: tString, Mutability: "readOnly", Canonical: []string{"direct", "indirect"}},
	}},
	multiComplex("entitlements", "A list of entitlements for the User.", tString),
	multiComplex("roles", "A list of roles for the User.", tString),
	multiComplex("x509Certificates", "A list of certificates issued to the User.", tString),
}}

var enterpriseUserSchema = &schemaDef{ID: urnEnterpriseUser, Name: "EnterpriseUser", Desc: "Enterprise User", Attrs: []*attrDef{
	str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
	str("costCenter", "Identifies the name of a cost center."),
	str("organization", "Identifies the name of an organization."),
	str("division", "Identifies the name of a division."),
	str("department", "Identifies the name of a department."),
	{Name: "manager", Type: tComplex, Desc: "The User's manager.", Sub: []*attrDef{
		{Name: "value", Type: tString, Desc: "The id of the SCIM resource representing the User's manager."},
		{Name: "$ref", Type: tReference, RefTypes: []string{"User"}},
		{Name: "displayName", Type: tString, Mutability: "readOnly"},
	}},
}}

var groupSchema = &schemaDef{ID: urnGroup, Name: "Group", Desc: "Group", Attrs: []*attrDef{
	{Name: "displayName", Type: tString, Required: true, Desc: "A human-readable name for the Group."},
	{Name: "members", Type: tComplex, Multi: true, Desc: "A list of members of the Group.", Sub: []*attrDef{
		{Name: "value", Type: tString, CaseExact: true, Mutability: "immutable", Desc: "Identifier of the member."},
		{Name: "$ref", Type: tReference, Mutability: "immutable", RefTypes: []string{"User", "Group"}},
		{Name: "display", Type: tString, Desc: "A human-readable name of the member."},
		{Name: "type", Type: tString, Mutability: "immutable", Canonical: []string{"User", "Group"}},
	}},
}}

// resourceType is one SCIM resource type this service provider serves.
type resourceType struct {
	Name       string // "User"
	Endpoint   string // "/Users"
	Core       *schemaDef
	Extensions []*schemaDef
	kvKind     string // "u" or "g"
}

var (
	userType  = &resourceType{Name: "User", Endpoint: "/Users", Core: userSchema, Extensions: []*schemaDef{enterpriseUserSchema}, kvKind: "u"}
	groupType = &resourceType{Name: "Group", Endpoint: "/Groups", Core: groupSchema, kvKind: "g"}
)

// extension returns the extension schema with URN urn (case-insensitive).
func (rt *resourceType) extension(urn string) *schemaDef {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.ID, urn) {
			return e
		}
	}
	return nil
}

// commonAttr returns id, externalId or meta.
func commonAttr(name string) *attrDef {
	for _, a := range []*attrDef{attrID, attrExternalID, attrMeta} {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// attrRef is a resolved attribute path: the schema holding it ("" for the
// core schema and the common attributes), the attribute and optionally one
// of its sub-attributes. Inside a value filter (emails[type eq "work"]),
// Attr is nil and Sub is relative to the element.
type attrRef struct {
	Ext  string
	Attr *attrDef
	Sub  *attrDef
}

// leaf is the attribute the reference designates.
func (r attrRef) leaf() *attrDef {
	if r.Sub != nil {
		return r.Sub
	}
	return r.Attr
}

func (r attrRef) String() string {
	var b strings.Builder
	if r.Ext != "" {
		b.WriteString(r.Ext + ":")
	}
	if r.Attr != nil {
		b.WriteString(r.Attr.Name)
		if r.Sub != nil {
			b.WriteByte('.')
		}
	}
	if r.Sub != nil {
		b.WriteString(r.Sub.Name)
	}
	return b.String()
}

// splitURN splits "urn:…:enterprise:2.0:User:manager.value" into the
// schema URN the resource type knows and the rest ("manager.value"). A
// path that is a schema URN alone returns rest "". ok is false if the path
// starts with "urn:" but names no schema of rt.
func (rt *resourceType) splitURN(path string) (ext *schemaDef, core bool, rest string, ok bool) {
	if len(path) < 4 || !strings.EqualFold(path[:4], "urn:") {
		return nil, false, path, true
	}
	for _, s := range append([]*schemaDef{rt.Core}, rt.Extensions...) {
		n := len(s.ID)
		if len(path) >= n && strings.EqualFold(path[:n], s.ID) {
			if len(path) == n {
				return s, s == rt.Core, "", true
			}
			if path[n] == ':' {
				return s, s == rt.Core, path[n+1:], true
			}
		}
	}
	return nil, false, "", false
}

// resolve resolves an attribute path "name", "name.sub", or either with a
// schema URN prefix, case-insensitively. The URN of an extension alone is
// not an attribute (see splitURN).
func (rt *resourceType) resolve(path string) (attrRef, bool) {
	s, core, rest, ok := rt.splitURN(path)
	if !ok || rest == "" {
		return attrRef{}, false
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	var ref attrRef
	switch {
	case s == nil || core:
		a := rt.Core.attr(name)
		if a == nil {
			a = commonAttr(name)
		}
		if a == nil {
			return attrRef{}, false
		}
		ref.Attr = a
	default:
		a := s.attr(name)
		if a == nil {
			return attrRef{}, false
		}
		ref.Ext, ref.Attr = s.ID, a
	}
	if hasSub {
		if ref.Attr.Type != tComplex {
			return attrRef{}, false
		}
		sd := ref.Attr.sub(sub)
		if sd == nil {
			return attrRef{}, false
		}
		ref.Sub = sd
	}
	return ref, true
}

// schemaJSON renders a schema as its /Schemas resource (RFC 7643 section 7).
func schemaJSON(s *schemaDef, base string) map[string]any {
	return map[string]any{
		"schemas":     []any{urnSchema},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Desc,
		"attributes":  attrsJSON(s.Attrs),
		"meta":        map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + s.ID},
	}
}

func attrsJSON(as []*attrDef) []any {
	out := make([]any, 0, len(as))
	for _, a := range as {
		m := map[string]any{
			"name":        a.Name,
			"type":        a.Type,
			"multiValued": a.Multi,
			"description": a.Desc,
			"required":    a.Required,
			"caseExact":   a.CaseExact,
			"mutability":  orDefault(a.Mutability, "readWrite"),
			"returned":    orDefault(a.Returned, "default"),
			"uniqueness":  orDefault(a.Uniqueness, "none"),
		}
		if len(a.Canonical) > 0 {
			m["canonicalValues"] = a.Canonical
		}
		if len(a.RefTypes) > 0 {
			m["referenceTypes"] = a.RefTypes
		}
		if len(a.Sub) > 0 {
			m["subAttributes"] = attrsJSON(a.Sub)
		}
		out = append(out, m)
	}
	return out
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
