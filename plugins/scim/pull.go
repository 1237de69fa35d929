package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// remoteConfig is an enterprise's remote directory (PullChangesRequest.
// RemoteConfig): the base URL of its SCIM endpoint and the bearer token
// the host keeps sealed and hands over for the call.
type remoteConfig struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// pullCursor is where a pull resumes: the lastModified watermark of the
// changes already seen, the page of the current pass and the highest
// lastModified of this pass.
type pullCursor struct {
	Since string `json:"since,omitempty"`
	Start int    `json:"start,omitempty"`
	High  string `json:"high,omitempty"`
}

func decodeCursor(s string) (pullCursor, error) {
	var c pullCursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor does not decode")
	}
	if c.Since != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.Since); err != nil {
			return c, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor: bad watermark")
		}
	}
	return c, nil
}

func (c pullCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// PullChanges reads the users changed on the remote SCIM endpoint since
// the cursor: GET <url>/Users?filter=meta.lastModified gt "<since>",
// paged with startIndex and count (RFC 7644 section 3.4.2). Each user is
// an UPDATED event (DEACTIVATED when it is inactive); the host creates the
// members it does not know yet. A remote deletion is not visible to a
// delta query: the remote directory deactivates before it deletes.
func (scim) PullChanges(ctx context.Context, req *abiv1.PullChangesRequest) (*abiv1.PullChangesResponse, error) {
	var rc remoteConfig
	if err := json.Unmarshal(req.RemoteConfig, &rc); err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "remote config is not JSON")
	}
	u, err := url.Parse(rc.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "remote config: url must be an http(s) URL")
	}
	cur, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	if size <= 0 || size > conf().MaxResults {
		size = min(100, conf().MaxResults)
	}
	start := max(cur.Start, 1)
	q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(size)}}
	if cur.Since != "" {
		q.Set("filter", `meta.lastModified gt "`+cur.Since+`"`)
	}
	hreq := &abiv1.HTTPRequest{Method: "GET", URL: strings.TrimRight(rc.URL, "/") + "/Users?" + q.Encode(),
		Headers: []*abiv1.Header{{Name: "Accept", Values: []string{"application/scim+json"}}}}
	if rc.Token != "" {
		hreq.Headers = append(hreq.Headers, &abiv1.Header{Name: "Authorization", Values: []string{"Bearer " + rc.Token}})
	}
	res, err := sdk.HTTP(ctx, hreq)
	if err != nil {
		return nil, err
	}
	switch {
	case res.Status == 401 || res.Status == 403:
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "remote SCIM endpoint refused the token (HTTP %d)", res.Status)
	case res.Status == 429:
		return nil, abiv1.Errorf(abiv1.ErrorCodeRateLimited, "remote SCIM endpoint is rate limiting")
	case res.Status != 200:
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "remote SCIM endpoint answered HTTP %d", res.Status)
	}
	d := json.NewDecoder(bytes.NewReader(res.Body))
	d.UseNumber()
	var lr struct {
		TotalResults int              `json:"totalResults"`
		Resources    []map[string]any `json:"Resources"`
	}
	if err := d.Decode(&lr); err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "remote SCIM endpoint answered something that is not a ListResponse")
	}
	out := &abiv1.PullChangesResponse{}
	high := cur.High
	for _, raw := range lr.Resources {
		id, _ := raw["id"].(string)
		if !validID(id) {
			continue
		}
		res, err := normalize(userType, stripUnknown(raw))
		if err != nil {
			sdk.Log(slog.LevelWarn, "skipping a remote user that does not validate", slog.String("id", id), slog.String("err", err.Error()))
			continue
		}
		action := abiv1.EventActionUpdated
		if !isActive(res) {
			action = abiv1.EventActionDeactivated
		}
		out.Events = append(out.Events, event(userType, action, id, res))
		if meta, ok := raw["meta"].(map[string]any); ok {
			if lm, ok := meta["lastModified"].(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, lm); err == nil {
					if h, err := time.Parse(time.RFC3339Nano, high); err != nil || t.After(h) {
						high = t.UTC().Format(time.RFC3339Nano)
					}
				}
			}
		}
	}
	next := start + len(lr.Resources)
	if len(lr.Resources) > 0 && next <= lr.TotalResults {
		out.More = true
		out.NextCursor = pullCursor{Since: cur.Since, Start: next, High: high}.encode()
	} else {
		since := cur.Since
		if high != "" {
			since = high
		}
		out.NextCursor = pullCursor{Since: since}.encode()
	}
	sdk.CounterAdd("scim_pull_events_total", float64(len(out.Events)))
	return out, nil
}

// stripUnknown keeps the attributes this provider knows of a remote
// resource (an HR system may carry extensions of its own).
func stripUnknown(raw map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range raw {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		if userSchema.attr(k) != nil || commonAttr(k) != nil || userType.extension(k) != nil {
			out[k] = v
		}
	}
	return out
}
