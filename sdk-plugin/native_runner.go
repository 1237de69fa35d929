//go:build !wasip1

package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/procrt/wire"
)

// In a native build Main serves the plugin over go-plugin (gRPC) unless the
// plugin set another runner with SetRunner.
func init() {
	if runner == nil {
		runner = serveGoPlugin
	}
}

// serveGoPlugin serves h over go-plugin with the handshake and services of
// package wire, and routes the capability functions to the host. It returns
// when gatewayd stops the plugin. The process also exits when its parent
// does, so a plugin never outlives gatewayd.
func serveGoPlugin(info *abiv1.DescribeResponse, h abiv1.Handler) error {
	go exitWithParent(os.Getppid(), 500*time.Millisecond)
	srv := &nativeServer{handler: h, sem: make(chan struct{}, 1)}
	SetHost(&grpcHost{srv: srv})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: &nativePlugin{srv: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       info.Name,
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.Info,
		}),
	})
	return nil
}

// exitWithParent exits the process when its parent changes (the parent
// died and the process was re-parented).
func exitWithParent(ppid int, every time.Duration) {
	if ppid <= 1 {
		return
	}
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			fmt.Fprintln(os.Stderr, "plugin: gatewayd (parent process) is gone; exiting")
			os.Exit(2)
		}
	}
}

// nativePlugin is the plugin side of the go-plugin plugin.
type nativePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *nativeServer
}

func (p *nativePlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	p.srv.broker = b
	s.RegisterService(&wire.PluginServiceDesc, p.srv)
	return nil
}

func (p *nativePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("sdk: the plugin side has no client")
}

// nativeServer serves wire.PluginServer with the plugin's handler. Calls
// run one at a time, as in the WebAssembly build, so plugin code written
// for one builds correctly for the other without locking.
type nativeServer struct {
	handler  abiv1.Handler
	sem      chan struct{}
	broker   *plugin.GRPCBroker
	brokerID atomic.Uint32

	mu     sync.Mutex
	connID uint32
	conn   *grpc.ClientConn
}

func (s *nativeServer) Call(ctx context.Context, req *wire.CallRequest) (*wire.CallResponse, error) {
	if id := req.HostBrokerID; id != 0 && s.brokerID.Swap(id) != id {
		// Dial the host's capability service now, not at the plugin's first
		// capability call: go-plugin's broker keeps the connection info the
		// host sent for 5 seconds only, and a plugin's first capability
		// call can come minutes later (a first login long after start).
		go func() {
			if _, err := s.hostConn(); err != nil {
				fmt.Fprintf(os.Stderr, "sdk: dialling the host's capabilities: %v\n", err)
			}
		}()
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-s.sem }()
	out, err := s.handler(ctx, req.Method, req.Payload)
	if err != nil {
		return &wire.CallResponse{Status: abiv1.StatusError, Payload: wire.ErrorPayload(err)}, nil
	}
	return &wire.CallResponse{Status: abiv1.StatusOK, Payload: out}, nil
}

