package pluginpkg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/fsutil"
)

// HostABIVersion is the plugin ABI this gatewayd serves: 1.0 (and so every
// module built for 1.0).
const HostABIVersion = "1.0"

// Limits on what a package may hold.
const (
	MaxArtifactSize = 256 << 20 // one file
	MaxPackageSize  = 1 << 30   // all files of a .tar.gz
	MaxPackageFiles = 4096
)

// configFile holds the operator's configuration inside a version directory.
// Package paths cannot start with '.', so it never collides with a file of
// the package.
const configFile = ".config.json"

// Errors an install or a load can fail with, for errors.Is.
var (
	ErrUnsigned       = errors.New("package is not signed")
	ErrDigestMismatch = errors.New("sha256 mismatch")
	ErrNotGranted     = errors.New("capability not granted")
	ErrIncompatible   = errors.New("incompatible plugin")
	ErrExists         = errors.New("plugin version already installed")
)

// Grants is what the operator allows a plugin. Every capability the
// manifest requests must be granted, or the install is refused.
type Grants struct {
	// Capabilities are the capability names granted (see [KnownCapabilities]).
	Capabilities []string `json:"capabilities"`
	// HTTPHosts are the hosts the plugin may reach: a name or IP, or
	// "*.example.com" for any subdomain. Every host in the manifest's
	// capabilities.http.allow must be covered.
	HTTPHosts []string `json:"http_hosts,omitempty"`
	// HTTPAllowPrivate lets the plugin reach private, loopback and
	// link-local addresses, if its manifest asks for it.
	HTTPAllowPrivate bool `json:"http_allow_private,omitempty"`
	// Secrets limits which secret names may be read. Nil with "secrets"
	// granted means the names the manifest lists.
	Secrets []string `json:"secrets,omitempty"`
}

// InstallOptions says where to install and what the operator trusts and grants.
type InstallOptions struct {
	// Root is the plugin directory, normally <data-dir>/plugins.
	Root string
	// Trusted are the publisher keys accepted (see [LoadTrusted]).
	Trusted []PublicKey
	// AllowUnsigned accepts a package without plugin.yaml.sig; the lock file
	// then records the signer as "unsigned". A signature that is present
	// must verify against Trusted in any case.
	AllowUnsigned bool
	// Grants is what the operator grants the plugin.
	Grants Grants
	// Config is the operator's JSON configuration for the plugin, checked
	// against the manifest's config_schema. Empty means {}.
	Config []byte
	// GatewaydVersion is checked against the manifest's gatewayd range;
	// empty skips that check (with a warning).
	GatewaydVersion string
	// ABIVersion is the ABI the host serves, "1.<minor>"; empty means
	// [HostABIVersion].
	ABIVersion string
	// AllowDowngrade permits replacing an installed version with a lower one.
	AllowDowngrade bool
	// Inspect reads a wasm module's imports and exports; nil means
	// [InspectWasm].
	Inspect func(wasm []byte) (ModuleInfo, error)
	// CheckWasm, if set, is the runtime's own check of a wasm module,
	// given the capabilities granted (the one it applies when it loads the
	// plugin, e.g. manager.CheckWasm), run before anything is recorded; it
	// may also compile the module into the runtime's cache.
	CheckWasm func(ctx context.Context, wasm []byte, capabilities []string) error
	// Logger receives install events; nil means slog.Default().
	Logger *slog.Logger
}

// Installed is an installed plugin: its lock entry, its directory and manifest
// and, from [Load], the bytes or path to hand to a runtime.
type Installed struct {
	LockEntry
	// Dir is <root>/<name>/<version>.
	Dir      string
	Manifest *Manifest
	// Config is the operator's configuration (set by Load).
	Config []byte
	// Wasm is the verified module (set by Load for runtime wasm).
	Wasm []byte
	// Binary is the path of the verified executable for this os/arch and
	// BinarySHA256 its digest, to pin again at exec time, for example with
	// go-plugin's SecureConfig (set by Load for runtime process).
	Binary       string
	BinarySHA256 string
}

// testHookBeforeLockSwitch, if set, runs after the new version is in place
// and before the lock file points to it.
var testHookBeforeLockSwitch func()

