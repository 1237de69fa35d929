package abiv1_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

type msg interface {
	Size() int
	MarshalAppend([]byte) []byte
	Unmarshal([]byte) error
}

// samples returns fully populated messages of every kind of field.
func samples() map[string]msg {
	return map[string]msg{
		"ResolveResponse": &abiv1.ResolveResponse{
			Owners:           []*abiv1.Address{{Chain: "eip155:1", Address: "0xabc"}, {}, {Chain: "x"}},
			Records:          map[string]string{"email": "a@b.c", "": "empty key", "empty": ""},
			DID:              "did:example:ü",
			ResolverContract: &abiv1.Address{Chain: "eip155:1", Address: "0xdef"},
			ExpiresUnix:      -5,
		},
		"Error": &abiv1.Error{Code: abiv1.ErrorCodeRateLimited, Message: "slow down", Retryable: true, Details: map[string]string{"retry_after": "3s"}},
		"Completion": &abiv1.Completion{
			LearnerExternalID: "l1", Email: "l@x", CompletedAtUnix: 1 << 40, Grade: 0.75, HasGrade: true, CourseID: "c1",
		},
		"HandleSCIMResponse": &abiv1.HandleSCIMResponse{
			Status:  -201,
			Headers: []*abiv1.Header{{Name: "Location", Values: []string{"/Users/1", ""}}},
			Body:    []byte{0, 1, 2},
			Events: []*abiv1.DirectoryEvent{{
				Kind: abiv1.ObjectKindGroup, Action: abiv1.EventActionDeactivated, ID: "g1",
				Attributes: map[string]string{"displayName": "Ops"}, MemberIDs: []string{"u1", "u2"}, OccurredAtUnixNano: math.MaxInt64,
			}, {Kind: abiv1.ObjectKind(77)}},
		},
		"ListCompletionsRequest": &abiv1.ListCompletionsRequest{CourseID: "c", SinceCursor: "cur", PageSize: math.MaxUint32},
		"KVPutRequest":           &abiv1.KVPutRequest{Key: "k", Value: []byte("v"), IfVersion: math.MaxUint64, IfAbsent: true},
		"BeginLoginResponse":     &abiv1.BeginLoginResponse{PostForm: &abiv1.PostForm{Action: "https://idp/sso", Fields: map[string]string{"SAMLRequest": "PHNhbWw+"}}, RequestID: "id1"},
		"ConsumeResponseResponse": &abiv1.ConsumeResponseResponse{Identity: &abiv1.Identity{
			Subject: "s", Attributes: []*abiv1.Attribute{{Name: "groups", Values: []string{"a", "b"}}}, SessionNotOnOrAfterUnix: 1,
		}},
		"DescribeResponse": &abiv1.DescribeResponse{Name: "n", Version: "v", Interfaces: []string{"resolver"}, ABIMinor: 3, Features: []string{"f"}},
	}
}

func newOf(m msg) msg { return reflect.New(reflect.TypeOf(m).Elem()).Interface().(msg) }

func TestRoundTrip(t *testing.T) {
	for name, m := range samples() {
		b := m.MarshalAppend([]byte("prefix"))
		if !strings.HasPrefix(string(b), "prefix") || len(b)-6 != m.Size() {
			t.Errorf("%s: MarshalAppend wrote %d bytes, Size says %d", name, len(b)-6, m.Size())
		}
		got := newOf(m)
		if err := got.Unmarshal(b[6:]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, m)
		}
	}
}

// TestMatchesProtobuf checks the generated encoding against the reference
// implementation: every field we write is known to it with the right wire
// type, and what it writes decodes to the same message.
func TestMatchesProtobuf(t *testing.T) {
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{ImportPaths: []string{"proto"}}}
	files, err := c.Compile(context.Background(), "plugin.proto", "resolver.proto", "lms.proto", "directory.proto", "sso.proto", "capabilities.proto")
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range samples() {
		var md protoreflect.MessageDescriptor
		for _, f := range files {
			if d := f.Messages().ByName(protoreflect.Name(name)); d != nil {
				md = d
			}
		}
		if md == nil {
			t.Fatalf("no descriptor for %s", name)
		}
		dm := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(m.MarshalAppend(nil), dm); err != nil {
			t.Fatalf("%s: protobuf cannot decode our encoding: %v", name, err)
		}
		var unknown func(protoreflect.Message) bool
		unknown = func(pm protoreflect.Message) bool {
			if len(pm.GetUnknown()) > 0 {
				return true
			}
			found := false
			pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
				switch {
				case fd.IsList() && fd.Message() != nil:
					for i := range v.List().Len() {
						found = found || unknown(v.List().Get(i).Message())
					}
				case fd.Message() != nil && !fd.IsMap():
					found = found || unknown(v.Message())
				}
				return !found
			})
			return found
		}
		if unknown(dm) {
			t.Errorf("%s: protobuf sees unknown fields in our encoding", name)
		}
		ref, err := proto.Marshal(dm)
		if err != nil {
			t.Fatal(err)
		}
		got := newOf(m)
		if err := got.Unmarshal(ref); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%s: decoding protobuf's encoding: %v\n got %+v\nwant %+v", name, err, got, m)
		}
	}
}

