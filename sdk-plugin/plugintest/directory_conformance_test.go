package plugintest_test

import (
	"context"
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// sloppySCIM answers every SCIM request 200 with an empty JSON object
// labelled application/json, and reports an event on every request.
type sloppySCIM struct{}

func (sloppySCIM) HandleSCIM(context.Context, *abiv1.HandleSCIMRequest) (*abiv1.HandleSCIMResponse, error) {
	return &abiv1.HandleSCIMResponse{Status: 200, Body: []byte(`{}`),
		Headers: []*abiv1.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
		Events:  []*abiv1.DirectoryEvent{{Kind: abiv1.ObjectKindUser, Action: abiv1.EventActionUpdated, ID: "x"}}}, nil
}

func (sloppySCIM) PullChanges(context.Context, *abiv1.PullChangesRequest) (*abiv1.PullChangesResponse, error) {
	return &abiv1.PullChangesResponse{}, nil
}

func TestDirectoryConformanceCatchesDefects(t *testing.T) {
	h := abiv1.DispatchDirectory(sloppySCIM{})
	tr := abiv1.HandlerTransport(func(ctx context.Context, method uint32, req []byte) ([]byte, error) {
		if method == abiv1.MethodPluginDescribe {
			return (&abiv1.DescribeResponse{Name: "sloppy-scim", Version: "1.0.0", Interfaces: []string{"directory"}}).MarshalAppend(nil), nil
		}
		if info, ok := abiv1.LookupMethod(method); !ok || info.Interface != "directory" {
			return nil, abiv1.Unimplemented(method)
		}
		return h(ctx, method, req)
	})
	var r recorder
	r.run(func() {
		plugintest.DirectoryConformance(&r, tr, plugintest.DirectoryCases{Plugin: plugintest.PluginInfo{Interfaces: []string{"directory"}}, Parallel: 2, Rounds: 2})
	})
	for _, want := range []string{
		"GET /ServiceProviderConfig: 200 {}",              // no schema URN
		`no "patch"`,                                      // required attribute missing
		"want a ListResponse with totalResults 0",         // not a ListResponse
		"GET /NoSuchEndpoint?: 200",                       // not a 404 SCIM error
		"POST /Users?: 200",                               // malformed body accepted
		"Content-Type \"application/json\"",               // not application/scim+json
		"reported 1 lifecycle events, want none",          // events on reads
		"filter=userName+eq: 200",                         // bad filter accepted
		"GET /Users/00000000-0000-0000-0000-000000000000", // unknown user not 404
	} {
		if !r.has(want) {
			t.Errorf("suite did not report %q; reported:\n%s", want, strings.Join(r.errors, "\n"))
		}
	}
}