// Install verifies the package at src (a directory, or a .tar.gz made by
// [Pack]) and installs it under o.Root. In order it checks: the manifest
// (strict), the signature over the exact manifest bytes, the sha256 of every
// artifact, the ABI and gatewayd version ranges, for wasm the module's
// imports ⊆ requested capabilities and its interface markers = the manifest's
// interfaces, requested capabilities ⊆ granted, and the configuration
// against config_schema. Then it moves the pinned files into
// <root>/<name>/<version>/ (directories 0700, files 0600, process binaries
// 0700) with a single rename, and switches the lock entry to it. A previous
// version stays in place and loadable until the lock file is switched, and
// is deleted after.
func Install(ctx context.Context, src string, o InstallOptions) (*Installed, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Root == "" {
		return nil, errors.New("install: no plugin root")
	}
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	unlock, err := lockRoot(o.Root)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	defer unlock()

	tmp, err := os.MkdirTemp(o.Root, ".staging-")
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	defer os.RemoveAll(tmp)
	stage := filepath.Join(tmp, "pkg")
	if err := stagePackage(src, stage); err != nil {
		return nil, fmt.Errorf("install %s: %w", src, err)
	}
	v, err := verifyPackage(ctx, stage, o, log)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", src, err)
	}
	m := v.manifest
	inst, err := commit(o.Root, stage, v, o, log)
	if err != nil {
		return nil, fmt.Errorf("install %s %s: %w", m.Name, m.Version, err)
	}
	log.InfoContext(ctx, "plugin installed", "name", m.Name, "version", m.Version, "runtime", m.Runtime,
		"signer", v.signer, "capabilities", m.Capabilities.Requested())
	return inst, nil
}

// verified is the outcome of verifyPackage.
type verified struct {
	manifest       *Manifest
	manifestBytes  []byte
	manifestSHA256 string
	signed         bool
	signer         string
	grants         Grants
	config         []byte
}

