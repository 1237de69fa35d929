// Command sdkcaps is a test guest built with the plugin SDK. It serves the
// resolver interface: Resolve runs the command named by ResolveRequest.Name
// with ResolveRequest.Networks as arguments and reports what happened in
// ResolveResponse.Records. Capability failures are reported there too
// ("error_code", "error", "error_reason"), so the call itself succeeds.
//
// Commands:
//
//	all <url>              every capability once (see runAll)
//	http <url> [method]    one HTTP request
//	kvput <key> <value>    one unconditional KV put
//	secret <name>          one secret
//	panic                  panics (a trap on the host)
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

type caps struct{}

func (caps) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	out := map[string]string{}
	arg := func(i int) string {
		if i < len(req.Networks) {
			return req.Networks[i]
		}
		return ""
	}
	switch req.Name {
	case "all":
		runAll(ctx, arg(0), out)
	case "http":
		doHTTP(ctx, arg(0), arg(1), out)
	case "kvput":
		v, err := sdk.KV().Put(ctx, arg(0), []byte(arg(1)), sdk.PutCond{})
		report(out, "", err)
		out["version"] = strconv.FormatUint(v, 10)
	case "secret":
		v, err := sdk.Secret(arg(0))
		report(out, "", err)
		out["value"] = string(v)
	case "panic":
		panic("sdkcaps: asked to panic")
	default:
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "unknown command %q", req.Name)
	}
	return &abiv1.ResolveResponse{Records: out}, nil
}

func (caps) CheckOwnership(context.Context, *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return &abiv1.CheckOwnershipResponse{}, nil
}

// report records err under prefix: its code, message and reason detail.
func report(out map[string]string, prefix string, err error) {
	if err == nil {
		return
	}
	var e *abiv1.Error
	if errors.As(err, &e) {
		out[prefix+"error_code"] = strconv.Itoa(int(e.Code))
		out[prefix+"error_reason"] = e.Details["reason"]
	}
	out[prefix+"error"] = err.Error()
}

func doHTTP(ctx context.Context, url, method string, out map[string]string) {
	res, err := sdk.HTTP(ctx, &abiv1.HTTPRequest{
		Method:  method,
		URL:     url,
		Headers: []*abiv1.Header{{Name: "X-Guest", Values: []string{"sdkcaps"}}},
	})
	report(out, "", err)
	if err == nil {
		out["status"] = strconv.Itoa(int(res.Status))
		out["body"] = string(res.Body)
		for _, h := range res.Headers {
			out["header."+h.Name] = strings.Join(h.Values, ",")
		}
	}
}

// runAll uses every capability once and records the results under
// "<step>.<what>".
func runAll(ctx context.Context, url string, out map[string]string) {
	doHTTP(ctx, url, "", out)

	kv := sdk.KV()
	v1, err := kv.Put(ctx, "k1", []byte("one"), sdk.PutCond{IfAbsent: true})
	report(out, "put1.", err)
	_, err = kv.Put(ctx, "k1", []byte("again"), sdk.PutCond{IfAbsent: true})
	out["put_absent_conflict"] = strconv.FormatBool(errors.Is(err, sdk.ErrConflict))
	v2, err := kv.Put(ctx, "k1", []byte("two"), sdk.PutCond{IfVersion: v1})
	report(out, "put2.", err)
	_, err = kv.Put(ctx, "k1", []byte("stale"), sdk.PutCond{IfVersion: v1})
	out["put_stale_conflict"] = strconv.FormatBool(errors.Is(err, sdk.ErrConflict))
	val, ver, ok, err := kv.Get(ctx, "k1")
	report(out, "get1.", err)
	out["get1"] = fmt.Sprintf("%s/%t/%t", val, ok, ver == v2 && v2 > v1)
	v3, err := kv.Put(ctx, "k2", []byte("deux"), sdk.PutCond{})
	report(out, "put3.", err)
	if _, err := kv.Put(ctx, "other", []byte("x"), sdk.PutCond{}); err != nil {
		report(out, "put4.", err)
	}
	items, err := kv.List(ctx, "k", "", 0)
	report(out, "list1.", err)
	out["list1"] = listString(items)
	items, err = kv.List(ctx, "k", "k1", 1)
	report(out, "list2.", err)
	out["list2"] = listString(items)
	_, err = kv.Delete(ctx, "k2", v3+1)
	out["delete_stale_conflict"] = strconv.FormatBool(errors.Is(err, sdk.ErrConflict))
	deleted, err := kv.Delete(ctx, "k2", v3)
	report(out, "delete.", err)
	out["deleted"] = strconv.FormatBool(deleted)
	deleted, err = kv.Delete(ctx, "k2", 0)
	report(out, "delete2.", err)
	out["deleted_again"] = strconv.FormatBool(deleted)
	_, _, ok, err = kv.Get(ctx, "k2")
	report(out, "get2.", err)
	out["get2_found"] = strconv.FormatBool(ok)

	s, err := sdk.Secret("api-key")
	report(out, "secret.", err)
	out["secret"] = string(s)

	sdk.Log(slog.LevelWarn, "hello from sdkcaps", slog.String("step", "all"), slog.Int("n", 7))
	sdk.CounterAdd("guest_calls", 2)
	sdk.HistogramObserve("guest_latency", 0.25)
	out["now_year"] = strconv.Itoa(sdk.Now().UTC().Year())
	rnd := make([]byte, 16)
	report(out, "random.", sdk.Random(rnd))
	out["random"] = hex.EncodeToString(rnd)
	var cfg struct {
		Greeting string `json:"greeting"`
	}
	report(out, "config.", sdk.Config(&cfg))
	out["config_greeting"] = cfg.Greeting
}

func listString(items []*abiv1.KVItem) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", it.Key, it.Value)
	}
	return b.String()
}

func init() {
	sdk.SetInfo("sdkcaps", "0.0.1")
	resolver.Serve(caps{})
}

func main() { sdk.Main() }
