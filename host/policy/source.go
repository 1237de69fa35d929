package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/util"
)

// source is one version of the policy files as read from a directory.
type source struct {
	// rego maps a file name (slash-separated, relative to the root) to its text.
	rego map[string][]byte
	// data maps a data file name to its contents.
	data map[string][]byte
	// revision is a short hex digest of all file names and contents.
	revision string
}

// isTestFile reports whether name is a Rego test file.
func isTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.rego")
}

// isDataFile reports whether name is a data document.
func isDataFile(name string) bool {
	switch path.Base(name) {
	case "data.json", "data.yaml", "data.yml":
		return true
	}
	return false
}

// readSource reads the policy files under fsys. Directories whose name starts
// with a dot are skipped. A data file in a subdirectory is placed under that
// directory's path in data, as `opa` does.
func readSource(fsys fs.FS) (*source, error) {
	src := &source{rego: map[string][]byte{}, data: map[string][]byte{}}
	var names []string
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(name, ".rego"):
		case isDataFile(name):
		default:
			return nil
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if strings.HasSuffix(name, ".rego") {
			src.rego[name] = b
		} else {
			src.data[name] = b
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy: read files: %w", err)
	}
	if len(src.rego) == 0 {
		return nil, fmt.Errorf("policy: no .rego files found")
	}
	sort.Strings(names)
	h := sha256.New()
	var n [8]byte
	for _, name := range names {
		b := src.rego[name]
		if b == nil {
			b = src.data[name]
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	src.revision = hex.EncodeToString(h.Sum(nil)[:6])
	return src, nil
}

// dataDocument merges the data files into one document.
func (s *source) dataDocument() (map[string]any, error) {
	doc := map[string]any{}
	names := make([]string, 0, len(s.data))
	for name := range s.data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var v any
		if err := util.Unmarshal(s.data[name], &v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: top level must be an object", name)
		}
		// Walk down to the directory's node, creating it as needed.
		node := doc
		if dir := path.Dir(name); dir != "." {
			for _, seg := range strings.Split(dir, "/") {
				child, ok := node[seg]
				if !ok {
					m := map[string]any{}
					node[seg] = m
					node = m
					continue
				}
				m, ok := child.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: data path %s conflicts with a value", name, dir)
				}
				node = m
			}
		}
		for k, v := range obj {
			if _, dup := node[k]; dup {
				return nil, fmt.Errorf("%s: key %q defined twice", name, k)
			}
			node[k] = v
		}
	}
	return doc, nil
}