// verifyPackage runs every check of Install on a staged package directory.
func verifyPackage(ctx context.Context, dir string, o InstallOptions, log *slog.Logger) (*verified, error) {
	v := &verified{}
	var err error
	v.manifestBytes, err = readLimited(filepath.Join(dir, ManifestFile), MaxManifestSize)
	if err != nil {
		return nil, err
	}
	v.manifestSHA256 = sha256Hex(v.manifestBytes)
	m, err := DecodeManifest(v.manifestBytes)
	if err != nil {
		return nil, err
	}
	v.manifest = m

	// Signature over the exact manifest bytes.
	sig, err := readLimited(filepath.Join(dir, SignatureFile), 4096)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !o.AllowUnsigned {
			return nil, fmt.Errorf("%w: no %s (AllowUnsigned is off)", ErrUnsigned, SignatureFile)
		}
		v.signer = Unsigned
	case err != nil:
		return nil, err
	default:
		v.signer, err = Verify(v.manifestBytes, sig, o.Trusted)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", SignatureFile, err)
		}
		v.signed = true
	}

	// Every artifact's digest, and the schema file's.
	for key, a := range artifactsOf(m) {
		got, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(a.File)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if got != a.SHA256 {
			return nil, fmt.Errorf("%s %s: %w: manifest pins %s, file has %s", key, a.File, ErrDigestMismatch, a.SHA256, got)
		}
	}

	// Versions.
	hostABI := o.ABIVersion
	if hostABI == "" {
		hostABI = HostABIVersion
	}
	hv, n, err := parsePartial(hostABI)
	if err != nil || n < 2 {
		return nil, fmt.Errorf("host ABI version %q: want MAJOR.MINOR", hostABI)
	}
	abiRange, _ := ParseRange(m.ABI) // validated by DecodeManifest
	if !abiRange.Contains(hv) && !abiRange.Contains(Version{Major: hv.Major}) {
		return nil, fmt.Errorf("%w: abi %q excludes the host's ABI %s", ErrIncompatible, m.ABI, hostABI)
	}
	if m.Gatewayd != "" {
		if o.GatewaydVersion == "" {
			log.WarnContext(ctx, "plugin gatewayd version range not checked: no gatewayd version given", "name", m.Name, "range", m.Gatewayd)
		} else {
			gv, err := ParseVersion(strings.TrimPrefix(o.GatewaydVersion, "v"))
			if err != nil {
				return nil, fmt.Errorf("gatewayd version: %w", err)
			}
			gr, _ := ParseRange(m.Gatewayd)
			if !gr.Contains(gv) {
				return nil, fmt.Errorf("%w: gatewayd %q excludes this gatewayd %s", ErrIncompatible, m.Gatewayd, gv)
			}
		}
	}

	// What the module declares, for wasm.
	var wasm []byte
	if m.Runtime == RuntimeWasm {
		wasm, err = readLimited(filepath.Join(dir, filepath.FromSlash(m.Artifacts.Wasm.File)), MaxArtifactSize)
		if err != nil {
			return nil, err
		}
		if sha256Hex(wasm) != m.Artifacts.Wasm.SHA256 { // re-read: compare what is inspected
			return nil, fmt.Errorf("artifacts.wasm: %w", ErrDigestMismatch)
		}
		inspect := o.Inspect
		if inspect == nil {
			inspect = func(b []byte) (ModuleInfo, error) { return InspectWasm(ctx, b) }
		}
		info, err := inspect(wasm)
		if err != nil {
			return nil, err
		}
		if err := checkModule(info, m, hv); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrIncompatible, err)
		}
	}

	// Requested ⊆ granted.
	v.grants, err = checkGrants(m, o.Grants)
	if err != nil {
		return nil, err
	}
	if wasm != nil && o.CheckWasm != nil {
		if err := o.CheckWasm(ctx, wasm, v.grants.Capabilities); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrIncompatible, err)
		}
	}

	// Configuration.
	var schema []byte
	switch {
	case m.ConfigSchema.File != nil:
		schema, err = readLimited(filepath.Join(dir, filepath.FromSlash(m.ConfigSchema.File.File)), MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("config_schema: %w", err)
		}
		if sha256Hex(schema) != m.ConfigSchema.File.SHA256 {
			return nil, fmt.Errorf("config_schema %s: %w", m.ConfigSchema.File.File, ErrDigestMismatch)
		}
	case m.ConfigSchema.Inline != nil:
		schema = m.ConfigSchema.Inline
	}
	v.config = o.Config
	if len(v.config) == 0 {
		v.config = []byte("{}")
	}
	if err := ValidateConfig(schema, v.config); err != nil {
		return nil, err
	}
	return v, nil
}

// artifactsOf lists the files the manifest pins, keyed as in the lock file
// ("wasm", "os/arch") plus "config_schema" for a schema file.
func artifactsOf(m *Manifest) map[string]Artifact {
	out := map[string]Artifact{}
	if m.Artifacts.Wasm != nil {
		out["wasm"] = *m.Artifacts.Wasm
	}
	for plat, a := range m.Artifacts.Process {
		out[plat] = a
	}
	if m.ConfigSchema.File != nil {
		out["config_schema"] = *m.ConfigSchema.File
	}
	return out
}

// checkGrants refuses the first requested capability the operator did not
// grant, and returns what is granted: exactly what was requested.
func checkGrants(m *Manifest, g Grants) (Grants, error) {
	c := m.Capabilities
	out := Grants{}
	for _, name := range c.Requested() {
		if !slices.Contains(g.Capabilities, name) {
			return Grants{}, fmt.Errorf("%w: %q is requested by the manifest (capabilities.%s) but not granted", ErrNotGranted, name, name)
		}
		out.Capabilities = append(out.Capabilities, name)
	}
	if c.HTTP != nil {
		for _, r := range c.HTTP.Allow {
			if !hostGranted(r.Host, g.HTTPHosts) {
				return Grants{}, fmt.Errorf("%w: http host %q is requested (capabilities.http.allow) but not granted", ErrNotGranted, r.Host)
			}
			out.HTTPHosts = append(out.HTTPHosts, r.Host)
		}
		out.HTTPHosts = sortedCopy(out.HTTPHosts)
		if c.HTTP.AllowPrivate {
			if !g.HTTPAllowPrivate {
				return Grants{}, fmt.Errorf("%w: http allow_private is requested (capabilities.http.allow_private) but not granted", ErrNotGranted)
			}
			out.HTTPAllowPrivate = true
		}
	}
	for _, s := range c.Secrets {
		if g.Secrets != nil && !slices.Contains(g.Secrets, s) {
			return Grants{}, fmt.Errorf("%w: secret %q is requested (capabilities.secrets) but not granted", ErrNotGranted, s)
		}
		out.Secrets = append(out.Secrets, s)
	}
	out.Secrets = sortedCopy(out.Secrets)
	return out, nil
}

