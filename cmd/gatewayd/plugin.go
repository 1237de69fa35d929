package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/plugin/manager"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// newPluginCmd returns `gatewayd plugin`: package, sign, install and manage
// plugins. Install and remove work on <data-dir>/plugins directly (the lock
// file has its own file lock), so they are safe while the server runs; a
// running server notices the lock file change and hot-swaps the plugin.
func newPluginCmd(f *flags) *cobra.Command {
	var pluginDir string
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Plugin tools: keygen, sign, pack, inspect, install, list, remove",
	}
	cmd.PersistentFlags().StringVar(&pluginDir, "plugin-dir", "", "plugin directory (default <data-dir>/plugins)")
	root := func() (string, error) {
		if pluginDir != "" {
			return pluginDir, nil
		}
		dataDir := f.dataDir
		if dataDir == "" {
			cfg, err := config.Load(f.config, os.Environ())
			if err != nil {
				return "", err
			}
			dataDir = cfg.DataDir
		}
		return filepath.Join(dataDir, "plugins"), nil
	}
	trusted := func(root string) ([]pluginpkg.PublicKey, error) {
		return pluginpkg.LoadTrusted(filepath.Join(root, "trusted"))
	}

	keygen := &cobra.Command{
		Use:   "keygen <dir>",
		Short: "Make a publisher key pair (publisher.key, publisher.pub) in dir",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, priv, err := pluginpkg.Keygen(args[0])
			if err != nil {
				return err
			}
			b, err := os.ReadFile(pub)
			if err != nil {
				return err
			}
			k, err := pluginpkg.ParsePublicKey(b)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "private key: %s (keep it secret)\n", priv)
			fmt.Fprintf(out, "public key:  %s\n", pub)
			fmt.Fprintf(out, "key id:      %s\n", k.ID)
			fmt.Fprintf(out, "operators trust it by copying %s into <data-dir>/plugins/trusted/\n", filepath.Base(pub))
			return nil
		},
	}

	var keyPath string
	sign := &cobra.Command{
		Use:   "sign <plugin-dir>",
		Short: "Sign plugin-dir/plugin.yaml with a publisher private key",
		Long: "Writes plugin.yaml.sig beside plugin.yaml. plugin.yaml pins the sha256 of every\n" +
			"artifact, so the signature covers the whole package: re-sign after any change.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return errors.New("--key is required")
			}
			manifest := filepath.Join(args[0], pluginpkg.ManifestFile)
			if err := pluginpkg.Sign(manifest, keyPath); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s\n", manifest+".sig")
			return nil
		},
	}
	sign.Flags().StringVar(&keyPath, "key", "", "publisher private key (publisher.key)")

	pack := &cobra.Command{
		Use:   "pack <plugin-dir> <out.tar.gz>",
		Short: "Pack a (signed) plugin directory into one .tar.gz",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pluginpkg.Pack(args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "packed %s\n", args[1])
			return nil
		},
	}

	var (
		allowUnsigned, allowPrivate, allowDowngrade bool
		grantCaps, grantHosts, grantSecrets         []string
		configPath                                  string
	)
	install := &cobra.Command{
		Use:   "install <dir|file.tar.gz>",
		Short: "Verify and install a plugin package, granting its capabilities",
		Long: "Every capability the manifest requests must be granted with --grant (and each\n" +
			"HTTP host with --grant-host), or the install is refused. The package must be\n" +
			"signed by a key in <plugin-dir>/trusted unless --allow-unsigned.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := root()
			if err != nil {
				return err
			}
			keys, err := trusted(r)
			if err != nil {
				return err
			}
			var cfg []byte
			if configPath != "" {
				if cfg, err = os.ReadFile(configPath); err != nil {
					return err
				}
			}
			inst, err := pluginpkg.Install(cmd.Context(), args[0], pluginpkg.InstallOptions{
				Root:          r,
				Trusted:       keys,
				AllowUnsigned: allowUnsigned,
				Grants: pluginpkg.Grants{
					Capabilities:     splitList(grantCaps),
					HTTPHosts:        splitList(grantHosts),
					HTTPAllowPrivate: allowPrivate,
					Secrets:          splitList(grantSecrets),
				},
				Config:          cfg,
				GatewaydVersion: gatewaydSemver(),
				AllowDowngrade:  allowDowngrade,
				CheckWasm:       manager.CheckWasm(manager.CacheDir(r)),
				Logger:          slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s %s (%s, signer %s, capabilities %s)\n", inst.Name, inst.Version,
				inst.Runtime, inst.Signer, orNone(inst.Grants.Capabilities))
			return nil
		},
	}
	fl := install.Flags()
	fl.BoolVar(&allowUnsigned, "allow-unsigned", false, "accept a package without a signature")
	fl.StringSliceVar(&grantCaps, "grant", nil, "capabilities granted: http,kv,secrets,log,metrics,clock,random,config")
	fl.StringSliceVar(&grantHosts, "grant-host", nil, "HTTP host granted (repeatable; *.example.com for subdomains)")
	fl.StringSliceVar(&grantSecrets, "grant-secret", nil, "secret names granted (default: those the manifest lists)")
	fl.BoolVar(&allowPrivate, "grant-private-network", false, "let the plugin reach private and loopback addresses if it asks")
	fl.StringVar(&configPath, "config-file", "", "the plugin's JSON configuration")
	fl.BoolVar(&allowDowngrade, "allow-downgrade", false, "permit installing a lower version")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the installed plugins (the lock file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := root()
			if err != nil {
				return err
			}
			entries, err := pluginpkg.List(r)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no plugins installed")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tRUNTIME\tINTERFACES\tCAPABILITIES\tSIGNER\tINSTALLED")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Version, e.Runtime,
					orNone(e.Interfaces), orNone(e.Grants.Capabilities), e.Signer, e.InstalledAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}

	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect <name|dir|file.tar.gz>",
		Short: "Describe an installed plugin or a package, and check it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := root()
			if err != nil {
				return err
			}
			keys, err := trusted(r)
			if err != nil {
				return err
			}
			path, name := args[0], ""
			if _, err := os.Stat(path); err != nil {
				path, name = r, args[0]
				if _, err := os.Stat(r); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("inspect %s: %w", name, pluginpkg.ErrNotInstalled)
				}
			}
			rep, err := pluginpkg.Inspect(cmd.Context(), path, name, keys)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printReport(cmd.OutOrStdout(), rep)
			if rep.Status != "ok" {
				return fmt.Errorf("inspect: %s", rep.Status)
			}
			return nil
		},
	}
	inspect.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")

	remove := &cobra.Command{
		Use:   "remove <name>",
		Short: "Remove an installed plugin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := root()
			if err != nil {
				return err
			}
			if err := pluginpkg.Remove(r, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}

	cmd.AddCommand(keygen, sign, pack, install, list, inspect, remove, newBundleCmd(f))
	return cmd
}

