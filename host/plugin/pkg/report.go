package pluginpkg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Report describes a package or an installed plugin, for `gatewayd plugin
// inspect`. Problems are reported in Status, not as an error, so that a
// broken package can still be looked at.
type Report struct {
	// Source is "package" (a directory or .tar.gz not installed) or "installed".
	Source   string
	Manifest *Manifest
	// Signer is the trusted key ID that signed the manifest, "unsigned", or
	// "" when a signature is present but does not verify.
	Signer string
	// ManifestSHA256 is the digest of the exact manifest bytes.
	ManifestSHA256 string
	// Digests maps each pinned file ("wasm", "os/arch", "config_schema") to
	// the sha256 of the file as found.
	Digests map[string]string
	// Capabilities are the requested capability names.
	Capabilities []string
	// Module is what the wasm module declares (packages, wasm runtime only).
	Module *ModuleInfo
	// Lock is the lock entry (installed plugins only).
	Lock *LockEntry
	// Status is "ok" or the first problem found.
	Status string
}

// Inspect reports on a package or an installed plugin. If path is a
// directory holding plugin.yaml, or a .tar.gz, it is read as a package and
// checked against trusted (signature, digests, module markers); name, if
// set, must match. Otherwise path is a plugin root and name is looked up in
// its lock file, and the installed files are checked as [Load] does.
func Inspect(ctx context.Context, path, name string, trusted []PublicKey) (*Report, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	isPkg := !fi.IsDir()
	if fi.IsDir() {
		if _, err := os.Lstat(filepath.Join(path, ManifestFile)); err == nil {
			isPkg = true
		}
	}
	if !isPkg {
		return inspectInstalled(path, name)
	}

	tmp, err := os.MkdirTemp("", "gatewayd-plugin-inspect-")
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	defer os.RemoveAll(tmp)
	stage := filepath.Join(tmp, "pkg")
	if err := stagePackage(path, stage); err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	mb, err := readLimited(filepath.Join(stage, ManifestFile), MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	m, err := DecodeManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if name != "" && m.Name != name {
		return nil, fmt.Errorf("inspect: package is %q, not %q", m.Name, name)
	}
	r := &Report{Source: "package", Manifest: m, ManifestSHA256: sha256Hex(mb), Digests: map[string]string{},
		Capabilities: m.Capabilities.Requested(), Status: "ok"}
	problem := func(s string) {
		if r.Status == "ok" {
			r.Status = s
		}
	}
	sig, err := readLimited(filepath.Join(stage, SignatureFile), 4096)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Signer = Unsigned
		problem("unsigned")
	case err != nil:
		problem("signature: " + err.Error())
	default:
		if r.Signer, err = Verify(mb, sig, trusted); err != nil {
			problem("signature: " + err.Error())
		}
	}
	for key, a := range artifactsOf(m) {
		got, err := FileSHA256(filepath.Join(stage, filepath.FromSlash(a.File)))
		if err != nil {
			problem(key + ": " + err.Error())
			continue
		}
		r.Digests[key] = got
		if got != a.SHA256 {
			problem(fmt.Sprintf("%s %s: sha256 mismatch", key, a.File))
		}
	}
	if m.Runtime == RuntimeWasm && r.Digests["wasm"] == m.Artifacts.Wasm.SHA256 {
		b, err := readLimited(filepath.Join(stage, filepath.FromSlash(m.Artifacts.Wasm.File)), MaxArtifactSize)
		if err == nil {
			var info ModuleInfo
			if info, err = InspectWasm(ctx, b); err == nil {
				r.Module = &info
				hv, _ := ParseVersion(HostABIVersion + ".0")
				err = checkModule(info, m, hv)
			}
		}
		if err != nil {
			problem(err.Error())
		}
	}
	return r, nil
}

func inspectInstalled(root, name string) (*Report, error) {
	lf, err := ReadLock(root)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	e, ok := lf.Plugins[name]
	if !ok {
		return nil, fmt.Errorf("inspect %s: %w", name, ErrNotInstalled)
	}
	r := &Report{Source: "installed", Lock: &e, Signer: e.Signer, ManifestSHA256: e.ManifestSHA256,
		Digests: map[string]string{}, Status: "ok"}
	dir := filepath.Join(root, e.Name, e.Version)
	if mb, err := readLimited(filepath.Join(dir, ManifestFile), MaxManifestSize); err == nil {
		if m, err := DecodeManifest(mb); err == nil {
			r.Manifest = m
			r.Capabilities = m.Capabilities.Requested()
		}
	}
	for key, a := range e.Artifacts {
		if got, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(a.File))); err == nil {
			r.Digests[key] = got
		}
	}
	if _, err := loadEntry(root, e); err != nil {
		r.Status = err.Error()
	}
	return r, nil
}
