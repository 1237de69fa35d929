package wire

import (
	"bytes"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

func TestMessagesRoundTrip(t *testing.T) {
	c := codec{}
	req := &CallRequest{Method: 0x0101, Payload: []byte("abc"), HostBrokerID: 7}
	b, err := c.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// An unknown field (a later minor) is skipped.
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("future"))
	var got CallRequest
	if err := c.Unmarshal(b, &got); err != nil || got.Method != req.Method || !bytes.Equal(got.Payload, req.Payload) || got.HostBrokerID != 7 {
		t.Errorf("CallRequest = %+v, %v", got, err)
	}

	resp := &CallResponse{Status: abiv1.StatusError, Payload: ErrorPayload(abiv1.Errorf(abiv1.ErrorCodeNotFound, "x"))}
	b, _ = c.Marshal(resp)
	var gotResp CallResponse
	if err := c.Unmarshal(b, &gotResp); err != nil || gotResp.Status != 1 {
		t.Fatalf("CallResponse = %+v, %v", gotResp, err)
	}
	if e := DecodeError(gotResp.Payload); e.Code != abiv1.ErrorCodeNotFound || e.Message != "x" {
		t.Errorf("DecodeError = %v", e)
	}

	creq := &CapabilityRequest{Module: abiv1.KVModule, Fn: "get", Payload: []byte{1, 2}}
	b, _ = c.Marshal(creq)
	var gotCreq CapabilityRequest
	if err := c.Unmarshal(b, &gotCreq); err != nil || gotCreq.Module != creq.Module || gotCreq.Fn != "get" || !bytes.Equal(gotCreq.Payload, creq.Payload) {
		t.Errorf("CapabilityRequest = %+v, %v", gotCreq, err)
	}
	var gotCresp CapabilityResponse
	b, _ = c.Marshal(&CapabilityResponse{Status: 1, Payload: []byte("p")})
	if err := c.Unmarshal(b, &gotCresp); err != nil || gotCresp.Status != 1 || string(gotCresp.Payload) != "p" {
		t.Errorf("CapabilityResponse = %+v, %v", gotCresp, err)
	}
}

func TestMalformed(t *testing.T) {
	c := codec{}
	for _, b := range [][]byte{{0x0a}, {0x0a, 0x05, 'a'}, {0x08}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if err := c.Unmarshal(b, new(CallRequest)); err == nil {
			t.Errorf("Unmarshal(%x) succeeded", b)
		}
	}
	if _, err := c.Marshal("not a message"); err == nil {
		t.Error("Marshal(string) succeeded")
	}
	if e := DecodeError([]byte{0x0a}); e.Code != abiv1.ErrorCodeInternal {
		t.Errorf("DecodeError(malformed) = %v", e)
	}
}

func TestValueEncodings(t *testing.T) {
	level, rec, err := DecodeLog(EncodeLog(slog.LevelWarn, &abiv1.LogRecord{Message: "m", Attrs: map[string]string{"k": "v"}}))
	if err != nil || level != slog.LevelWarn || rec.Message != "m" || rec.Attrs["k"] != "v" {
		t.Errorf("log = %v %+v %v", level, rec, err)
	}
	if level, _, err := DecodeLog(EncodeLog(slog.LevelDebug, nil)); err != nil || level != slog.LevelDebug {
		t.Errorf("debug level = %v, %v", level, err)
	}
	name, v, err := DecodeMetric(EncodeMetric("calls", 2.5))
	if err != nil || name != "calls" || v != 2.5 {
		t.Errorf("metric = %q %v %v", name, v, err)
	}
	n := int64(-5)
	if got, err := DecodeUint64(EncodeUint64(uint64(n))); err != nil || int64(got) != n {
		t.Errorf("uint64 = %v, %v", int64(got), err)
	}
}
