package pluginpkg

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ubeu/gateway/host/fsutil"
)

// LockFileName is the lock file at the root of the plugin directory.
const LockFileName = "plugins.lock.json"

// lockFormat is the version of the lock file format.
const lockFormat = 1

// ErrNotInstalled is returned when the lock file has no entry for a name.
var ErrNotInstalled = errors.New("plugin is not installed")

// LockFile is <root>/plugins.lock.json: which version of each plugin is
// active, the digests it was installed with and what the operator granted.
// Like Terraform's provider lock file it is the single source of truth: a
// version directory that the lock file does not point to is never loaded.
type LockFile struct {
	Format  int                  `json:"format"`
	Plugins map[string]LockEntry `json:"plugins"`
}

// LockEntry records one installed plugin.
type LockEntry struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Publisher  string   `json:"publisher"`
	Runtime    string   `json:"runtime"`
	Interfaces []string `json:"interfaces"`
	// ManifestSHA256 is the sha256 of the exact plugin.yaml bytes, which pin
	// the artifacts' digests in turn.
	ManifestSHA256 string `json:"manifest_sha256"`
	// Artifacts maps "wasm", or "os/arch" for a process plugin, to the file
	// (relative to the version directory) and its sha256.
	Artifacts map[string]Artifact `json:"artifacts"`
	// Signer is the ID of the trusted key that signed the manifest
	// ("ed25519:…"), or "unsigned".
	Signer string `json:"signer"`
	// Grants is what the plugin was granted: exactly what it requested, all
	// of which the operator allowed.
	Grants Grants `json:"grants"`
	// ConfigSHA256 is the sha256 of the operator's configuration stored
	// beside the plugin (.config.json).
	ConfigSHA256 string    `json:"config_sha256"`
	InstalledAt  time.Time `json:"installed_at"`
}

func lockPath(root string) string { return filepath.Join(root, LockFileName) }

// ReadLock reads the lock file of root; a missing file is an empty lock.
func ReadLock(root string) (*LockFile, error) {
	data, err := os.ReadFile(lockPath(root))
	if errors.Is(err, fs.ErrNotExist) {
		return &LockFile{Format: lockFormat, Plugins: map[string]LockEntry{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var lf LockFile
	if err := json.Unmarshal(data, &lf); err != nil {
		return nil, fmt.Errorf("%s: %w", LockFileName, err)
	}
	if lf.Format != lockFormat {
		return nil, fmt.Errorf("%s: format %d, this gatewayd reads %d", LockFileName, lf.Format, lockFormat)
	}
	if lf.Plugins == nil {
		lf.Plugins = map[string]LockEntry{}
	}
	for name, e := range lf.Plugins {
		if e.Name != name || !nameRE.MatchString(name) {
			return nil, fmt.Errorf("%s: entry %q: bad name", LockFileName, name)
		}
		if _, err := ParseVersion(e.Version); err != nil {
			return nil, fmt.Errorf("%s: entry %q: %w", LockFileName, name, err)
		}
	}
	return &lf, nil
}

// writeLock writes the lock file atomically (mode 0600).
func writeLock(root string, lf *LockFile) error {
	lf.Format = lockFormat
	data, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(lockPath(root), append(data, '\n'), 0o600)
}

// List returns the entries of the lock file of root, sorted by name.
func List(root string) ([]LockEntry, error) {
	lf, err := ReadLock(root)
	if err != nil {
		return nil, err
	}
	out := make([]LockEntry, 0, len(lf.Plugins))
	for _, name := range sortedKeys(lf.Plugins) {
		out = append(out, lf.Plugins[name])
	}
	return out, nil
}

// Remove drops name from the lock file, then deletes <root>/<name>. Once the
// lock entry is gone the plugin can no longer be loaded, even if deleting
// its files fails.
func Remove(root, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("remove: invalid plugin name %q", name)
	}
	unlock, err := lockRoot(root)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	defer unlock()
	lf, err := ReadLock(root)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if _, ok := lf.Plugins[name]; !ok {
		return fmt.Errorf("remove %s: %w", name, ErrNotInstalled)
	}
	delete(lf.Plugins, name)
	if err := writeLock(root, lf); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
		return fmt.Errorf("remove %s: lock entry removed, files left: %w", name, err)
	}
	return nil
}

// sortedCopy returns a sorted copy without duplicates.
func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
