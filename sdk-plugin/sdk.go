// Package sdk is what a gatewayd plugin written in Go imports.
//
// A plugin implements one or more interfaces (Resolver, LMS, Directory,
// SSO), registers each from an init function with the Serve function of the
// interface's package, and calls Main from main:
//
//	import (
//		"github.com/ubeu/gateway/sdk-plugin"
//		"github.com/ubeu/gateway/sdk-plugin/resolver"
//	)
//
//	func init() { resolver.Serve(myResolver{}) }
//
//	func main() { sdk.Main() }
//
// The same source builds as a WebAssembly module,
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// and natively. In the WebAssembly build the SDK exports the ABI (see
// abi/README.md): the version marker, gatewayd_call, and, through the
// interface packages, the interface markers; its capability functions
// (HTTP, KV, Secret, Log, Now, Config, ...) call the host's imports. A
// reactor module has no main, so registration must happen in init. In the
// native build the capability functions use the Host given to SetHost, and
// Main hands the plugin to the runner given to SetRunner (the go-plugin
// transport).
//
// Plugins must not start goroutines that outlive a call: between calls the
// guest is not scheduled.
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// The plugin interfaces, as generated from the IDL.
type (
	Resolver  = abiv1.Resolver
	LMS       = abiv1.LMS
	Directory = abiv1.Directory
	SSO       = abiv1.SSO
)

// Host provides the capabilities to a plugin. In the WebAssembly build it
// is implemented with the host's imports; natively it is supplied with
// SetHost. Methods return an *abiv1.Error for failures the host reports.
type Host interface {
	HTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error)
	KVGet(ctx context.Context, req *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error)
	KVPut(ctx context.Context, req *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error)
	KVDelete(ctx context.Context, req *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error)
	KVList(ctx context.Context, req *abiv1.KVListRequest) (*abiv1.KVListResponse, error)
	SecretGet(ctx context.Context, req *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error)
	Log(level slog.Level, rec *abiv1.LogRecord)
	CounterAdd(name string, value float64)
	HistogramObserve(name string, value float64)
	NowUnixNano() int64
	RandomFill(p []byte)
	Config() []byte
}

// ErrNoHost is returned by capability functions in a native build before
// SetHost was called.
var ErrNoHost = errors.New("sdk: no host (native build without SetHost)")

var (
	name, version string
	handlers      = map[string]abiv1.Handler{}
	ifaces        []string
)

// SetInfo sets the name and version the plugin reports in Describe. By
// default they are the main module's path and version.
func SetInfo(pluginName, pluginVersion string) {
	name, version = pluginName, pluginVersion
}

// Register serves the methods of interface iface (e.g. "resolver") with h.
// Plugins call the Serve function of an interface package instead, which
// also adds the interface marker export.
func Register(iface string, h abiv1.Handler) {
	if _, ok := handlers[iface]; !ok {
		ifaces = append(ifaces, iface)
	}
	handlers[iface] = h
}

// Handler returns the plugin's handler: Describe and every registered
// interface. Natively, abiv1.HandlerTransport(sdk.Handler()) lets a
// plugin's tests call it through the generated clients.
func Handler() abiv1.Handler { return dispatch }

func dispatch(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	if method == abiv1.MethodPluginDescribe {
		return abiv1.DispatchPlugin(describer{})(ctx, method, req)
	}
	if m, ok := abiv1.LookupMethod(method); ok {
		if h := handlers[m.Interface]; h != nil {
			return h(ctx, method, req)
		}
	}
	return nil, abiv1.Unimplemented(method)
}

type describer struct{}

func (describer) Describe(context.Context, *abiv1.DescribeRequest) (*abiv1.DescribeResponse, error) {
	n, v := name, version
	if n == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			n, v = bi.Main.Path, bi.Main.Version
		}
	}
	return &abiv1.DescribeResponse{
		Name:       n,
		Version:    v,
		Interfaces: ifaces,
		ABIMinor:   abiv1.Minor,
		SDK:        "gatewayd-go-sdk " + runtime.Version(),
	}, nil
}

func currentHost() (Host, error) {
	if host == nil {
		return nil, ErrNoHost
	}
	return host, nil
}

// HTTP performs an outbound HTTP request through the host, which applies
// the plugin's allow-list and size caps (capability "http").
func HTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	h, err := currentHost()
	if err != nil {
		return nil, err
	}
	return h.HTTP(ctx, req)
}

// KVStore is the plugin's namespace of the host key-value store
// (capability "kv"). Every write gets a new version, usable for
// compare-and-swap.
type KVStore struct{}

// KV returns the plugin's key-value store.
func KV() KVStore { return KVStore{} }

