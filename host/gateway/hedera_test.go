package gateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"

	"github.com/ubeu/gateway/host/ledger/hedera/hederatest"
)

// TestHederaBackend runs gatewayd on the hedera ledger backend, through the
// real Hiero SDK against the in-process consensus node and mirror node:
// registration creates the user's topic and DID there, with fees paid by
// the operator (treasury) account, and the DID resolves.
func TestHederaBackend(t *testing.T) {
	key, err := hiero.PrivateKeyGenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	net, err := hederatest.Start(hederatest.Config{OperatorID: "0.0.2", OperatorKey: key.PublicKey(), CentsPerHbar: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	cfg := testConfig(t)
	keyFile := filepath.Join(t.TempDir(), "operator.key")
	os.WriteFile(keyFile, []byte(key.StringDer()), 0o600)
	cfg.Ledger.Backend = "hedera"
	cfg.Ledger.Hedera.Network = "local"
	cfg.Ledger.Hedera.OperatorID = "0.0.2"
	cfg.Ledger.Hedera.OperatorKeyFile = keyFile
	cfg.Ledger.Hedera.Nodes = net.Nodes()
	cfg.Ledger.Hedera.MirrorURL = net.MirrorURL
	tg := startGateway(t, cfg)

	before := net.Transactions()
	u := tg.registerFull(map[string]string{"email": "hedy@example.com", "password": goodPassword})
	if !strings.HasPrefix(u.DID, "did:hedera:local:") {
		t.Fatalf("DID %q", u.DID)
	}
	if net.Transactions() <= before {
		t.Fatal("no transaction reached the consensus node")
	}
	r := tg.do("GET", "/1.0/identifiers/"+u.DID, nil, "Accept", "application/did+json")
	if r.status != 200 || r.json(t)["id"] != u.DID {
		t.Fatalf("resolve on hedera: %d %s", r.status, r.body)
	}
	// The treasury paid the DID's transactions at the receipts' fees, at
	// the mirror's exchange rate (10 cents per HBAR here), and its books
	// agree with the operator's transactions the mirror lists.
	st := tg.stats(t)
	dc := st.ByType["did_create"]
	if dc.Count != 1 || dc.Tinybars <= 0 || st.TotalSponsored < dc.Tinybars {
		t.Fatalf("hedera stats: %+v", st)
	}
	if want := dc.Tinybars * 10 / 100; dc.Micro < want-1 || dc.Micro > want+1 {
		t.Fatalf("did_create cost %d microcents for %d tinybars at 10¢/HBAR, want %d", dc.Micro, dc.Tinybars, want)
	}
	r = tg.do("POST", "/api/v1/admin/treasury/reconcile", nil, bearer(tg.adminToken())...)
	var rep struct{ Records, Transactions, Matched, Differences int }
	json.Unmarshal(r.body, &rep)
	if r.status != 200 || rep.Differences != 0 || rep.Records < 1 || rep.Matched != rep.Records || rep.Transactions < 2 {
		t.Fatalf("reconcile on hedera: %d %s", r.status, r.body)
	}
	if logs := tg.logs.String(); strings.Contains(logs, key.StringDer()) || strings.Contains(logs, key.StringRaw()) {
		t.Fatal("the operator key appears in the logs")
	}
}
