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
// The messages are encoded with protowire and carried by a gRPC codec that
// is selected by content-subtype (CodecName), so no generated code is
// needed and go-plugin's own services keep the proto codec.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protowire"

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

// message is implemented by the four messages of this package.
type message interface {
	appendWire([]byte) []byte
	unmarshalWire([]byte) error
}

// codec passes the messages of this package through protowire.
type codec struct{}

func (codec) Name() string { return CodecName }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(message)
	if !ok {
		return nil, fmt.Errorf("wire: cannot marshal %T", v)
	}
	return m.appendWire(nil), nil
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(message)
	if !ok {
		return fmt.Errorf("wire: cannot unmarshal into %T", v)
	}
	return m.unmarshalWire(data)
}

// CallRequest is one ABI call from the host to the plugin.
type CallRequest struct {
	Method       uint32
	Payload      []byte
	HostBrokerID uint32
}

// CallResponse is the plugin's answer.
type CallResponse struct {
	Status  int32
	Payload []byte
}

// CapabilityRequest is one capability call from the plugin to the host.
type CapabilityRequest struct {
	Module  string
	Fn      string
	Payload []byte
}

// CapabilityResponse is the host's answer: Status is abiv1.StatusOK or
// abiv1.StatusError (Payload is then an encoded abiv1.Error).
type CapabilityResponse struct {
	Status  int32
	Payload []byte
}

func (m *CallRequest) appendWire(b []byte) []byte {
	b = appendUint(b, 1, uint64(m.Method))
	b = appendBytes(b, 2, m.Payload)
	return appendUint(b, 3, uint64(m.HostBrokerID))
}

func (m *CallRequest) unmarshalWire(b []byte) error {
	*m = CallRequest{}
	return walk(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) {
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Method = uint32(v)
		case num == 2 && typ == protowire.BytesType:
			m.Payload = p
		case num == 3 && typ == protowire.VarintType:
			m.HostBrokerID = uint32(v)
		}
	})
}

func (m *CallResponse) appendWire(b []byte) []byte {
	b = appendUint(b, 1, uint64(int64(m.Status)))
	return appendBytes(b, 2, m.Payload)
}

func (m *CallResponse) unmarshalWire(b []byte) error {
	*m = CallResponse{}
	return walk(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) {
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Status = int32(v)
		case num == 2 && typ == protowire.BytesType:
			m.Payload = p
		}
	})
}

func (m *CapabilityRequest) appendWire(b []byte) []byte {
	b = appendString(b, 1, m.Module)
	b = appendString(b, 2, m.Fn)
	return appendBytes(b, 3, m.Payload)
}

func (m *CapabilityRequest) unmarshalWire(b []byte) error {
	*m = CapabilityRequest{}
	return walk(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) {
		switch {
		case num == 1 && typ == protowire.BytesType:
			m.Module = string(p)
		case num == 2 && typ == protowire.BytesType:
			m.Fn = string(p)
		case num == 3 && typ == protowire.BytesType:
			m.Payload = p
		}
	})
}

func (m *CapabilityResponse) appendWire(b []byte) []byte {
	b = appendUint(b, 1, uint64(int64(m.Status)))
	return appendBytes(b, 2, m.Payload)
}

func (m *CapabilityResponse) unmarshalWire(b []byte) error {
	*m = CapabilityResponse{}
	return walk(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) {
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Status = int32(v)
		case num == 2 && typ == protowire.BytesType:
			m.Payload = p
		}
	})
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// walk calls f for every field of b: v is the value of varint and fixed
// fields, p the contents of length-delimited ones (aliasing b). Unknown
// fields are skipped; malformed input is an error.
func walk(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, p []byte)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("wire: bad tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v uint64
		var p []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.BytesType:
			p, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("wire: field %d: %w", num, protowire.ParseError(n))
		}
		f(num, typ, v, p)
		b = b[n:]
	}
	return nil
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

// EncodeLog encodes the payload of log.log: { sint64 level = 1; LogRecord record = 2; }.
func EncodeLog(level slog.Level, rec *abiv1.LogRecord) []byte {
	var b []byte
	if level != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(level)))
	}
	if rec != nil {
		b = appendBytes(b, 2, rec.MarshalAppend(nil))
	}
	return b
}

// DecodeLog decodes the payload of log.log.
func DecodeLog(b []byte) (slog.Level, *abiv1.LogRecord, error) {
	var level int64
	var recBytes []byte
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) {
		switch {
		case num == 1 && typ == protowire.VarintType:
			level = protowire.DecodeZigZag(v)
		case num == 2 && typ == protowire.BytesType:
			recBytes = p
		}
	})
	if err != nil {
		return 0, nil, err
	}
	rec := new(abiv1.LogRecord)
	if err := rec.Unmarshal(recBytes); err != nil {
		return 0, nil, fmt.Errorf("wire: log record: %w", err)
	}
	return slog.Level(level), rec, nil
}

// EncodeMetric encodes the payload of metrics.counter_add and
// metrics.histogram_observe: { string name = 1; double value = 2; }.
func EncodeMetric(name string, value float64) []byte {
	return appendDouble(appendString(nil, 1, name), 2, value)
}

// DecodeMetric decodes the payload of a metrics function.
func DecodeMetric(b []byte) (name string, value float64, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) {
		switch {
		case num == 1 && typ == protowire.BytesType:
			name = string(p)
		case num == 2 && typ == protowire.Fixed64Type:
			value = math.Float64frombits(v)
		}
	})
	return name, value, err
}

// EncodeUint64 encodes { uint64 value = 1; }: the result of
// clock.now_unix_nano (the int64 as two's complement) and the request of
// random.fill (the number of bytes wanted). The result of random.fill and
// of config.read is the raw bytes; their other payloads are empty.
func EncodeUint64(v uint64) []byte { return appendUint(nil, 1, v) }

// DecodeUint64 decodes what EncodeUint64 encodes.
func DecodeUint64(b []byte) (uint64, error) {
	var x uint64
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) {
		if num == 1 && typ == protowire.VarintType {
			x = v
		}
	})
	return x, err
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
