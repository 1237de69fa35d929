package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// client sends SCIM requests to the plugin as the host forwards them.
type client struct {
	t   *testing.T
	dc  *abiv1.DirectoryClient
	ent string
}

type result struct {
	status int
	header map[string]string
	raw    []byte
	body   map[string]any
	events []*abiv1.DirectoryEvent
}

func (c client) do(method, target, body string, hdr ...string) result {
	c.t.Helper()
	path, query, _ := strings.Cut(target, "?")
	req := &abiv1.HandleSCIMRequest{Method: method, Path: path, Query: query, Body: []byte(body), EnterpriseID: c.ent,
		Headers: []*abiv1.Header{{Name: "X-SCIM-Base-URL", Values: []string{"https://gw.example/scim/v2/" + c.ent}}}}
	if body != "" {
		req.Headers = append(req.Headers, &abiv1.Header{Name: "Content-Type", Values: []string{"application/scim+json; charset=utf-8"}})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Headers = append(req.Headers, &abiv1.Header{Name: hdr[i], Values: []string{hdr[i+1]}})
	}
	res, err := c.dc.HandleSCIM(context.Background(), req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, target, err)
	}
	r := result{status: int(res.Status), header: map[string]string{}, raw: res.Body, events: res.Events}
	for _, h := range res.Headers {
		r.header[h.Name] = h.Values[0]
	}
	if len(res.Body) > 0 {
		if err := json.Unmarshal(res.Body, &r.body); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %q", method, target, res.Body)
		}
		if ct := r.header["Content-Type"]; ct != "application/scim+json" {
			c.t.Fatalf("%s %s: Content-Type %q", method, target, ct)
		}
	}
	return r
}

// want checks the status; on an error status it also checks the SCIM
// error body (RFC 7644 section 3.12) and its scimType.
func (r result) want(t *testing.T, status int, scimType ...string) result {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if status >= 400 {
		if s, _ := r.body["schemas"].([]any); len(s) != 1 || s[0] != urnError {
			t.Fatalf("error body without the Error schema: %s", r.raw)
		}
		if r.body["status"] != fmt.Sprint(status) {
			t.Fatalf("error status %v is not the string %q: %s", r.body["status"], fmt.Sprint(status), r.raw)
		}
		if d, _ := r.body["detail"].(string); d == "" {
			t.Fatalf("error without detail: %s", r.raw)
		}
		if len(scimType) > 0 && r.body["scimType"] != scimType[0] {
			t.Fatalf("scimType %v, want %q: %s", r.body["scimType"], scimType[0], r.raw)
		}
	}
	return r
}

func (r result) str(path string) string {
	v := dig(r.body, path)
	s, _ := v.(string)
	return s
}

// dig follows a dotted path through maps and array indexes ("emails.0.value").
func dig(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func q(filter string) string { return url.QueryEscape(filter) }

func patchBody(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

func memberIDs(r result) []string {
	var out []string
	for _, m := range elements(r.body["members"]) {
		out = append(out, m["value"].(string))
	}
	return out
}

// resetConfig makes the in-process plugin read its configuration again.
func resetConfig() { cfgOnce = sync.Once{} }

func asABIError(err error, target **abiv1.Error) bool { return errors.As(err, target) }
