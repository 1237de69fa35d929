package procrt

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/procrt/wire"
)

// Host serves a plugin's capability calls. module and fn name a capability
// import of the WebAssembly ABI (abiv1.KVModule, "get"); req and the result
// are the same encoded messages (see package wire for the functions that
// take plain values). A failure is reported to the plugin as an
// abiv1.Error (see abiv1.AsError).
//
// The runtime calls Capability only for modules listed in Spec.Grants.
type Host interface {
	Capability(ctx context.Context, module, fn string, req []byte) ([]byte, error)
}

// Capabilities is the Go form of the host capabilities, the same method
// set as the SDK's sdk.Host. NewHost adapts one to a Host.
type Capabilities interface {
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

// MaxRandomFill caps one random.fill request.
const MaxRandomFill = 1 << 16

// NewHost returns a Host that decodes each capability call and serves it
// with c.
func NewHost(c Capabilities) Host { return capsHost{c} }

type capsHost struct{ c Capabilities }

type wireMessage interface {
	MarshalAppend([]byte) []byte
	Size() int
	Unmarshal([]byte) error
}

// serveMsg decodes req into a new Req, calls fn and encodes its result.
func serveMsg[Req, Resp any, PReq interface {
	*Req
	wireMessage
}, PResp interface {
	*Resp
	wireMessage
}](ctx context.Context, in []byte, fn func(context.Context, PReq) (PResp, error)) ([]byte, error) {
	req := PReq(new(Req))
	if err := req.Unmarshal(in); err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "request does not decode: %v", err)
	}
	resp, err := fn(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.MarshalAppend(make([]byte, 0, resp.Size())), nil
}

func (h capsHost) Capability(ctx context.Context, module, fn string, req []byte) ([]byte, error) {
	c := h.c
	switch module + "." + fn {
	case abiv1.HTTPModule + ".request":
		return serveMsg(ctx, req, c.HTTP)
	case abiv1.KVModule + ".get":
		return serveMsg(ctx, req, c.KVGet)
	case abiv1.KVModule + ".put":
		return serveMsg(ctx, req, c.KVPut)
	case abiv1.KVModule + ".delete":
		return serveMsg(ctx, req, c.KVDelete)
	case abiv1.KVModule + ".list":
		return serveMsg(ctx, req, c.KVList)
	case abiv1.SecretsModule + ".get":
		return serveMsg(ctx, req, c.SecretGet)
	case abiv1.LogModule + ".log":
		level, rec, err := wire.DecodeLog(req)
		if err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "log: %v", err)
		}
		c.Log(level, rec)
		return nil, nil
	case abiv1.MetricsModule + ".counter_add", abiv1.MetricsModule + ".histogram_observe":
		name, v, err := wire.DecodeMetric(req)
		if err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "metrics: %v", err)
		}
		if fn == "counter_add" {
			c.CounterAdd(name, v)
		} else {
			c.HistogramObserve(name, v)
		}
		return nil, nil
	case abiv1.ClockModule + ".now_unix_nano":
		return wire.EncodeUint64(uint64(c.NowUnixNano())), nil
	case abiv1.RandomModule + ".fill":
		n, err := wire.DecodeUint64(req)
		if err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "random: %v", err)
		}
		if n > MaxRandomFill {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "random: %d bytes requested, at most %d", n, MaxRandomFill)
		}
		p := make([]byte, n)
		c.RandomFill(p)
		return p, nil
	case abiv1.ConfigModule + ".read":
		return c.Config(), nil
	}
	return nil, abiv1.Errorf(abiv1.ErrorCodeUnimplemented, "capability %s.%s does not exist", module, fn)
}

// capServer is the host-capability gRPC service of one plugin: it refuses
// modules not granted and forwards the rest to the Host.
type capServer struct {
	plugin string
	grants map[string]bool
	host   Host
	log    *slog.Logger
}

func (s *capServer) Call(ctx context.Context, req *wire.CapabilityRequest) (*wire.CapabilityResponse, error) {
	if !s.grants[req.Module] || s.host == nil {
		s.log.Warn("plugin capability refused", "plugin", s.plugin, "module", req.Module, "fn", req.Fn)
		return nil, status.Error(codes.PermissionDenied, fmt.Sprintf("capability %s not granted to plugin %s", req.Module, s.plugin))
	}
	out, err := s.host.Capability(ctx, req.Module, req.Fn, req.Payload)
	if err != nil {
		return &wire.CapabilityResponse{Status: abiv1.StatusError, Payload: wire.ErrorPayload(err)}, nil
	}
	return &wire.CapabilityResponse{Status: abiv1.StatusOK, Payload: out}, nil
}
