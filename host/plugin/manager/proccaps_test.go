package manager

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
)

func wantCode(t *testing.T, what string, err error, code abiv1.ErrorCode) {
	t.Helper()
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != code {
		t.Errorf("%s = %v, want %v", what, err, code)
	}
}

// TestProcessCapabilities checks the process runtime's capabilities against
// the wasm runtime's rules: KV namespaced with the manifest's quota, secrets
// by grant, HTTP through the netguard allow-list, logs with plugin=<name>,
// metrics in the wasm runtime's series.
func TestProcessCapabilities(t *testing.T) {
	ctx := context.Background()
	mem := newMemKV()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	m := &Manager{log: logger, kv: mem, secrets: EnvFileSecrets{Getenv: func(k string) string {
		if k == SecretEnvVar("p", "api_key") || k == SecretEnvVar("p", "other") {
			return "s3cret"
		}
		return ""
	}}}
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Req"))
		_, _ = w.Write([]byte("hello " + r.Method))
	}))
	defer peer.Close()
	u, _ := url.Parse(peer.URL)
	port, _ := strconv.Atoi(u.Port())
	inst := &pluginpkg.Installed{
		LockEntry: pluginpkg.LockEntry{Name: "p", Grants: pluginpkg.Grants{
			Capabilities:     []string{"http", "kv", "secrets", "log", "metrics"},
			HTTPHosts:        []string{"127.0.0.1"},
			HTTPAllowPrivate: true,
			Secrets:          []string{"api_key"},
		}},
		Manifest: &pluginpkg.Manifest{Capabilities: pluginpkg.Capabilities{
			HTTP:    &pluginpkg.HTTPCapability{Allow: []pluginpkg.HTTPRule{{Scheme: "http", Host: "127.0.0.1", Port: port}}, AllowPrivate: true},
			KV:      &pluginpkg.KVCapability{MaxEntries: 2, MaxBytes: 1000},
			Secrets: []string{"api_key"},
		}},
	}
	caps, err := m.capabilities(inst)
	if err != nil {
		t.Fatal(err)
	}
	// The wasm runtime registers the guest series first: the process
	// runtime must share them.
	reg := prometheus.NewRegistry()
	if _, err := wasmrt.NewRuntime(ctx, wasmrt.Options{Registerer: reg, CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	gm, err := newGuestMetrics(reg)
	if err != nil {
		t.Fatalf("guest metrics beside the wasm runtime's: %v", err)
	}
	pc := newProcCaps("p", caps, logger, gm)

	// KV: the plugin's namespace, the manifest's quota, conflicts.
	for _, k := range []string{"a", "b"} {
		if _, err := pc.KVPut(ctx, &abiv1.KVPutRequest{Key: k, Value: []byte("v")}); err != nil {
			t.Fatalf("KVPut(%s): %v", k, err)
		}
	}
	if _, _, err := mem.Get(ctx, kvNamespace("p"), "a"); err != nil {
		t.Errorf("KV write not in namespace %s: %v", kvNamespace("p"), err)
	}
	_, err = pc.KVPut(ctx, &abiv1.KVPutRequest{Key: "c", Value: []byte("v")})
	wantCode(t, "KVPut over the quota", err, abiv1.ErrorCodeRateLimited)
	if r, err := pc.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", Value: []byte("w"), IfAbsent: true}); err != nil || !r.Conflict {
		t.Errorf("KVPut(if_absent) of an existing key = %+v, %v, want conflict", r, err)
	}
	if r, err := pc.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", Value: []byte("w")}); err != nil || r.Version == 0 {
		t.Errorf("KVPut replacing within the quota = %+v, %v", r, err)
	}
	_, err = pc.KVPut(ctx, &abiv1.KVPutRequest{Key: ""})
	wantCode(t, "KVPut(empty key)", err, abiv1.ErrorCodeInvalidArgument)
	if r, err := pc.KVGet(ctx, &abiv1.KVGetRequest{Key: "a"}); err != nil || !r.Found || string(r.Value) != "w" {
		t.Errorf("KVGet(a) = %+v, %v", r, err)
	}
	if r, err := pc.KVGet(ctx, &abiv1.KVGetRequest{Key: "zz"}); err != nil || r.Found {
		t.Errorf("KVGet(missing) = %+v, %v", r, err)
	}
	if r, err := pc.KVDelete(ctx, &abiv1.KVDeleteRequest{Key: "b"}); err != nil || !r.Deleted {
		t.Errorf("KVDelete(b) = %+v, %v", r, err)
	}

	// Secrets: only those granted, an ungranted one reported as unknown.
	if r, err := pc.SecretGet(ctx, &abiv1.SecretGetRequest{Name: "api_key"}); err != nil || string(r.Value) != "s3cret" {
		t.Errorf("SecretGet(api_key) = %+v, %v", r, err)
	}
	_, err = pc.SecretGet(ctx, &abiv1.SecretGetRequest{Name: "other"})
	wantCode(t, "SecretGet(not granted)", err, abiv1.ErrorCodeNotFound)

	// HTTP: the allowed peer answers; another host is refused.
	res, err := pc.HTTP(ctx, &abiv1.HTTPRequest{Method: "POST", URL: peer.URL + "/x", Body: []byte("b"),
		Headers: []*abiv1.Header{{Name: "X-Req", Values: []string{"42"}}}})
	if err != nil || res.Status != 200 || string(res.Body) != "hello POST" {
		t.Fatalf("HTTP to the peer = %+v, %v", res, err)
	}
	var echoed string
	for _, h := range res.Headers {
		if h.Name == "X-Echo" {
			echoed = strings.Join(h.Values, ",")
		}
	}
	if echoed != "42" {
		t.Errorf("request header not sent or response header lost: %+v", res.Headers)
	}
	_, err = pc.HTTP(ctx, &abiv1.HTTPRequest{URL: "http://localhost:" + u.Port() + "/"})
	wantCode(t, "HTTP to a host not allowed", err, abiv1.ErrorCodePermissionDenied)
	_, err = pc.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL, Body: make([]byte, capHTTPBody+1)})
	wantCode(t, "HTTP with a body over the cap", err, abiv1.ErrorCodeInvalidArgument)

	// Log: plugin=<name> set by the host, the plugin's own renamed.
	pc.Log(slog.LevelWarn, &abiv1.LogRecord{Message: "from the plugin", Attrs: map[string]string{"plugin": "spoof", "k": "v"}})
	if got := logs.String(); !strings.Contains(got, `msg="from the plugin" plugin=p k=v guest.plugin=spoof`) {
		t.Errorf("log = %s", got)
	}

	// Metrics: in the wasm runtime's series; invalid names dropped.
	pc.CounterAdd("hits", 2)
	pc.CounterAdd("Bad Name", 1)
	pc.HistogramObserve("latency", 0.5)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			if c := mt.GetCounter(); c != nil {
				series[key] = c.GetValue()
			} else if h := mt.GetHistogram(); h != nil {
				series[key] = float64(h.GetSampleCount())
			}
		}
	}
	want := map[string]float64{"gatewayd_plugin_guest_counter_total{hits,p}": 2, "gatewayd_plugin_guest_value{latency,p}": 1}
	for k, v := range want {
		if series[k] != v {
			t.Errorf("%s = %v, want %v (series %v)", k, series[k], v, series)
		}
	}
	for k := range series {
		if strings.Contains(k, "Bad") {
			t.Errorf("invalid metric name kept: %s", k)
		}
	}
}