// Get returns the value and version of key; ok is false if it is absent.
func (KVStore) Get(ctx context.Context, key string) (value []byte, ver uint64, ok bool, err error) {
	h, err := currentHost()
	if err != nil {
		return nil, 0, false, err
	}
	r, err := h.KVGet(ctx, &abiv1.KVGetRequest{Key: key})
	if err != nil {
		return nil, 0, false, err
	}
	return r.Value, r.Version, r.Found, nil
}

// PutCond makes a Put or Delete conditional.
type PutCond struct {
	IfVersion uint64 // when non-zero, the entry must have this version
	IfAbsent  bool   // the entry must not exist (Put only)
}

// ErrConflict is returned by Put and Delete when their condition does not
// hold.
var ErrConflict = errors.New("sdk: kv condition does not hold")

// Put stores value under key if cond holds and returns the new version.
func (KVStore) Put(ctx context.Context, key string, value []byte, cond PutCond) (uint64, error) {
	h, err := currentHost()
	if err != nil {
		return 0, err
	}
	r, err := h.KVPut(ctx, &abiv1.KVPutRequest{Key: key, Value: value, IfVersion: cond.IfVersion, IfAbsent: cond.IfAbsent})
	if err != nil {
		return 0, err
	}
	if r.Conflict {
		return 0, ErrConflict
	}
	return r.Version, nil
}

// Delete removes key if its version is ifVersion (any version if 0). It
// reports whether an entry was removed.
func (KVStore) Delete(ctx context.Context, key string, ifVersion uint64) (bool, error) {
	h, err := currentHost()
	if err != nil {
		return false, err
	}
	r, err := h.KVDelete(ctx, &abiv1.KVDeleteRequest{Key: key, IfVersion: ifVersion})
	if err != nil {
		return false, err
	}
	if r.Conflict {
		return false, ErrConflict
	}
	return r.Deleted, nil
}

// List returns up to limit entries whose key starts with prefix and sorts
// after the key after, in key order (limit 0: the host's default).
func (KVStore) List(ctx context.Context, prefix, after string, limit int) ([]*abiv1.KVItem, error) {
	h, err := currentHost()
	if err != nil {
		return nil, err
	}
	r, err := h.KVList(ctx, &abiv1.KVListRequest{Prefix: prefix, After: after, Limit: uint32(max(0, limit))})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// Secret returns the secret the operator bound to name for this plugin
// (capability "secrets").
func Secret(name string) ([]byte, error) {
	h, err := currentHost()
	if err != nil {
		return nil, err
	}
	r, err := h.SecretGet(context.Background(), &abiv1.SecretGetRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return r.Value, nil
}

// Log writes a record to the host's log (capability "log"). Attribute
// values are formatted as strings. Without a host it does nothing.
func Log(level slog.Level, msg string, attrs ...slog.Attr) {
	if host == nil {
		return
	}
	rec := &abiv1.LogRecord{Message: msg}
	if len(attrs) > 0 {
		rec.Attrs = make(map[string]string, len(attrs))
		for _, a := range attrs {
			rec.Attrs[a.Key] = a.Value.String()
		}
	}
	host.Log(level, rec)
}

// CounterAdd adds value to the plugin's counter name (capability "metrics").
func CounterAdd(name string, value float64) {
	if host != nil {
		host.CounterAdd(name, value)
	}
}

// HistogramObserve records value in the plugin's histogram name
// (capability "metrics").
func HistogramObserve(name string, value float64) {
	if host != nil {
		host.HistogramObserve(name, value)
	}
}

// Now returns the host's current time (capability "clock"). Without a host
// it returns the zero time.
func Now() time.Time {
	if host == nil {
		return time.Time{}
	}
	return time.Unix(0, host.NowUnixNano())
}

// Random fills p with random bytes from the host (capability "random").
// Without a host it returns ErrNoHost.
func Random(p []byte) error {
	if host == nil {
		return ErrNoHost
	}
	host.RandomFill(p)
	return nil
}

// ConfigBytes returns the plugin's JSON configuration (capability "config").
func ConfigBytes() ([]byte, error) {
	h, err := currentHost()
	if err != nil {
		return nil, err
	}
	return h.Config(), nil
}

// ParsedConfig keeps the plugin's configuration as parse made it, parsing
// again only when the configuration's bytes change (the host may replace
// it between calls). The zero value needs Parse set; it is safe for
// concurrent use.
type ParsedConfig[T any] struct {
	Parse func(raw []byte) (*T, error)

	mu  sync.Mutex
	raw []byte
	v   *T
}

// Get returns the parsed configuration.
func (c *ParsedConfig[T]) Get() (*T, error) {
	raw, err := ConfigBytes()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v != nil && bytes.Equal(raw, c.raw) {
		return c.v, nil
	}
	v, err := c.Parse(raw)
	if err != nil {
		return nil, err
	}
	c.raw, c.v = bytes.Clone(raw), v
	return v, nil
}

// Config decodes the plugin's JSON configuration into v.
func Config(v any) error {
	b, err := ConfigBytes()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