// hostGranted reports whether host is covered by a granted name: the same
// name, or a granted "*.example.com" covering a subdomain (or the same
// wildcard).
func hostGranted(host string, granted []string) bool {
	host = strings.ToLower(host)
	for _, g := range granted {
		g = strings.ToLower(g)
		if g == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(g, "*"); ok && strings.HasPrefix(suffix, ".") {
			h := strings.TrimPrefix(host, "*")
			if strings.HasSuffix(h, suffix) && len(h) > len(suffix) {
				return true
			}
		}
	}
	return false
}

// commit moves the verified files into place and switches the lock entry.
func commit(root, stage string, v *verified, o InstallOptions, log *slog.Logger) (*Installed, error) {
	m := v.manifest
	lf, err := ReadLock(root)
	if err != nil {
		return nil, err
	}
	prev, hadPrev := lf.Plugins[m.Name]
	newV, _ := ParseVersion(m.Version)
	if hadPrev {
		if prev.Version == m.Version {
			return nil, fmt.Errorf("%w (remove it first)", ErrExists)
		}
		if pv, err := ParseVersion(prev.Version); err == nil && newV.Compare(pv) < 0 && !o.AllowDowngrade {
			return nil, fmt.Errorf("%s is installed; refusing to downgrade to %s without AllowDowngrade", prev.Version, m.Version)
		}
	}

	// Build the version directory beside the staging copy: only the files
	// the manifest pins, the manifest, its signature and the configuration.
	out := filepath.Join(filepath.Dir(stage), "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(out, ManifestFile), v.manifestBytes, 0o600); err != nil {
		return nil, err
	}
	if v.signed {
		if _, err := copyRegular(filepath.Join(stage, SignatureFile), filepath.Join(out, SignatureFile), 0o600, 4096); err != nil {
			return nil, err
		}
	}
	entry := LockEntry{
		Name:           m.Name,
		Version:        m.Version,
		Publisher:      m.Publisher,
		Runtime:        m.Runtime,
		Interfaces:     sortedCopy(m.Interfaces),
		ManifestSHA256: v.manifestSHA256,
		Artifacts:      map[string]Artifact{},
		Signer:         v.signer,
		Grants:         v.grants,
		ConfigSHA256:   sha256Hex(v.config),
		InstalledAt:    time.Now().UTC().Truncate(time.Second),
	}
	for key, a := range artifactsOf(m) {
		mode := fs.FileMode(0o600)
		if m.Runtime == RuntimeProcess && key != "config_schema" {
			mode = 0o700
		}
		got, err := copyRegular(filepath.Join(stage, filepath.FromSlash(a.File)), filepath.Join(out, filepath.FromSlash(a.File)), mode, MaxArtifactSize)
		if err != nil {
			return nil, err
		}
		if got != a.SHA256 { // the copy is what will run: check it too
			return nil, fmt.Errorf("%s %s: %w while copying", key, a.File, ErrDigestMismatch)
		}
		if key != "config_schema" {
			entry.Artifacts[key] = a
		}
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(out, configFile), v.config, 0o600); err != nil {
		return nil, err
	}
	if err := fixDirModes(out); err != nil {
		return nil, err
	}

	nameDir := filepath.Join(root, m.Name)
	if err := os.MkdirAll(nameDir, 0o700); err != nil {
		return nil, err
	}
	final := filepath.Join(nameDir, m.Version)
	if _, err := os.Lstat(final); err == nil {
		// Left by an install that failed before switching the lock file.
		log.Warn("replacing a version directory the lock file does not point to", "dir", final)
		if err := os.RemoveAll(final); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(out, final); err != nil {
		return nil, err
	}
	if err := fsutil.SyncDir(nameDir); err != nil {
		return nil, err
	}
	if testHookBeforeLockSwitch != nil {
		testHookBeforeLockSwitch()
	}
	lf.Plugins[m.Name] = entry
	if err := writeLock(root, lf); err != nil {
		_ = os.RemoveAll(final)
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if hadPrev {
		if err := os.RemoveAll(filepath.Join(nameDir, prev.Version)); err != nil {
			log.Warn("could not delete the previous plugin version", "name", m.Name, "version", prev.Version, "err", err)
		}
	}
	return &Installed{LockEntry: entry, Dir: final, Manifest: m}, nil
}

// fixDirModes sets every directory under dir to 0700.
func fixDirModes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return nil
	})
}

