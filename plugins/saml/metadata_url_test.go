package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// TestIdPMetadataFromURL: the IdP metadata is fetched through the host's
// HTTP capability (only from allow-listed hosts), cached in the KV for a
// day, kept when a refresh fails, and refused when it is not metadata.
func TestIdPMetadataFromURL(t *testing.T) {
	idp := newTestIdP(t, "idp")
	var hits atomic.Int32
	var broken atomic.Bool
	peer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if broken.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write([]byte(idp.metadata(t)))
	})
	clk := &clock{t: time.Now().UTC()}
	conn := connectorJSON(t, idp, func(c *Connector) {
		c.IdPMetadataXML, c.IdPMetadataURL = "", "https://acme.okta.com/app/x/sso/saml/metadata"
	})
	bad := connectorJSON(t, idp, func(c *Connector) { c.IdPMetadataXML, c.IdPMetadataURL = "", "https://evil.example/metadata" })
	h := plugintest.New(t, plugintest.Options{
		KV:    map[string][]byte{connectorKey(entID): conn, connectorKey("ent-2"): bad},
		Peers: map[string]http.Handler{"acme.okta.com": peer},
		Now:   clk.now,
	})
	cli := abiv1.NewSSOClient(h.Transport())
	ctx := context.Background()
	begin := func(ent string) error {
		_, err := cli.BeginLogin(ctx, &abiv1.BeginLoginRequest{EnterpriseID: ent, RelayState: "s"})
		return err
	}
	if err := begin(entID); err != nil {
		t.Fatal(err)
	}
	if err := begin(entID); err != nil || hits.Load() != 1 {
		t.Fatalf("not cached: %d fetches, %v", hits.Load(), err)
	}
	// A day later the refresh fails: the cached copy serves.
	clk.add(25 * time.Hour)
	broken.Store(true)
	if err := begin(entID); err != nil || hits.Load() != 2 {
		t.Fatalf("stale copy not used: %d fetches, %v", hits.Load(), err)
	}
	// A host the plugin may not reach.
	err := begin("ent-2")
	wantCode(t, err, abiv1.ErrorCodeUnavailable)
}

func TestSSOConformance(t *testing.T) {
	e := newEnv(t, nil)
	plugintest.SSOConformance(t, e.host.Transport(), plugintest.SSOCases{
		Plugin:       plugintest.PluginInfo{Name: "saml", Version: version, Interfaces: []string{"sso"}},
		EnterpriseID: entID, ACSURL: acsURL,
	})
}
