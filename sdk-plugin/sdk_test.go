//go:build !wasip1

package sdk_test

import (
	"context"
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
