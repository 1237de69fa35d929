// Command scim is gatewayd's SCIM 2.0 service provider (RFC 7643, RFC
// 7644): one per enterprise, reached at /scim/v2/{enterpriseId}/… and
// routed to this plugin by the host after it has authenticated the
// enterprise's API key. It serves /ServiceProviderConfig, /ResourceTypes,
// /Schemas, /Users and /Groups (create, read, replace, PATCH, delete,
// filtered and paged lists), keeps the resources in its KV namespace, and
// reports every user and group lifecycle change to the host as a
// DirectoryEvent. PullChanges reads a remote SCIM endpoint (an HR system)
// over the HTTP capability and reports what changed there.
//
// It accepts what the big identity providers send beyond the letter of the
// RFC: operation names in any case ("Replace", Entra ID), a path-less
// replace of {"active": false} (Okta), booleans as strings ("False"),
// removal of group members given as a value array (remove exactly those).
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/directory"
)

const pluginVersion = "0.1.0"

// config is the plugin's configuration (config.schema.json).
type config struct {
	// MaxBodyBytes bounds a request body (default 256 KiB); larger is 413.
	MaxBodyBytes int `json:"maxBodyBytes"`
	// MaxResults bounds count in a list (default 200).
	MaxResults int `json:"maxResults"`
	// DefaultCount is the page size when count is absent (default 100).
	DefaultCount int `json:"defaultCount"`
}

var (
	cfgOnce sync.Once
	cfg     config
)

func conf() config {
	cfgOnce.Do(func() {
		_ = sdk.Config(&cfg)
		if cfg.MaxBodyBytes <= 0 {
			cfg.MaxBodyBytes = 256 << 10
		}
		if cfg.MaxResults <= 0 {
			cfg.MaxResults = 200
		}
		if cfg.DefaultCount <= 0 || cfg.DefaultCount > cfg.MaxResults {
			cfg.DefaultCount = min(100, cfg.MaxResults)
		}
	})
	return cfg
}

type scim struct{}

// request is one SCIM request as the host forwarded it.
type request struct {
	method string
	path   []string // segments after /scim/v2/{enterpriseId}
	query  url.Values
	header map[string]string // lower-case name → first value
	body   []byte
	ent    string
	base   string // external URL of /scim/v2/{enterpriseId}, for meta.location
}

// response is what HandleSCIM answers.
type response struct {
	status int
	header [][2]string
	body   any
	events []*abiv1.DirectoryEvent
}

func (scim) HandleSCIM(ctx context.Context, in *abiv1.HandleSCIMRequest) (*abiv1.HandleSCIMResponse, error) {
	if !validEnterprise(in.EnterpriseID) {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "enterprise id %q is not valid", in.EnterpriseID)
	}
	r := &request{method: strings.ToUpper(in.Method), body: in.Body, ent: in.EnterpriseID, header: map[string]string{}}
	for _, h := range in.Headers {
		if len(h.Values) > 0 {
			r.header[strings.ToLower(h.Name)] = h.Values[0]
		}
	}
	q, err := url.ParseQuery(in.Query)
	res := (*response)(nil)
	if err != nil {
		res = scimErr(400, "invalidSyntax", "the query string does not parse")
	} else {
		r.query = q
		r.base = strings.TrimRight(r.header["x-scim-base-url"], "/")
		for _, s := range strings.Split(strings.Trim(in.Path, "/"), "/") {
			if s == "" {
				continue
			}
			u, err := url.PathUnescape(s)
			if err != nil {
				u = s
			}
			r.path = append(r.path, u)
		}
		res = route(ctx, r)
	}
	sdk.CounterAdd("scim_requests_total", 1)
	if res.status >= 400 {
		sdk.CounterAdd("scim_errors_total", 1)
	}
	out := &abiv1.HandleSCIMResponse{Status: int32(res.status), Events: res.events}
	if res.body != nil {
		b, err := json.Marshal(res.body)
		if err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "encode: %v", err)
		}
		out.Body = b
		out.Headers = append(out.Headers, &abiv1.Header{Name: "Content-Type", Values: []string{"application/scim+json"}})
	}
	for _, h := range res.header {
		out.Headers = append(out.Headers, &abiv1.Header{Name: h[0], Values: []string{h[1]}})
	}
	return out, nil
}

func validEnterprise(id string) bool { return validID(id) && len(id) <= 64 }

// scimErr is an error response (RFC 7644 section 3.12): status as a
// string, scimType for the 400s and 409s that have one.
func scimErr(status int, scimType, detail string) *response {
	b := map[string]any{"schemas": []any{urnError}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		b["scimType"] = scimType
	}
	return &response{status: status, body: b}
}