func printReport(w io.Writer, r *pluginpkg.Report) {
	m := r.Manifest
	fmt.Fprintf(w, "source:       %s\n", r.Source)
	if m != nil {
		fmt.Fprintf(w, "name:         %s\n", m.Name)
		fmt.Fprintf(w, "version:      %s\n", m.Version)
		fmt.Fprintf(w, "publisher:    %s\n", m.Publisher)
		fmt.Fprintf(w, "runtime:      %s\n", m.Runtime)
		fmt.Fprintf(w, "interfaces:   %s\n", orNone(m.Interfaces))
		if m.Capabilities.HTTP != nil {
			var hosts []string
			for _, a := range m.Capabilities.HTTP.Allow {
				hosts = append(hosts, a.Host)
			}
			fmt.Fprintf(w, "http hosts:   %s\n", orNone(hosts))
		}
	}
	fmt.Fprintf(w, "capabilities: %s\n", orNone(r.Capabilities))
	fmt.Fprintf(w, "signer:       %s\n", orNone([]string{r.Signer}))
	fmt.Fprintf(w, "manifest:     sha256:%s\n", r.ManifestSHA256)
	if r.Module != nil {
		fmt.Fprintf(w, "module:       %+v\n", *r.Module)
	}
	if r.Lock != nil {
		fmt.Fprintf(w, "installed:    %s (granted %s)\n", r.Lock.InstalledAt.Format(time.RFC3339), orNone(r.Lock.Grants.Capabilities))
	}
	fmt.Fprintf(w, "status:       %s\n", r.Status)
}

// splitList flattens comma-separated flag values and drops empty items.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 || (len(s) == 1 && s[0] == "") {
		return "-"
	}
	return strings.Join(s, ",")
}

// gatewaydSemver returns gateway.Version if it is a semantic version, else
// "" (a development build: manifests' gatewayd ranges are not checked).
func gatewaydSemver() string {
	v := strings.TrimPrefix(gateway.Version, "v")
	if _, err := pluginpkg.ParseVersion(v); err != nil {
		return ""
	}
	return v
}
