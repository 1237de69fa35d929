package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/plugin/manager"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// Files the bundle command keeps in the plugin directory.
const (
	firstPartyKeyFile   = "first-party.key"         // <root>/first-party.key, 0600
	firstPartyPubFile   = "first-party.pub"         // <root>/trusted/first-party.pub
	bundleStateFile     = "first-party.bundle.json" // beside plugins.lock.json
	bundleConfigFile    = "config.json"             // <plugins-dir>/<name>/config.json
	bundleStateVersion  = 1
	bundleInputsVersion = "gatewayd-bundle-inputs-v1"
)

// bundleState records, per plugin directory name, the hash of what the last
// bundle built from and what it installed, so an unchanged plugin is skipped.
type bundleState struct {
	Format  int                         `json:"format"`
	Plugins map[string]bundleStateEntry `json:"plugins"`
}

type bundleStateEntry struct {
	InputsSHA256   string `json:"inputs_sha256"`
	Name           string `json:"name"`
	Version        string `json:"version"`
	ManifestSHA256 string `json:"manifest_sha256"`
	ConfigSHA256   string `json:"config_sha256"`
}

// newBundleCmd returns `gatewayd plugin bundle <plugins-dir>`: build, sign
// with the first-party key and install every plugin of plugins-dir.
func newBundleCmd(f *flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle <plugins-dir>",
		Short: "Build, sign and install the first-party plugins of plugins-dir",
		Long: "For every <plugins-dir>/<name>/plugin.yaml: build the Go main package in <name>/\n" +
			"(wasm, or one native binary per os/arch listed for runtime process), fill in the\n" +
			"artifact sha256, sign with <plugin-dir>/first-party.key (made on first use, its\n" +
			"public key trusted as trusted/first-party.pub) and install it, granting what the\n" +
			"manifest requests, with <name>/config.json as its configuration. A plugin whose\n" +
			"inputs did not change since the last bundle is skipped. A missing or empty\n" +
			"plugins-dir installs nothing. Flags it does not know are ignored, so the run\n" +
			"script can pass the same arguments to bundle and serve.",
		Args: cobra.ExactArgs(1),
		// ./run passes serve's flags (--tls-self-signed) here too.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := bundleRoot(cmd, f)
			if err != nil {
				return err
			}
			return bundle(cmd.Context(), args[0], root, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	return cmd
}

// bundleRoot is --plugin-dir (a flag of the parent `plugin` command) or
// <data-dir>/plugins, as for the other plugin commands.
func bundleRoot(cmd *cobra.Command, f *flags) (string, error) {
	if fl := cmd.Flag("plugin-dir"); fl != nil && fl.Value.String() != "" {
		return fl.Value.String(), nil
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

// bundle builds and installs every plugin of dir into root. Every plugin is
// tried; the errors of those that failed are returned together.
func bundle(ctx context.Context, dir, root string, out, errOut io.Writer) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "bundle: no %s, no first-party plugins\n", dir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), pluginpkg.ManifestFile)); err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		fmt.Fprintf(out, "bundle: no plugin in %s\n", dir)
		return nil
	}

	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	keyPath, keyID, err := firstPartyKey(root)
	if err != nil {
		return fmt.Errorf("bundle: first-party key: %w", err)
	}
	trusted, err := pluginpkg.LoadTrusted(filepath.Join(root, "trusted"))
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	goVersion, err := goOutput(ctx, dir, nil, "env", "GOVERSION")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	b := &bundler{
		root: root, keyPath: keyPath, keyID: keyID, trusted: trusted,
		goVersion: strings.TrimSpace(goVersion), out: out,
		log: slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	var errs []error
	for _, name := range names {
		if err := b.one(ctx, name, filepath.Join(dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

type bundler struct {
	root, keyPath, keyID string
	trusted              []pluginpkg.PublicKey
	goVersion            string
	out                  io.Writer
	log                  *slog.Logger
}

// one bundles the plugin in src (the directory <plugins-dir>/<dirName>).
func (b *bundler) one(ctx context.Context, dirName, src string) error {
	raw, err := os.ReadFile(filepath.Join(src, pluginpkg.ManifestFile))
	if err != nil {
		return err
	}
	// Validate the manifest before building, with placeholder digests.
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", pluginpkg.ManifestFile, err)
	}
	if err := fillDigests(&doc, func(string) (string, error) { return strings.Repeat("0", 64), nil }); err != nil {
		return err
	}
	m, err := decodeNode(&doc)
	if err != nil {
		return err
	}
	if m.Name != dirName {
		return fmt.Errorf("%s: name %q must be the directory name %q", pluginpkg.ManifestFile, m.Name, dirName)
	}
	cfg, err := os.ReadFile(filepath.Join(src, bundleConfigFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil && !json.Valid(cfg) {
		return fmt.Errorf("%s: not valid JSON", bundleConfigFile)
	}

	targets := buildTargets(m)
	inputs, err := b.inputsHash(ctx, src, targets)
	if err != nil {
		return err
	}
	state, err := readBundleState(b.root)
	if err != nil {
		return err
	}
	lf, err := pluginpkg.ReadLock(b.root)
	if err != nil {
		return err
	}
	cur, installed := lf.Plugins[m.Name]
	if installed && cur.Signer != b.keyID {
		return fmt.Errorf("%s %s is installed, signed by %s and not by the first-party key %s: remove it first (gatewayd plugin remove %s)",
			cur.Name, cur.Version, cur.Signer, b.keyID, cur.Name)
	}
	if prev, ok := state.Plugins[dirName]; ok && installed && prev.InputsSHA256 == inputs &&
		prev.Version == cur.Version && prev.ManifestSHA256 == cur.ManifestSHA256 && prev.ConfigSHA256 == cur.ConfigSHA256 {
		fmt.Fprintf(b.out, "%s %s: unchanged\n", m.Name, m.Version)
		return nil
	}

	stage, err := os.MkdirTemp("", "gatewayd-bundle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, t := range targets {
		if err := goBuild(ctx, src, filepath.Join(stage, filepath.FromSlash(t.file)), t.goos, t.goarch); err != nil {
			return err
		}
	}
	var schemaFile string
	if m.ConfigSchema.File != nil {
		schemaFile = m.ConfigSchema.File.File
		if err := copyPlain(filepath.Join(src, filepath.FromSlash(schemaFile)), filepath.Join(stage, filepath.FromSlash(schemaFile))); err != nil {
			return fmt.Errorf("config_schema: %w", err)
		}
	}
	if err := fillDigests(&doc, func(file string) (string, error) {
		return pluginpkg.FileSHA256(filepath.Join(stage, filepath.FromSlash(file)))
	}); err != nil {
		return err
	}
	var filled bytes.Buffer
	enc := yaml.NewEncoder(&filled)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	manifest := filepath.Join(stage, pluginpkg.ManifestFile)
	if err := os.WriteFile(manifest, filled.Bytes(), 0o600); err != nil {
		return err
	}
	if err := pluginpkg.Sign(manifest, b.keyPath); err != nil {
		return err
	}

	grants := pluginpkg.Grants{Capabilities: m.Capabilities.Requested()}
	if h := m.Capabilities.HTTP; h != nil {
		for _, r := range h.Allow {
			grants.HTTPHosts = append(grants.HTTPHosts, r.Host)
		}
		grants.HTTPAllowPrivate = h.AllowPrivate
	}
	if installed && cur.Version == m.Version {
		// Install refuses a version already installed: the same version
		// rebuilt or reconfigured replaces it.
		if err := pluginpkg.Remove(b.root, m.Name); err != nil {
			return err
		}
	}
	inst, err := pluginpkg.Install(ctx, stage, pluginpkg.InstallOptions{
		Root:            b.root,
		Trusted:         b.trusted,
		Grants:          grants,
		Config:          cfg,
		GatewaydVersion: gatewaydSemver(),
		AllowDowngrade:  true, // the checkout is the source of truth
		CheckWasm:       manager.CheckWasm(manager.CacheDir(b.root)),
		Logger:          b.log,
	})
	if err != nil {
		return err
	}
	// Hash again after the build, which may have touched go.mod or go.sum
	// (-mod=mod), so that the next bundle compares like with like.
	if inputs, err = b.inputsHash(ctx, src, targets); err != nil {
		return err
	}
	if err := writeBundleState(b.root, dirName, bundleStateEntry{
		InputsSHA256: inputs, Name: inst.Name, Version: inst.Version,
		ManifestSHA256: inst.ManifestSHA256, ConfigSHA256: inst.ConfigSHA256,
	}); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%s %s: installed (%s, signer %s, capabilities %s)\n", inst.Name, inst.Version,
		inst.Runtime, inst.Signer, orNone(inst.Grants.Capabilities))
	return nil
}

// target is one artifact to build.
type target struct{ file, goos, goarch string }

func buildTargets(m *pluginpkg.Manifest) []target {
	if m.Runtime == pluginpkg.RuntimeWasm {
		return []target{{m.Artifacts.Wasm.File, "wasip1", "wasm"}}
	}
	var ts []target
	for plat, a := range m.Artifacts.Process {
		goos, goarch, _ := strings.Cut(plat, "/")
		ts = append(ts, target{a.File, goos, goarch})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].goos+ts[i].goarch < ts[j].goos+ts[j].goarch })
	return ts
}

func goBuild(ctx context.Context, src, out, goos, goarch string) error {
	args := []string{"build", "-o", out}
	env := []string{"GOOS=" + goos, "GOARCH=" + goarch}
	if goarch == "wasm" {
		args = append(args, "-buildmode=c-shared")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	if _, err := goOutput(ctx, src, env, append(args, ".")...); err != nil {
		return fmt.Errorf("build %s/%s: %w", goos, goarch, err)
	}
	return nil
}

// goOutput runs the go command in dir and returns its standard output; on
// failure the error holds its standard error.
func goOutput(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, "go", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// inputsHash is the sha256 of everything a bundle of src depends on: the
// bundle format, the Go version, the signing key, every file of src, and
// the files of every non-standard package the build of each target uses.
func (b *bundler) inputsHash(ctx context.Context, src string, targets []target) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", bundleInputsVersion, b.goVersion, b.keyID)
	hashFile := func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "file %s %d\n", p, len(b))
		h.Write(b)
		return nil
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return hashFile(p)
	})
	if err != nil {
		return "", err
	}
	const format = `{{if not .Standard}}{{.Dir}}{{range .GoFiles}}|{{.}}{{end}}{{range .CgoFiles}}|{{.}}{{end}}` +
		`{{range .EmbedFiles}}|{{.}}{{end}}{{range .CFiles}}|{{.}}{{end}}{{range .SFiles}}|{{.}}{{end}}{{end}}`
	for _, t := range targets {
		fmt.Fprintf(h, "target %s %s/%s\n", t.file, t.goos, t.goarch)
		list, err := goOutput(ctx, src, []string{"GOOS=" + t.goos, "GOARCH=" + t.goarch}, "list", "-deps", "-f", format, ".")
		if err != nil {
			return "", err
		}
		for line := range strings.SplitSeq(list, "\n") {
			parts := strings.Split(line, "|")
			if parts[0] == "" {
				continue
			}
			for _, name := range parts[1:] {
				if err := hashFile(filepath.Join(parts[0], name)); err != nil {
					return "", err
				}
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fillDigests sets the sha256 of every artifact and of a config_schema file
// in the manifest document to digest(file).
func fillDigests(doc *yaml.Node, digest func(file string) (string, error)) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return fmt.Errorf("%s: want one YAML document", pluginpkg.ManifestFile)
	}
	top := doc.Content[0]
	var pins []*yaml.Node // {file, sha256} mappings
	if a := mapValue(top, "artifacts"); a != nil {
		if w := mapValue(a, "wasm"); w != nil {
			pins = append(pins, w)
		}
		if p := mapValue(a, "process"); p != nil && p.Kind == yaml.MappingNode {
			for i := 1; i < len(p.Content); i += 2 {
				pins = append(pins, p.Content[i])
			}
		}
	}
	if s := mapValue(top, "config_schema"); s != nil && mapValue(s, "file") != nil {
		pins = append(pins, s)
	}
	for _, n := range pins {
		file, sum := mapValue(n, "file"), mapValue(n, "sha256")
		if file == nil || sum == nil || file.Kind != yaml.ScalarNode || sum.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: line %d: want {file: …, sha256: \"\"}", pluginpkg.ManifestFile, n.Line)
		}
		d, err := digest(file.Value)
		if err != nil {
			return err
		}
		sum.Value, sum.Tag, sum.Style = d, "!!str", 0
	}
	return nil
}

// mapValue returns the value of key in the mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func decodeNode(doc *yaml.Node) (*pluginpkg.Manifest, error) {
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return pluginpkg.DecodeManifest(b)
}

