//go:build !wasip1

package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	sdk "github.com/ubeu/gateway/sdk-plugin"
)

func TestNoHost(t *testing.T) {
	sdk.SetHost(nil)
	if _, err := sdk.Secret("x"); !errors.Is(err, sdk.ErrNoHost) {
		t.Errorf("Secret without host: %v", err)
	}
	if _, _, _, err := sdk.KV().Get(context.Background(), "k"); !errors.Is(err, sdk.ErrNoHost) {
		t.Errorf("KV.Get without host: %v", err)
	}
	var v any
	if err := sdk.Config(&v); !errors.Is(err, sdk.ErrNoHost) {
		t.Errorf("Config without host: %v", err)
	}
	if !sdk.Now().IsZero() {
		t.Error("Now without host is not zero")
	}
	sdk.Log(0, "dropped") // must not panic
}

// configHost is a Host whose only capability is its configuration.
type configHost struct {
	sdk.Host
	cfg []byte
}

func (h *configHost) Config() []byte { return h.cfg }

func TestParsedConfig(t *testing.T) {
	h := &configHost{cfg: []byte(`{"n": 1}`)}
	sdk.SetHost(h)
	defer sdk.SetHost(nil)
	parses := 0
	pc := sdk.ParsedConfig[map[string]any]{Parse: func(raw []byte) (*map[string]any, error) {
		parses++
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		return &m, nil
	}}
	for range 3 {
		if m, err := pc.Get(); err != nil || (*m)["n"] != float64(1) {
			t.Fatalf("Get = %v, %v", m, err)
		}
	}
	if parses != 1 {
		t.Fatalf("%d parses of one configuration", parses)
	}
	h.cfg = []byte(`{"n": 2}`)
	if m, err := pc.Get(); err != nil || (*m)["n"] != float64(2) || parses != 2 {
		t.Fatalf("after a change: %v, %v, %d parses", m, err, parses)
	}
	h.cfg = []byte(`not json`)
	if _, err := pc.Get(); err == nil {
		t.Fatal("a configuration that does not parse was accepted")
	}
}
