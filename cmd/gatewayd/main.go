// Command gatewayd is the UBeU identity gateway.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/policy"
	"github.com/ubeu/gateway/host/store/badgerstore"
	"github.com/ubeu/gateway/policies"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gatewayd:", err)
		os.Exit(1)
	}
}

// flags are the command-line overrides of the main keys.
type flags struct {
	config        string
	listen        string
	dataDir       string
	policyDir     string
	logLevel      string
	tlsSelfSigned bool
}

func newRoot() *cobra.Command {
	var f flags
	root := &cobra.Command{
		Use:           "gatewayd",
		Short:         "gatewayd, the UBeU identity gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&f.config, "config", "", "configuration file (YAML); without one, embedded defaults")
	pf.StringVar(&f.listen, "listen", "", "public listen address (overrides listen)")
	pf.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides data_dir)")
	pf.StringVar(&f.policyDir, "policy-dir", "", "policy folder (overrides policy.dir)")
	pf.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := load(&f)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, log)
		},
	}
	serve.Flags().BoolVar(&f.tlsSelfSigned, "tls-self-signed", false, "serve TLS with a generated self-signed certificate (development and tests)")

	version := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "gatewayd %s %s %s/%s\n", gateway.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}

	cfgCmd := &cobra.Command{Use: "config", Short: "Configuration tools"}
	cfgCmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := load(&f)
			if err != nil {
				return err
			}
			return cfg.Print(cmd.OutOrStdout(), os.Getenv(config.MasterKeyEnv) != "")
		},
	})
	cfgCmd.AddCommand(&cobra.Command{
		Use:   "env",
		Short: "List the environment variables that override each key",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			for _, e := range config.EnvNames() {
				fmt.Fprintf(cmd.OutOrStdout(), "%-44s %s\n", e[0], e[1])
			}
		},
	})

	polCmd := &cobra.Command{Use: "policy", Short: "Policy tools"}
	var verbose bool
	polTest := &cobra.Command{
		Use:   "test [dir]",
		Short: "Run the Rego tests of a policy folder (default: the embedded policies)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var fsys fs.FS = policies.FS
			name := "embedded policies"
			if len(args) == 1 {
				fsys = os.DirFS(args[0])
				name = args[0]
			}
			passed, failed, err := policy.RunTests(cmd.Context(), fsys, cmd.OutOrStdout(), verbose)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d passed, %d failed\n", name, passed, failed)
			if failed > 0 {
				return errors.New("policy tests failed")
			}
			return nil
		},
	}
	polTest.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every test")
	polCmd.AddCommand(polTest)

	backup := &cobra.Command{
		Use:   "backup <file>",
		Short: "Write a Badger backup of the store to file ('-' for stdout)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := load(&f)
			if err != nil {
				return err
			}
			return backupCmd(cmd.Context(), cfg, log, args[0], cmd.OutOrStdout())
		},
	}
	restore := &cobra.Command{
		Use:   "restore <file>",
		Short: "Restore a backup into an empty data dir (the server must be stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := load(&f)
			if err != nil {
				return err
			}
			return restoreCmd(cmd.Context(), cfg, log, args[0])
		},
	}

	adminCmd := &cobra.Command{Use: "admin", Short: "Administration tools"}
	var ttl time.Duration
	tokenCmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a short-lived admin access token (works while the server runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := load(&f)
			if err != nil {
				return err
			}
			if ttl <= 0 || ttl > time.Hour {
				return errors.New("--ttl must be between 1s and 1h")
			}
			tok, _, err := gateway.MintAdminToken(cfg, log, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	tokenCmd.Flags().DurationVar(&ttl, "ttl", 10*time.Minute, "lifetime of the token (at most 1h)")
	adminCmd.AddCommand(tokenCmd)

	root.AddCommand(serve, version, cfgCmd, polCmd, backup, restore, adminCmd, newPluginCmd(&f), newTreasuryCmd(&f))
	return root
}

// load builds and validates the configuration and the logger.
func load(f *flags) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(f.config, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.policyDir != "" {
		cfg.Policy.Dir = f.policyDir
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	if f.tlsSelfSigned {
		cfg.TLS.SelfSigned = true
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	return &cfg, newLogger(&cfg, os.Stderr), nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, err := gateway.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	runErr := g.Run(ctx)
	closeErr := g.Close()
	if runErr == nil && closeErr == nil {
		log.Info("gatewayd stopped cleanly")
	}
	return errors.Join(runErr, closeErr)
}

func backupCmd(ctx context.Context, cfg *config.Config, log *slog.Logger, file string, stdout io.Writer) error {
	keys, err := gateway.DeriveKeys(cfg, log)
	if err != nil {
		return err
	}
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: cfg.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: log})
	if errors.Is(err, badgerstore.ErrLocked) {
		log.Info("the store is in use by a running gatewayd: fetching a live backup from it", "listen", cfg.Listen)
		return liveBackup(ctx, cfg, log, file, stdout)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	w := stdout
	if file != "-" {
		out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		w = out
	}
	v, err := st.Backup(ctx, w)
	if err != nil {
		return err
	}
	if c, ok := w.(*os.File); ok && c != os.Stdout {
		if err := c.Sync(); err != nil {
			return err
		}
	}
	log.Info("backup written", "file", file, "version", v)
	return nil
}

func restoreCmd(ctx context.Context, cfg *config.Config, log *slog.Logger, file string) error {
	keys, err := gateway.DeriveKeys(cfg, log)
	if err != nil {
		return err
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := badgerstore.Restore(ctx, badgerstore.Options{Dir: cfg.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: log}, in); err != nil {
		return err
	}
	log.Info("backup restored", "file", file, "dir", cfg.DBDir())
	return nil
}

// liveBackup fetches GET /api/v1/admin/backup from the running server with
// a freshly minted admin token.
func liveBackup(ctx context.Context, cfg *config.Config, log *slog.Logger, file string, stdout io.Writer) error {
	res, err := adminRequest(ctx, cfg, log, http.MethodGet, "/api/v1/admin/backup")
	if err != nil {
		return fmt.Errorf("live backup: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("live backup: %s: %s", res.Status, b)
	}
	w := stdout
	if file != "-" {
		out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		w = out
	}
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return fmt.Errorf("live backup: %w", err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	log.Info("live backup written", "file", file, "bytes", n)
	return nil
}

// adminRequest sends method path to the running server of cfg with a
// freshly minted admin token.
func adminRequest(ctx context.Context, cfg *config.Config, log *slog.Logger, method, path string) (*http.Response, error) {
	tok, _, err := gateway.MintAdminToken(cfg, log, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	client := &http.Client{Timeout: time.Hour}
	if cfg.TLS.Enabled() {
		scheme = "https"
		host, _, _ := net.SplitHostPort(cfg.Listen)
		if ip := net.ParseIP(host); cfg.TLS.SelfSigned && ip != nil && ip.IsLoopback() {
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+cfg.Listen+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return client.Do(req)
}
