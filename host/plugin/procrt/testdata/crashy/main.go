// Command crashy is a test plugin for procrt: a resolver whose behaviour is
// chosen by the name resolved.
package main

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

type crashy struct{}

func (crashy) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	switch name := req.Name; {
	case name == "crash":
		os.Exit(3)
	case name == "panic":
		panic("crashy: asked to panic")
	case name == "hang":
		time.Sleep(time.Hour)
	case name == "pid":
		return &abiv1.ResolveResponse{DID: strconv.Itoa(os.Getpid())}, nil
	case name == "kv":
		v, _, _, err := sdk.KV().Get(ctx, "k")
		if err != nil {
			return nil, err
		}
		return &abiv1.ResolveResponse{DID: string(v)}, nil
	case name == "secret":
		v, err := sdk.Secret("s")
		if err != nil {
			return nil, err
		}
		return &abiv1.ResolveResponse{DID: string(v)}, nil
	case name == "caps":
		cfg, err := sdk.ConfigBytes()
		if err != nil {
			return nil, err
		}
		p := make([]byte, 8)
		if err := sdk.Random(p); err != nil {
			return nil, err
		}
		sdk.Log(slog.LevelWarn, "caps called", slog.String("from", "crashy"))
		sdk.CounterAdd("calls", 1)
		return &abiv1.ResolveResponse{
			DID:         string(cfg),
			ExpiresUnix: sdk.Now().Unix(),
			Records:     map[string]string{"random": hex.EncodeToString(p)},
		}, nil
	case name == "stdout":
		os.Stdout.WriteString("hello from stdout\n")
		return &abiv1.ResolveResponse{}, nil
	case strings.HasPrefix(name, "err:"):
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s", name[4:])
	}
	return &abiv1.ResolveResponse{DID: req.Name}, nil
}

func (crashy) CheckOwnership(context.Context, *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return &abiv1.CheckOwnershipResponse{}, nil
}

func init() {
	sdk.SetInfo("crashy", "0.0.1")
	resolver.Serve(crashy{})
}

func main() { sdk.Main() }
