package pluginpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/fsutil"
)

// Pack writes the package directory dir as a gzip-compressed tar file at
// out, for publishers to ship one file. It packs every regular file under
// dir (sorted, with zeroed owners and times, so the same directory packs to
// the same bytes), refuses symlinks and other special files, and first checks
// that plugin.yaml decodes and that every artifact matches its pinned sha256.
// Sign before packing: the signature file is packed like any other.
func Pack(dir, out string) error {
	mb, err := readLimited(filepath.Join(dir, ManifestFile), MaxManifestSize)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	m, err := DecodeManifest(mb)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	for key, a := range artifactsOf(m) {
		got, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(a.File)))
		if err != nil {
			return fmt.Errorf("pack: %s: %w", key, err)
		}
		if got != a.SHA256 {
			return fmt.Errorf("pack: %s %s: %w: manifest pins %s, file has %s", key, a.File, ErrDigestMismatch, a.SHA256, got)
		}
	}
	outAbs, _ := filepath.Abs(out)

	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if abs, _ := filepath.Abs(p); abs == outAbs {
			return nil
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: time.Unix(0, 0)})
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: only regular files and directories can be packed", name)
		}
		files++
		if files > MaxPackageFiles {
			return fmt.Errorf("more than %d files", MaxPackageFiles)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if fi.Mode().Perm()&0o100 != 0 {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: fi.Size(), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, io.LimitReader(f, fi.Size()))
		return err
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	if err := fsutil.WriteFileAtomic(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	return nil
}

// stagePackage copies the package at src into dst, a new directory that only
// this process writes: from a directory, the manifest, its signature and the
// files the manifest names; from a .tar.gz or .tgz, every regular file,
// within [MaxPackageSize] and [MaxPackageFiles]. Every later check reads dst,
// never src.
func stagePackage(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	if !fi.IsDir() {
		if !strings.HasSuffix(src, ".tar.gz") && !strings.HasSuffix(src, ".tgz") {
			return errors.New("want a package directory or a .tar.gz")
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		return extractTarGz(f, dst)
	}
	if _, err := copyRegular(filepath.Join(src, ManifestFile), filepath.Join(dst, ManifestFile), 0o600, MaxManifestSize); err != nil {
		return err
	}
	_, err = copyRegular(filepath.Join(src, SignatureFile), filepath.Join(dst, SignatureFile), 0o600, 4096)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	mb, err := os.ReadFile(filepath.Join(dst, ManifestFile))
	if err != nil {
		return err
	}
	m, err := DecodeManifest(mb)
	if err != nil {
		return err
	}
	for key, a := range artifactsOf(m) {
		if err := refuseSymlinkParents(src, a.File); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if _, err := copyRegular(filepath.Join(src, filepath.FromSlash(a.File)), filepath.Join(dst, filepath.FromSlash(a.File)), 0o600, MaxArtifactSize); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// refuseSymlinkParents refuses a path whose directories inside root are symlinks.
func refuseSymlinkParents(root, rel string) error {
	p := root
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", p)
		}
	}
	return nil
}

// extractTarGz extracts regular files and directories only, refusing
// absolute paths, "..", links and devices, and bounding sizes and counts.
func extractTarGz(r io.Reader, dst string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip file: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var total int64
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			continue
		}
		if strings.Contains(name, "\\") || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("tar: unsafe path %q", h.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			continue
		case tar.TypeReg:
		default:
			return fmt.Errorf("tar: %q: only regular files and directories are allowed", h.Name)
		}
		files++
		total += h.Size
		if files > MaxPackageFiles || h.Size > MaxArtifactSize || total > MaxPackageSize {
			return fmt.Errorf("tar: package too large (at most %d files, %d bytes a file, %d in all)", MaxPackageFiles, MaxArtifactSize, MaxPackageSize)
		}
		if err := refuseSymlinkParents(dst, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("tar: %q: %w", h.Name, err)
		}
		n, err := io.Copy(f, io.LimitReader(tr, h.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if n != h.Size {
			return fmt.Errorf("tar: %q: truncated", h.Name)
		}
	}
}
