// Command nameseed fills a gatewayd data dir for bench/wrk-names.sh: n
// users' primary did:hedera DIDs, each with a proven .eth name
// (bench-<i>.eth, as POST /api/v1/domains/external/verify stores it), the
// test registry plugin (host/gateway/testdata/web3registry, built by the
// script) installed as "ens" with every name's owner in its KV, and two
// path files: the names and the DIDs they resolve to.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/gateway"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/web3"
)

func main() {
	dataDir := flag.String("data-dir", "./data", "gatewayd data dir (the server must not be running)")
	n := flag.Int("n", 1000, "users with a proven name")
	wasm := flag.String("wasm", "", "the registry plugin's module (web3registry built for wasip1)")
	names := flag.String("names", "names.txt", "file of name resolution paths")
	dids := flag.String("dids", "dids.txt", "file of the same users' DID resolution paths")
	flag.Parse()
	cfg := config.Default()
	cfg.DataDir = *dataDir
	if err := install(&cfg, *wasm); err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	g, err := gateway.Open(ctx, &cfg, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	nf, err := os.Create(*names)
	if err != nil {
		log.Fatal(err)
	}
	defer nf.Close()
	df, err := os.Create(*dids)
	if err != nil {
		log.Fatal(err)
	}
	defer df.Close()
	for i := 0; i < *n; i++ {
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
		var a [20]byte
		rand.Read(a[:])
		addr := web3.ChecksumAddress(a)
		name := fmt.Sprintf("bench-%d.eth", i)
		if _, err := g.Store.KV().Put(ctx, "plugin:ens", "owner/"+name, []byte(web3.ChainEthereum+" "+addr), store.KVCond{}); err != nil {
			log.Fatal(err)
		}
		if _, _, err := g.Web3.Store(ctx, id, p.DID, &web3.Proof{Name: name, Registry: "ENS", Network: "ethereum", Chain: web3.ChainEthereum, Address: addr}); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(nf, "/1.0/identifiers/%s\n", name)
		fmt.Fprintf(df, "/1.0/identifiers/%s\n", p.DID)
	}
}

// install installs the registry module as plugin "ens" (unsigned, with
// the operator's explicit permission, as the e2e tests do).
func install(cfg *config.Config, wasmPath string) error {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	src, err := os.MkdirTemp("", "nameseed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "plugin.wasm"), wasm, 0o644); err != nil {
		return err
	}
	manifest := fmt.Sprintf("name: ens\npublisher: gatewayd bench\nversion: 0.1.0\ninterfaces: [resolver]\nruntime: wasm\nabi: \">=1.0 <2\"\n"+
		"artifacts:\n  wasm: {file: plugin.wasm, sha256: %x}\ncapabilities:\n  log: true\n  kv: {max_entries: 1000000, max_bytes: 268435456}\n", sha256.Sum256(wasm))
	if err := os.WriteFile(filepath.Join(src, "plugin.yaml"), []byte(manifest), 0o644); err != nil {
		return err
	}
	_, err = pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: cfg.PluginsDir(), AllowUnsigned: true, ABIVersion: "1.0",
		Grants: pluginpkg.Grants{Capabilities: []string{"log", "kv"}},
	})
	return err
}