// internalErr answers a failure of the host's capabilities: a KV quota or
// rate limit is 429, an unavailable or slow store 503 (both retried by the
// identity providers), anything else 500.
func internalErr(err error) *response {
	sdk.Log(slog.LevelWarn, "scim request failed", slog.String("err", err.Error()))
	var e *abiv1.Error
	if errors.As(err, &e) {
		switch e.Code {
		case abiv1.ErrorCodeRateLimited:
			r := scimErr(429, "", "the service provider's storage is over its quota or rate: "+e.Message)
			r.header = append(r.header, [2]string{"Retry-After", "60"})
			return r
		case abiv1.ErrorCodeUnavailable, abiv1.ErrorCodeDeadlineExceeded:
			r := scimErr(503, "", "the service provider's storage is unavailable; retry later")
			r.header = append(r.header, [2]string{"Retry-After", "5"})
			return r
		}
	}
	return scimErr(500, "", "the service provider failed")
}

func route(ctx context.Context, r *request) *response {
	if len(r.path) == 0 {
		return scimErr(404, "", "no resource at the SCIM base URL")
	}
	switch strings.ToLower(r.path[0]) {
	case "serviceproviderconfig":
		if r.method != "GET" || len(r.path) != 1 {
			return notAllowed(r)
		}
		return &response{status: 200, body: spConfig(r.base)}
	case "resourcetypes":
		if r.method != "GET" || len(r.path) > 2 {
			return notAllowed(r)
		}
		return resourceTypes(r)
	case "schemas":
		if r.method != "GET" || len(r.path) > 2 {
			return notAllowed(r)
		}
		return schemas(r)
	case "users":
		return resources(ctx, r, userType)
	case "groups":
		return resources(ctx, r, groupType)
	case "bulk", "me":
		return scimErr(501, "", "/"+r.path[0]+" is not supported by this service provider")
	}
	return scimErr(404, "", "unknown endpoint /"+r.path[0])
}

func notAllowed(r *request) *response {
	return scimErr(405, "", "method "+r.method+" is not allowed on /"+strings.Join(r.path, "/"))
}

func spConfig(base string) map[string]any {
	c := conf()
	return map[string]any{
		"schemas":          []any{urnSPConfig},
		"documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": c.MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "Enterprise API key",
			"description": "An enterprise API key with the scim permission, sent as Authorization: Bearer gwk_…",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}

func resourceTypeJSON(rt *resourceType, base string) map[string]any {
	exts := []any{}
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.ID, "required": false})
	}
	return map[string]any{
		"schemas": []any{urnResourceType}, "id": rt.Name, "name": rt.Name, "endpoint": rt.Endpoint,
		"description": rt.Core.Desc, "schema": rt.Core.ID, "schemaExtensions": exts,
		"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + rt.Name},
	}
}

func listResponse(items []any, total, start int) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"schemas": []any{urnListResponse}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(items), "Resources": items}
}

func resourceTypes(r *request) *response {
	all := []*resourceType{userType, groupType}
	if len(r.path) == 2 {
		for _, rt := range all {
			if strings.EqualFold(rt.Name, r.path[1]) {
				return &response{status: 200, body: resourceTypeJSON(rt, r.base)}
			}
		}
		return scimErr(404, "", "unknown resource type "+r.path[1])
	}
	var items []any
	for _, rt := range all {
		items = append(items, resourceTypeJSON(rt, r.base))
	}
	return &response{status: 200, body: listResponse(items, len(items), 1)}
}

func schemas(r *request) *response {
	all := []*schemaDef{userSchema, enterpriseUserSchema, groupSchema}
	if len(r.path) == 2 {
		for _, s := range all {
			if strings.EqualFold(s.ID, r.path[1]) {
				return &response{status: 200, body: schemaJSON(s, r.base)}
			}
		}
		return scimErr(404, "", "unknown schema "+r.path[1])
	}
	var items []any
	for _, s := range all {
		items = append(items, schemaJSON(s, r.base))
	}
	return &response{status: 200, body: listResponse(items, len(items), 1)}
}

var idSeq atomic.Uint64

// newID returns a fresh resource id, formatted like a UUID: the host's
// clock, a per-instance sequence and host randomness, so that ids never
// repeat even where the random source is a test's fixed stream.
func newID() string {
	var b [16]byte
	_ = sdk.Random(b[:])
	n := uint64(sdk.Now().UnixNano())
	s := idSeq.Add(1)
	for i := range 8 {
		b[i] ^= byte(n >> (56 - 8*i))
	}
	for i := range 4 {
		b[8+i] ^= byte(s >> (24 - 8*i))
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func init() {
	sdk.SetInfo("scim", pluginVersion)
	directory.Serve(scim{})
}

func main() { sdk.Main() }