// hostConn returns the connection to the host's capability service,
// dialled through the broker on first use.
func (s *nativeServer) hostConn() (*grpc.ClientConn, error) {
	id := s.brokerID.Load()
	if id == 0 || s.broker == nil {
		return nil, wire.ErrNoBroker
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.connID == id {
		return s.conn, nil
	}
	conn, err := s.broker.Dial(id)
	if err != nil {
		return nil, fmt.Errorf("sdk: dial host capabilities: %w", err)
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn, s.connID = conn, id
	return conn, nil
}

// grpcHost is the Host of a plugin served over go-plugin: every capability
// is a call to the host's capability service.
type grpcHost struct{ srv *nativeServer }

// bgTimeout bounds capability calls made without a context (log,
// metrics, clock, random, config).
const bgTimeout = 10 * time.Second

func (h *grpcHost) call(ctx context.Context, module, fn string, payload []byte) ([]byte, error) {
	conn, err := h.srv.hostConn()
	if err != nil {
		return nil, &abiv1.Error{Code: abiv1.ErrorCodeUnavailable, Message: err.Error()}
	}
	resp, err := wire.CallHost(ctx, conn, &wire.CapabilityRequest{Module: module, Fn: fn, Payload: payload})
	if err != nil {
		st := status.Convert(err)
		code := abiv1.ErrorCodeUnavailable
		switch st.Code() {
		case codes.PermissionDenied:
			code = abiv1.ErrorCodePermissionDenied
		case codes.DeadlineExceeded:
			code = abiv1.ErrorCodeDeadlineExceeded
		}
		return nil, &abiv1.Error{Code: code, Message: st.Message()}
	}
	switch resp.Status {
	case abiv1.StatusOK:
		return resp.Payload, nil
	case abiv1.StatusError:
		return nil, wire.DecodeError(resp.Payload)
	default:
		return nil, &abiv1.Error{Code: abiv1.ErrorCodeInternal, Message: fmt.Sprintf("capability %s.%s: invalid status %d", module, fn, resp.Status)}
	}
}

func (h *grpcHost) bg(module, fn string, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bgTimeout)
	defer cancel()
	return h.call(ctx, module, fn, payload)
}

type wireMessage interface {
	MarshalAppend([]byte) []byte
	Size() int
	Unmarshal([]byte) error
}

// roundTrip encodes req, calls module.fn and decodes the result into resp.
func roundTrip[R any, PR interface {
	*R
	wireMessage
}](ctx context.Context, h *grpcHost, module, fn string, req wireMessage) (PR, error) {
	out, err := h.call(ctx, module, fn, req.MarshalAppend(make([]byte, 0, req.Size())))
	if err != nil {
		return nil, err
	}
	resp := PR(new(R))
	if err := resp.Unmarshal(out); err != nil {
		return nil, &abiv1.Error{Code: abiv1.ErrorCodeInternal, Message: fmt.Sprintf("%s.%s: result does not decode: %v", module, fn, err)}
	}
	return resp, nil
}

func (h *grpcHost) HTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	return roundTrip[abiv1.HTTPResponse](ctx, h, abiv1.HTTPModule, "request", req)
}

func (h *grpcHost) KVGet(ctx context.Context, req *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error) {
	return roundTrip[abiv1.KVGetResponse](ctx, h, abiv1.KVModule, "get", req)
}

func (h *grpcHost) KVPut(ctx context.Context, req *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error) {
	return roundTrip[abiv1.KVPutResponse](ctx, h, abiv1.KVModule, "put", req)
}

func (h *grpcHost) KVDelete(ctx context.Context, req *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error) {
	return roundTrip[abiv1.KVDeleteResponse](ctx, h, abiv1.KVModule, "delete", req)
}

func (h *grpcHost) KVList(ctx context.Context, req *abiv1.KVListRequest) (*abiv1.KVListResponse, error) {
	return roundTrip[abiv1.KVListResponse](ctx, h, abiv1.KVModule, "list", req)
}

func (h *grpcHost) SecretGet(ctx context.Context, req *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error) {
	return roundTrip[abiv1.SecretGetResponse](ctx, h, abiv1.SecretsModule, "get", req)
}

// Log drops the record if the host refuses it (log not granted).
func (h *grpcHost) Log(level slog.Level, rec *abiv1.LogRecord) {
	_, _ = h.bg(abiv1.LogModule, "log", wire.EncodeLog(level, rec))
}

func (h *grpcHost) CounterAdd(name string, value float64) {
	_, _ = h.bg(abiv1.MetricsModule, "counter_add", wire.EncodeMetric(name, value))
}

func (h *grpcHost) HistogramObserve(name string, value float64) {
	_, _ = h.bg(abiv1.MetricsModule, "histogram_observe", wire.EncodeMetric(name, value))
}

// NowUnixNano panics if the host refuses the call: like a WebAssembly
// module importing a capability it was not granted, the plugin cannot run.
func (h *grpcHost) NowUnixNano() int64 {
	out, err := h.bg(abiv1.ClockModule, "now_unix_nano", nil)
	if err != nil {
		panic(fmt.Sprintf("sdk: clock capability: %v", err))
	}
	v, err := wire.DecodeUint64(out)
	if err != nil {
		panic(fmt.Sprintf("sdk: clock capability: %v", err))
	}
	return int64(v)
}

// RandomFill panics if the host refuses the call or returns too few
// bytes: silently leaving p unfilled would be worse.
func (h *grpcHost) RandomFill(p []byte) {
	out, err := h.bg(abiv1.RandomModule, "fill", wire.EncodeUint64(uint64(len(p))))
	if err == nil && len(out) != len(p) {
		err = fmt.Errorf("got %d random bytes, want %d", len(out), len(p))
	}
	if err != nil {
		panic(fmt.Sprintf("sdk: random capability: %v", err))
	}
	copy(p, out)
}

// Config returns nil if the host refuses the call.
func (h *grpcHost) Config() []byte {
	out, err := h.bg(abiv1.ConfigModule, "read", nil)
	if err != nil {
		return nil
	}
	return out
}