// Load returns the active version of name from root, after checking, every
// time, the sha256 of its manifest, configuration and artifact against the
// lock file (as Vault does before each plugin launch). For a wasm plugin it
// returns the verified bytes in Wasm: hand those to the runtime, never the
// file. For a process plugin it returns the binary for this os/arch in Binary
// and its digest in BinarySHA256: pin it again at exec.
func Load(root, name string) (*Installed, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("load: invalid plugin name %q", name)
	}
	lf, err := ReadLock(root)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	e, ok := lf.Plugins[name]
	if !ok {
		return nil, fmt.Errorf("load %s: %w", name, ErrNotInstalled)
	}
	inst, err := loadEntry(root, e)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", name, e.Version, err)
	}
	return inst, nil
}

func loadEntry(root string, e LockEntry) (*Installed, error) {
	dir := filepath.Join(root, e.Name, e.Version)
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s: not a directory writable only by its owner", dir)
	}
	mb, err := readLimited(filepath.Join(dir, ManifestFile), MaxManifestSize)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(mb); got != e.ManifestSHA256 {
		return nil, fmt.Errorf("%s: %w: lock file has %s, file has %s", ManifestFile, ErrDigestMismatch, e.ManifestSHA256, got)
	}
	m, err := DecodeManifest(mb)
	if err != nil {
		return nil, err
	}
	if m.Name != e.Name || m.Version != e.Version || m.Runtime != e.Runtime {
		return nil, fmt.Errorf("%s does not match the lock entry", ManifestFile)
	}
	cfg, err := readLimited(filepath.Join(dir, configFile), MaxManifestSize)
	if err != nil {
		return nil, err
	}
	if sha256Hex(cfg) != e.ConfigSHA256 {
		return nil, fmt.Errorf("%s: %w", configFile, ErrDigestMismatch)
	}
	inst := &Installed{LockEntry: e, Dir: dir, Manifest: m, Config: cfg}

	key := "wasm"
	if e.Runtime == RuntimeProcess {
		key = runtime.GOOS + "/" + runtime.GOARCH
	}
	a, ok := e.Artifacts[key]
	if !ok {
		return nil, fmt.Errorf("no artifact for %s", key)
	}
	if pinned := artifactsOf(m)[key]; pinned != a {
		return nil, fmt.Errorf("artifact %s: manifest and lock file disagree", key)
	}
	p := filepath.Join(dir, filepath.FromSlash(a.File))
	switch e.Runtime {
	case RuntimeWasm:
		b, err := readLimited(p, MaxArtifactSize)
		if err != nil {
			return nil, err
		}
		if got := sha256Hex(b); got != a.SHA256 {
			return nil, fmt.Errorf("%s: %w: lock file has %s, file has %s", a.File, ErrDigestMismatch, a.SHA256, got)
		}
		inst.Wasm = b
	case RuntimeProcess:
		got, err := FileSHA256(p)
		if err != nil {
			return nil, err
		}
		if got != a.SHA256 {
			return nil, fmt.Errorf("%s: %w: lock file has %s, file has %s", a.File, ErrDigestMismatch, a.SHA256, got)
		}
		inst.Binary, inst.BinarySHA256 = p, got
	}
	return inst, nil
}

// readLimited reads a regular file (not through a symlink) of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", filepath.Base(path))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", filepath.Base(path), max)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", filepath.Base(path), max)
	}
	return b, nil
}