func TestUnknownFieldsAndWireTypes(t *testing.T) {
	want := &abiv1.ResolveRequest{Name: "a.eth", Networks: []string{"n"}}
	b := want.MarshalAppend(nil)
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, 1<<60)
	b = protowire.AppendTag(b, 100, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("future"))
	b = protowire.AppendTag(b, 101, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 7)
	b = protowire.AppendTag(b, 102, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 103, protowire.StartGroupType)
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 103, protowire.EndGroupType)
	// A known field number with another wire type is skipped too.
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 5)
	got := new(abiv1.ResolveRequest)
	if err := got.Unmarshal(b); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
}

func TestEmbeddedMessagesMerge(t *testing.T) {
	a := (&abiv1.ResolveResponse{ResolverContract: &abiv1.Address{Chain: "c"}}).MarshalAppend(nil)
	b := (&abiv1.ResolveResponse{ResolverContract: &abiv1.Address{Address: "a"}}).MarshalAppend(nil)
	got := new(abiv1.ResolveResponse)
	if err := got.Unmarshal(append(a, b...)); err != nil {
		t.Fatal(err)
	}
	if got.ResolverContract.Chain != "c" || got.ResolverContract.Address != "a" {
		t.Errorf("ResolverContract = %+v, want merged {c a}", got.ResolverContract)
	}
}

