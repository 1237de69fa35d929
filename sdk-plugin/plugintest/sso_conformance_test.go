package plugintest_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// fakeSSO is an SSO plugin for enterprise "e1". sloppy breaks the rules:
// a relative redirect, one request ID for every login, metadata with a DTD,
// and an identity for any response.
type fakeSSO struct {
	sloppy bool
	n      atomic.Int64
}

func (f *fakeSSO) BeginLogin(_ context.Context, req *abiv1.BeginLoginRequest) (*abiv1.BeginLoginResponse, error) {
	if req.EnterpriseID != "e1" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no SSO for %q", req.EnterpriseID)
	}
	if f.sloppy {
		return &abiv1.BeginLoginResponse{RedirectURL: "/idp/login", RequestID: "id-1"}, nil
	}
	id := "id-" + strconv.FormatInt(f.n.Add(1), 10)
	return &abiv1.BeginLoginResponse{RedirectURL: "https://idp.example/sso?SAMLRequest=x&RelayState=" + req.RelayState, RequestID: id}, nil
}

func (f *fakeSSO) ConsumeResponse(_ context.Context, req *abiv1.ConsumeResponseRequest) (*abiv1.ConsumeResponseResponse, error) {
	if f.sloppy {
		return &abiv1.ConsumeResponseResponse{Identity: &abiv1.Identity{Subject: "anyone"}}, nil
	}
	if req.Form["SAMLResponse"] == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "no SAMLResponse")
	}
	return nil, abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "response not signed by the IdP")
}

func (f *fakeSSO) Metadata(_ context.Context, req *abiv1.MetadataRequest) (*abiv1.MetadataResponse, error) {
	if f.sloppy {
		return &abiv1.MetadataResponse{XML: []byte(`<!DOCTYPE x [<!ENTITY e "x">]><EntityDescriptor/>`)}, nil
	}
	return &abiv1.MetadataResponse{XML: []byte(`<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://gateway.example/saml/e1/metadata"/>`)}, nil
}

func ssoTransport(f *fakeSSO) abiv1.Transport {
	h := abiv1.DispatchSSO(f)
	return abiv1.HandlerTransport(func(ctx context.Context, method uint32, req []byte) ([]byte, error) {
		if method == abiv1.MethodPluginDescribe {
			return (&abiv1.DescribeResponse{Name: "fake-sso", Version: "1.0.0", Interfaces: []string{"sso"}}).MarshalAppend(nil), nil
		}
		if info, ok := abiv1.LookupMethod(method); !ok || info.Interface != "sso" {
			return nil, abiv1.Unimplemented(method)
		}
		return h(ctx, method, req)
	})
}

func TestSSOConformance(t *testing.T) {
	cases := plugintest.SSOCases{Plugin: plugintest.PluginInfo{Interfaces: []string{"sso"}}, EnterpriseID: "e1", Parallel: 2, Rounds: 2}
	plugintest.SSOConformance(t, ssoTransport(&fakeSSO{}), cases)

	var r recorder
	r.run(func() { plugintest.SSOConformance(&r, ssoTransport(&fakeSSO{sloppy: true}), cases) })
	for _, want := range []string{
		"XML with a DTD",
		`redirect URL "/idp/login" is not an absolute`,
		`gave the request ID "id-1" twice`,
		"ConsumeResponse with an empty form signed in",
		"ConsumeResponse with a response that is not base64 signed in",
	} {
		if !r.has(want) {
			t.Errorf("suite did not report %q; reported:\n%s", want, strings.Join(r.errors, "\n"))
		}
	}
}
