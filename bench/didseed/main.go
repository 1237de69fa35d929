// Command didseed fills a gatewayd data dir with DIDs for bench/wrk-did.sh:
// n users' primary did:hedera DIDs on the embedded ledger, plus m did:key
// DIDs, and writes one resolution path per line.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/didkey"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/treasury"
)

func main() {
	dataDir := flag.String("data-dir", "./data", "gatewayd data dir (the server must not be running)")
	hedera := flag.Int("hedera", 1000, "did:hedera DIDs to create")
	keys := flag.Int("key", 2000, "did:key DIDs to generate")
	out := flag.String("out", "paths.txt", "file of resolution paths")
	warm := flag.String("warm", "", "instead: fetch every path of -out from this base URL (warming its cache) and write a JSON map of path to body to -map")
	mapOut := flag.String("map", "bodies.json", "with -warm: the map file")
	flag.Parse()
	if *warm != "" {
		if err := warmUp(*warm, *out, *mapOut); err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg := config.Default()
	cfg.DataDir = *dataDir
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	g, err := gateway.Open(ctx, &cfg, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	for i := 0; i < *hedera; i++ {
		// Sponsored as a registration is: the treasury pays and records it.
		id := fmt.Sprintf("bench-user-%d", i)
		sctx, sp, err := g.Treasury.Sponsor(ctx, treasury.Payer{Kind: treasury.KindUser, ID: id, Tier: "individual"}, treasury.OpDIDCreate, 1)
		if err != nil {
			log.Fatal(err)
		}
		p, _, err := g.Identity.CreatePrimary(sctx, id, "individual")
		sp.End()
		if err != nil {
			log.Fatal(err)
		}
		if (i+1)%10000 == 0 {
			logger.Warn("seeding", "dids", i+1, "elapsed", time.Since(start).Round(time.Second))
		}
		fmt.Fprintf(f, "/1.0/identifiers/%s\n", p.DID)
	}
	for i := 0; i < *keys; i++ {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		fmt.Fprintf(f, "/1.0/identifiers/%s\n", didkey.Format(did.CodecEd25519Pub, pub))
	}
}

func warmUp(base, pathsFile, mapFile string) error {
	b, err := os.ReadFile(pathsFile)
	if err != nil {
		return err
	}
	bodies := map[string]string{}
	for _, p := range strings.Fields(string(b)) {
		res, err := http.Get(base + p)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s: %s: %s", p, res.Status, body)
		}
		bodies[p] = string(body)
	}
	j, err := json.Marshal(bodies)
	if err != nil {
		return err
	}
	return os.WriteFile(mapFile, j, 0o644)
}
