// Command vcseed fills a gatewayd data dir for bench/wrk-verify.sh: a
// verified enterprise issuer (its managed did:hedera DID on the embedded
// ledger) and n credentials issued by it, and writes one
// POST /api/v1/credentials/verify body per line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/httpapi"
	"github.com/ubeu/gateway/host/store"
)

func main() {
	dataDir := flag.String("data-dir", "./data", "gatewayd data dir (the server must not be running)")
	listen := flag.String("listen", "127.0.0.1:18080", "the address gatewayd will serve on (status list URLs name it)")
	n := flag.Int("n", 1000, "credentials to issue")
	suite := flag.String("suite", "eddsa-jcs-2022", "eddsa-jcs-2022, eddsa-rdfc-2022 or vc+jwt")
	out := flag.String("out", "bodies.txt", "file of verify request bodies, one per line")
	flag.Parse()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = *dataDir, *listen
	ctx := context.Background()
	g, err := gateway.Open(ctx, &cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	id := uuid.NewString()
	d, _, err := g.Identity.CreateManaged(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now().UTC()
	ent := &store.Enterprise{ID: id, OrganizationName: "Bench University", ParentDomain: "bench-" + id[:8] + ".edu",
		ContactEmail: "it@bench.edu", Tier: "pro", Status: httpapi.EnterpriseActive, ManagedDID: d, VerifiedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := g.Store.Enterprises().Create(ctx, ent); err != nil {
		log.Fatal(err)
	}
	o := credentials.IssueOptions{Cryptosuite: *suite}
	if *suite == "vc+jwt" {
		o = credentials.IssueOptions{Format: credentials.FormatJWT}
	}
	items := make([]credentials.BatchItem, *n)
	for i := range items {
		items[i] = credentials.BatchItem{Options: o, Credential: map[string]any{
			"@context":          []any{credentials.ContextV2, "https://www.w3.org/ns/credentials/undefined-terms/v2"},
			"type":              []any{"VerifiableCredential", "CourseCompletionCredential"},
			"credentialSubject": map[string]any{"id": fmt.Sprintf("did:example:learner%d", i), "course": "CS101", "grade": "A"},
		}}
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for start := 0; start < len(items); start += 1000 {
		res, err := g.Credentials.IssueBatch(ctx, credentials.Issuer{EnterpriseID: id, DID: d}, items[start:min(start+1000, len(items))])
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				log.Fatal(r.Err)
			}
			var cred json.RawMessage = r.Issued.Secured
			if o.Format == credentials.FormatJWT {
				cred, _ = json.Marshal(string(r.Issued.Secured))
			}
			b, _ := json.Marshal(map[string]any{"verifiableCredential": cred})
			fmt.Fprintf(f, "%s\n", b)
		}
	}
}
