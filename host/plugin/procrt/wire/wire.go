// Package wire is the gRPC protocol between gatewayd and an out-of-process
// (go-plugin) plugin. It is shared by the host runtime
// (host/plugin/procrt) and the native build of the Go SDK (sdk-plugin).
//
// The plugin service is the ABI's call framing itself:
//
//	service gatewayd.abi.v1.Plugin {
//	  rpc Call(CallRequest) returns (CallResponse);
//	}
//	message CallRequest  { uint32 method = 1; bytes payload = 2; uint32 host_broker_id = 3; }
//	message CallResponse { int32 status = 1; bytes payload = 2; }
//
// status is abiv1.StatusOK (payload: the encoded response) or
// abiv1.StatusError (payload: an encoded abiv1.Error). host_broker_id is the
// go-plugin broker ID on which the host serves its capabilities:
//
//	service gatewayd.abi.v1.Host {
//	  rpc Call(CapabilityRequest) returns (CapabilityResponse);
//	}
//	message CapabilityRequest  { string module = 1; string fn = 2; bytes payload = 3; }
//	message CapabilityResponse { int32 status = 1; bytes payload = 2; }
//
// module and fn name a capability import of the WebAssembly ABI
// (abiv1.HTTPModule and "request", abiv1.KVModule and "get", ...). The
// payloads are the same messages as there; for the functions that take or
// return plain values see EncodeLog, EncodeMetric, EncodeUint64 and
// EncodeRandom. A capability the plugin was not granted is refused with the
// gRPC code PermissionDenied.
//
// The messages are defined in the ABI's IDL (abi/v1/proto/transport.proto),
// encoded by the generated abiv1 code, and carried by a gRPC codec that is
// selected by content-subtype (CodecName), so go-plugin's own services keep
// the proto codec.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// Handshake values shared by the host and plugins.
const (
	MagicCookieKey   = "GATEWAYD_PLUGIN"
	MagicCookieValue = "8d0f3c6e2b1a4f57-gatewayd-abi"
	// PluginName is the go-plugin plugin set key.
	PluginName = "gatewayd-abi"
	// CodecName is the gRPC content-subtype of the two services.
	CodecName = "gatewayd-abi-raw"
)

// Handshake is the go-plugin handshake: the protocol version is the ABI
// major version.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  abiv1.Major,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// Full gRPC method names.
const (
	PluginCallMethod = "/gatewayd.abi.v1.Plugin/Call"
	HostCallMethod   = "/gatewayd.abi.v1.Host/Call"
)

func init() { encoding.RegisterCodec(codec{}) }

// The messages of the two services, defined in the ABI's IDL
// (abi/v1/proto/transport.proto) and generated with the rest of abiv1.
type (
	CallRequest        = abiv1.CallRequest
	CallResponse       = abiv1.CallResponse
	CapabilityRequest  = abiv1.CapabilityRequest
	CapabilityResponse = abiv1.CapabilityResponse
)

// message is implemented by the generated abiv1 messages.
type message interface {
	MarshalAppend([]byte) []byte
	Unmarshal([]byte) error
}

// codec passes the abiv1 messages through their generated encoders.
type codec struct{}

func (codec) Name() string { return CodecName }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(message)
	if !ok {
		return nil, fmt.Errorf("wire: cannot marshal %T", v)
	}
	return m.MarshalAppend(nil), nil
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(message)
	if !ok {
		return fmt.Errorf("wire: cannot unmarshal into %T", v)
	}
	return m.Unmarshal(data)
}

// PluginServer is the plugin side of the Plugin service.
type PluginServer interface {
	Call(ctx context.Context, req *CallRequest) (*CallResponse, error)
}

// HostServer is the host side of the Host (capability) service.
type HostServer interface {
	Call(ctx context.Context, req *CapabilityRequest) (*CapabilityResponse, error)
}

// PluginServiceDesc describes the Plugin service for grpc.Server.RegisterService.
var PluginServiceDesc = grpc.ServiceDesc{
	ServiceName: "gatewayd.abi.v1.Plugin",
	HandlerType: (*PluginServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := new(CallRequest)
			if err := dec(req); err != nil {
				return nil, err
			}
			return srv.(PluginServer).Call(ctx, req)
		},
	}},
	Metadata: "gatewayd/abi/v1/plugin",
}

