package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// BenchmarkList10k measures lists over 4,900 users (the test host's KV quota) in the wasm build:
// an indexed userName eq and, as the baseline, an unindexed filter that
// scans every user.
//
//	go test -run '^$' -bench List10k -benchtime 20x ./plugins/scim
func BenchmarkList10k(b *testing.B) {
	h := plugintest.NewWasm(b, plugintest.BuildWasm(b, "."), plugintest.Options{})
	dc := abiv1.NewDirectoryClient(h.Transport())
	for i := range 4900 { // plugintest's KV quota is 10,000 entries (two per user)
		body := fmt.Sprintf(`{"userName":"user%05d@bench.example","displayName":"User %05d","emails":[{"value":"user%05d@bench.example","type":"work"}]}`, i, i, i)
		res, err := dc.HandleSCIM(context.Background(), &abiv1.HandleSCIMRequest{Method: "POST", Path: "/Users", Body: []byte(body), EnterpriseID: "e"})
		if err != nil || res.Status != 201 {
			b.Fatal(res, err)
		}
	}
	for _, f := range []string{`userName eq "user04242@bench.example"`, `displayName eq "User 04242"`, `displayName co "424"`, ``} {
		b.Run(f, func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := dc.HandleSCIM(context.Background(), &abiv1.HandleSCIMRequest{Method: "GET", Path: "/Users", Query: "filter=" + url.QueryEscape(f), EnterpriseID: "e"})
				if err != nil || res.Status != 200 {
					b.Fatal(res, err)
				}
				worst = max(worst, time.Since(start))
			}
			b.ReportMetric(float64(worst)/1e6, "max-ms")
		})
	}
}