// firstPartyKey returns the path and ID of <root>/first-party.key, making it
// on first use, and makes sure <root>/trusted/first-party.pub holds its
// public key.
func firstPartyKey(root string) (path, id string, err error) {
	path = filepath.Join(root, firstPartyKeyFile)
	priv, err := pluginpkg.ReadPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", "", err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return "", "", err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", "", err
		}
		_, err = f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return "", "", err
		}
	} else if err != nil {
		return "", "", err
	}
	if fi, err := os.Stat(path); err != nil {
		return "", "", err
	} else if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	pub := priv.Public().(ed25519.PublicKey)
	trustedDir := filepath.Join(root, "trusted")
	if err := os.MkdirAll(trustedDir, 0o700); err != nil {
		return "", "", err
	}
	line := []byte(pluginpkg.FormatPublicKey(pub) + "\n")
	pubPath := filepath.Join(trustedDir, firstPartyPubFile)
	if old, err := os.ReadFile(pubPath); err != nil || !bytes.Equal(old, line) {
		if err := os.WriteFile(pubPath+".tmp", line, 0o644); err != nil {
			return "", "", err
		}
		if err := os.Rename(pubPath+".tmp", pubPath); err != nil {
			return "", "", err
		}
	}
	return path, pluginpkg.KeyID(pub), nil
}

func readBundleState(root string) (*bundleState, error) {
	st := &bundleState{Format: bundleStateVersion, Plugins: map[string]bundleStateEntry{}}
	b, err := os.ReadFile(filepath.Join(root, bundleStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil || st.Format != bundleStateVersion || st.Plugins == nil {
		// Unreadable: bundle everything again.
		return &bundleState{Format: bundleStateVersion, Plugins: map[string]bundleStateEntry{}}, nil
	}
	return st, nil
}

func writeBundleState(root, dirName string, e bundleStateEntry) error {
	st, err := readBundleState(root)
	if err != nil {
		return err
	}
	st.Plugins[dirName] = e
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(root, bundleStateFile)
	if err := os.WriteFile(p+".tmp", append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

func copyPlain(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