// HostServiceDesc describes the Host service for grpc.Server.RegisterService.
var HostServiceDesc = grpc.ServiceDesc{
	ServiceName: "gatewayd.abi.v1.Host",
	HandlerType: (*HostServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := new(CapabilityRequest)
			if err := dec(req); err != nil {
				return nil, err
			}
			return srv.(HostServer).Call(ctx, req)
		},
	}},
	Metadata: "gatewayd/abi/v1/host",
}

// CallPlugin invokes Plugin.Call on conn.
func CallPlugin(ctx context.Context, conn grpc.ClientConnInterface, req *CallRequest) (*CallResponse, error) {
	resp := new(CallResponse)
	if err := conn.Invoke(ctx, PluginCallMethod, req, resp, grpc.CallContentSubtype(CodecName)); err != nil {
		return nil, err
	}
	return resp, nil
}

// CallHost invokes Host.Call on conn.
func CallHost(ctx context.Context, conn grpc.ClientConnInterface, req *CapabilityRequest) (*CapabilityResponse, error) {
	resp := new(CapabilityResponse)
	if err := conn.Invoke(ctx, HostCallMethod, req, resp, grpc.CallContentSubtype(CodecName)); err != nil {
		return nil, err
	}
	return resp, nil
}

// EncodeLog encodes the payload of log.log (abiv1.LogCall).
func EncodeLog(level slog.Level, rec *abiv1.LogRecord) []byte {
	return (&abiv1.LogCall{Level: int64(level), Record: rec}).MarshalAppend(nil)
}

// DecodeLog decodes the payload of log.log.
func DecodeLog(b []byte) (slog.Level, *abiv1.LogRecord, error) {
	var m abiv1.LogCall
	if err := m.Unmarshal(b); err != nil {
		return 0, nil, fmt.Errorf("wire: log: %w", err)
	}
	if m.Record == nil {
		m.Record = new(abiv1.LogRecord)
	}
	return slog.Level(m.Level), m.Record, nil
}

// EncodeMetric encodes the payload of metrics.counter_add and
// metrics.histogram_observe (abiv1.MetricSample).
func EncodeMetric(name string, value float64) []byte {
	return (&abiv1.MetricSample{Name: name, Value: value}).MarshalAppend(nil)
}

// DecodeMetric decodes the payload of a metrics function.
func DecodeMetric(b []byte) (name string, value float64, err error) {
	var m abiv1.MetricSample
	if err := m.Unmarshal(b); err != nil {
		return "", 0, fmt.Errorf("wire: metric: %w", err)
	}
	return m.Name, m.Value, nil
}

// EncodeUint64 encodes an abiv1.Uint64Value: the result of
// clock.now_unix_nano (the int64 as two's complement) and the request of
// random.fill (the number of bytes wanted). The result of random.fill and
// of config.read is the raw bytes; their other payloads are empty.
func EncodeUint64(v uint64) []byte { return (&abiv1.Uint64Value{Value: v}).MarshalAppend(nil) }

// DecodeUint64 decodes what EncodeUint64 encodes.
func DecodeUint64(b []byte) (uint64, error) {
	var m abiv1.Uint64Value
	if err := m.Unmarshal(b); err != nil {
		return 0, fmt.Errorf("wire: uint64: %w", err)
	}
	return m.Value, nil
}

// ErrorPayload encodes err as the payload of a StatusError response.
func ErrorPayload(err error) []byte { return abiv1.AsError(err).MarshalAppend(nil) }

// DecodeError decodes the payload of a StatusError response. A payload
// that does not decode is reported as such, wrapped in an *abiv1.Error of
// code INTERNAL.
func DecodeError(b []byte) *abiv1.Error {
	e := new(abiv1.Error)
	if err := e.Unmarshal(b); err != nil {
		return &abiv1.Error{Code: abiv1.ErrorCodeInternal, Message: "error does not decode: " + err.Error()}
	}
	return e
}

// ErrNoBroker is returned by a plugin's capability call before the host
// told it where its capabilities are served.
var ErrNoBroker = errors.New("wire: host capability broker ID unknown")