func TestUnmarshalResets(t *testing.T) {
	m := &abiv1.ResolveRequest{Name: "old", Networks: []string{"x"}}
	if err := m.Unmarshal(nil); err != nil || m.Name != "" || m.Networks != nil {
		t.Errorf("Unmarshal(nil) left %+v, %v", m, err)
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	b := (&abiv1.HTTPResponse{Body: []byte("body")}).MarshalAppend(nil)
	m := new(abiv1.HTTPResponse)
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if string(m.Body) != "body" {
		t.Errorf("Body = %q after overwriting the input", m.Body)
	}
}

func TestMalformed(t *testing.T) {
	valid := (&abiv1.ResolveResponse{Owners: []*abiv1.Address{{Chain: "c"}}, Records: map[string]string{"k": "v"}}).MarshalAppend(nil)
	cases := map[string][]byte{
		"zero field number": {0x00, 0x01},
		"truncated varint":  {0x28, 0x80},
		"truncated length":  {0x1a, 0x05, 'a'},
		"invalid utf-8":     {0x1a, 0x02, 0xff, 0xfe},
		"bad nested":        {0x0a, 0x02, 0x0a, 0x05},
		"bad map entry":     {0x12, 0x03, 0x0a, 0x05, 'k'},
		"utf-8 in map":      {0x12, 0x04, 0x0a, 0x02, 0xc3, 0x28},
		"end group":         {0x0c},
		"overflow varint":   {0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for i := 1; i < len(valid); i++ {
		if (valid[:i][len(valid[:i])-1]) != 0 { // truncations of a valid message
			cases["prefix "+string(rune('0'+i%10))+string(rune('a'+i/10))] = valid[:i]
		}
	}
	for name, b := range cases {
		if err := new(abiv1.ResolveResponse).Unmarshal(b); err == nil {
			// Some prefixes end on a field boundary and are valid.
			if strings.HasPrefix(name, "prefix") {
				continue
			}
			t.Errorf("%s: no error", name)
		}
	}
}

func TestErrorValues(t *testing.T) {
	e := abiv1.Errorf(abiv1.ErrorCodeNotFound, "no %s", "name")
	if e.Error() != "plugin: NOT_FOUND: no name" {
		t.Errorf("Error() = %q", e.Error())
	}
	if !errors.Is(e, &abiv1.Error{Code: abiv1.ErrorCodeNotFound}) || errors.Is(e, &abiv1.Error{Code: abiv1.ErrorCodeInternal}) {
		t.Error("errors.Is does not compare codes")
	}
	if got := abiv1.AsError(errors.New("boom")); got.Code != abiv1.ErrorCodeUnknown || got.Message != "boom" {
		t.Errorf("AsError = %+v", got)
	}
	wrapped := errors.Join(errors.New("ctx"), e)
	if abiv1.AsError(wrapped) != e || abiv1.AsError(nil) != nil {
		t.Error("AsError does not unwrap")
	}
	if s := abiv1.ErrorCode(42).String(); s != "ErrorCode(42)" {
		t.Errorf("unknown code String() = %q", s)
	}
	pe := &abiv1.PluginError{Method: abiv1.MethodResolverResolve, Reason: "trap", Err: context.DeadlineExceeded}
	if !errors.Is(pe, context.DeadlineExceeded) || pe.Error() != "plugin_error: Resolver.Resolve: trap: context deadline exceeded" {
		t.Errorf("PluginError = %q", pe.Error())
	}
}

func TestVersionExport(t *testing.T) {
	if abiv1.VersionExport(0) != "gatewayd_abi_v1_0" {
		t.Error(abiv1.VersionExport(0))
	}
	for name, want := range map[string][3]int{
		"gatewayd_abi_v1_0": {1, 0, 1}, "gatewayd_abi_v1_12": {1, 12, 1}, "gatewayd_abi_v2_3": {2, 3, 1},
		"gatewayd_abi_v1_01": {}, "gatewayd_abi_v1": {}, "gatewayd_abi_v1_": {}, "gatewayd_abi_v_1": {},
		"gatewayd_abi_v1_x": {}, "gatewayd_iface_resolver": {}, "gatewayd_abi_v1_0_1": {},
	} {
		maj, min, ok := abiv1.ParseVersionExport(name)
		okI := 0
		if ok {
			okI = 1
		}
		if got := [3]int{maj, min, okI}; ok != (want[2] == 1) || (ok && got != want) {
			t.Errorf("ParseVersionExport(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMethods(t *testing.T) {
	seen := map[uint32]bool{}
	for _, m := range abiv1.Methods {
		if seen[m.ID] {
			t.Errorf("duplicate ID %#x", m.ID)
		}
		seen[m.ID] = true
		if got, ok := abiv1.LookupMethod(m.ID); !ok || got != m {
			t.Errorf("LookupMethod(%#x) = %v, %v", m.ID, got, ok)
		}
	}
	if abiv1.MethodResolverResolve != 0x0101 || abiv1.MethodPluginDescribe != 0x0001 || abiv1.MethodSSOMetadata != 0x0403 {
		t.Error("method IDs changed: they are permanent")
	}
	if abiv1.MethodName(0x0101) != "Resolver.Resolve" || abiv1.MethodName(0x7777) != "method(0x7777)" {
		t.Error(abiv1.MethodName(0x0101), abiv1.MethodName(0x7777))
	}
}

type fakeResolver struct{}

func (fakeResolver) Resolve(_ context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	if req.Name == "" {
		return nil, errors.New("empty name")
	}
	return &abiv1.ResolveResponse{DID: "did:" + req.Name}, nil
}

func (fakeResolver) CheckOwnership(context.Context, *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "down")
}

func TestDispatchAndClient(t *testing.T) {
	ctx := context.Background()
	c := abiv1.NewResolverClient(abiv1.HandlerTransport(abiv1.DispatchResolver(fakeResolver{})))
	if r, err := c.Resolve(ctx, &abiv1.ResolveRequest{Name: "x"}); err != nil || r.DID != "did:x" {
		t.Errorf("Resolve = %+v, %v", r, err)
	}
	var e *abiv1.Error
	if _, err := c.Resolve(ctx, &abiv1.ResolveRequest{}); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeUnknown || e.Message != "empty name" {
		t.Errorf("Resolve error = %v", err)
	}
	if _, err := c.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{}); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeUnavailable {
		t.Errorf("CheckOwnership error = %v", err)
	}
	h := abiv1.DispatchResolver(fakeResolver{})
	if _, err := h(ctx, abiv1.MethodSSOMetadata, nil); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeUnimplemented {
		t.Errorf("other method: %v", err)
	}
	if _, err := h(ctx, abiv1.MethodResolverResolve, []byte{0xff}); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeInvalidArgument {
		t.Errorf("bad request: %v", err)
	}
	// A response that does not decode is an ABI failure.
	bad := abiv1.HandlerTransport(func(context.Context, uint32, []byte) ([]byte, error) { return []byte{0x0a, 0x09}, nil })
	var pe *abiv1.PluginError
	if _, err := abiv1.NewResolverClient(bad).Resolve(ctx, &abiv1.ResolveRequest{}); !errors.As(err, &pe) {
		t.Errorf("undecodable output: %v, want *PluginError", err)
	}
	// WithOutputBuffer: the response is encoded into the given buffer.
	buf := make([]byte, 0, 256)
	out, err := h(abiv1.WithOutputBuffer(ctx, &buf), abiv1.MethodResolverResolve, (&abiv1.ResolveRequest{Name: "y"}).MarshalAppend(nil))
	if err != nil || &out[0] != &buf[:1][0] {
		t.Errorf("WithOutputBuffer: response not in the buffer (%v)", err)
	}
}
