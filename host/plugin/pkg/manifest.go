package pluginpkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// ManifestFile is the name of the manifest at the root of a package, and
// SignatureFile the name of its detached signature.
const (
	ManifestFile  = "plugin.yaml"
	SignatureFile = "plugin.yaml.sig"
)

// MaxManifestSize bounds the manifest read from a package.
const MaxManifestSize = 1 << 20

// Runtimes a plugin can run on.
const (
	RuntimeWasm    = "wasm"
	RuntimeProcess = "process"
)

// Interfaces a plugin may implement, and capabilities it may request. A
// capability name is also the suffix of the wasm import module that provides
// it: "http" is served by "gatewayd_v1_http".
var (
	KnownInterfaces   = []string{"resolver", "lms", "directory", "sso"}
	KnownCapabilities = []string{"http", "kv", "secrets", "log", "metrics", "clock", "random", "config"}
)

// Manifest is the decoded plugin.yaml. See the package documentation for a
// full example. Decode it with [DecodeManifest], which is strict and validates.
type Manifest struct {
	Name         string       `yaml:"name"`
	Publisher    string       `yaml:"publisher"`
	Version      string       `yaml:"version"`
	Description  string       `yaml:"description"`
	Interfaces   []string     `yaml:"interfaces"`
	Runtime      string       `yaml:"runtime"`
	ABI          string       `yaml:"abi"`
	Gatewayd     string       `yaml:"gatewayd"`
	Artifacts    Artifacts    `yaml:"artifacts"`
	Capabilities Capabilities `yaml:"capabilities"`
	Limits       Limits       `yaml:"limits"`
	ConfigSchema ConfigSchema `yaml:"config_schema"`
	License      string       `yaml:"license"`
	Source       string       `yaml:"source"`
}

// Artifacts pins the executable files of a package by sha256. A wasm plugin
// has exactly one module; a process plugin has one binary per "os/arch".
type Artifacts struct {
	Wasm    *Artifact           `yaml:"wasm,omitempty"`
	Process map[string]Artifact `yaml:"process,omitempty"`
}

// Artifact is one file of the package and the lower-case hex sha256 of its bytes.
type Artifact struct {
	File   string `yaml:"file" json:"file"`
	SHA256 string `yaml:"sha256" json:"sha256"`
}

// Capabilities is what a plugin requests. Nothing is granted by default: a
// capability absent here is not available to the plugin, and the operator
// must grant every capability requested (see [Grants]).
type Capabilities struct {
	HTTP    *HTTPCapability `yaml:"http,omitempty"`
	KV      *KVCapability   `yaml:"kv,omitempty"`
	Secrets []string        `yaml:"secrets,omitempty"`
	Log     bool            `yaml:"log,omitempty"`
	Metrics bool            `yaml:"metrics,omitempty"`
	Clock   bool            `yaml:"clock,omitempty"`
	Random  bool            `yaml:"random,omitempty"`
	Config  bool            `yaml:"config,omitempty"`
}

// HTTPCapability is outbound HTTP to the listed destinations only.
// AllowPrivate asks to reach private, loopback and link-local addresses,
// which the host refuses otherwise.
type HTTPCapability struct {
	Allow        []HTTPRule `yaml:"allow"`
	AllowPrivate bool       `yaml:"allow_private,omitempty"`
}

// HTTPRule is one allowed destination. Host is a DNS name, an IP address or
// "*.example.com" (any subdomain, not the apex). Port 0 means the scheme's
// default port.
type HTTPRule struct {
	Scheme string `yaml:"scheme" json:"scheme"`
	Host   string `yaml:"host" json:"host"`
	Port   int    `yaml:"port,omitempty" json:"port,omitempty"`
}

// KVCapability is a private key-value namespace with quotas.
type KVCapability struct {
	MaxEntries int64 `yaml:"max_entries" json:"max_entries"`
	MaxBytes   int64 `yaml:"max_bytes" json:"max_bytes"`
}

// Limits are the resource limits the plugin asks for; zero means the host's
// default. The host may lower them.
type Limits struct {
	MemoryPages  uint32   `yaml:"memory_pages,omitempty"`
	CallTimeout  Duration `yaml:"call_timeout,omitempty"`
	MinInstances int      `yaml:"min_instances,omitempty"`
	MaxInstances int      `yaml:"max_instances,omitempty"`
	// RecycleAfterCalls replaces a Wasm instance after that many calls
	// (0: the host default, 100,000). Linear memory never shrinks, so
	// recycling is what bounds a long-lived instance.
	RecycleAfterCalls int `yaml:"recycle_after_calls,omitempty"`
	// StartTimeout bounds a plugin's start, up to its first answer (0: the
	// host default, 10 s). A module whose instances are slow to initialise
	// (large tables built at start) says so here.
	StartTimeout Duration `yaml:"start_timeout,omitempty"`
	// RecyclePages replaces a Wasm instance whose linear memory has grown
	// beyond that many 64 KiB pages (0: the host default, three quarters
	// of memory_pages, so that an instance is replaced before its cap).
	RecyclePages uint32 `yaml:"recycle_pages,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("250ms").
type Duration time.Duration

// UnmarshalYAML accepts only a duration string, never a bare number.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return fmt.Errorf("line %d: want a duration string such as \"2s\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ConfigSchema is the JSON Schema of the operator's configuration for the
// plugin: either inline (a YAML mapping, kept here as JSON) or a file of the
// package pinned by sha256, written {file: config.schema.json, sha256: …}.
// A mapping with a "file" key is read as a file reference: "file" is not a
// JSON Schema keyword.
type ConfigSchema struct {
	Inline json.RawMessage
	File   *Artifact
}

// IsZero reports whether no schema was given.
func (c ConfigSchema) IsZero() bool { return c.Inline == nil && c.File == nil }

// UnmarshalYAML decodes either form.
func (c *ConfigSchema) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: config_schema: want an inline JSON Schema mapping or {file, sha256}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "file" {
			var a Artifact
			if err := decodeStrictNode(n, &a); err != nil {
				return fmt.Errorf("config_schema: %w", err)
			}
			c.File = &a
			return nil
		}
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("config_schema: %w", err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("line %d: config_schema: not representable as JSON: %w", n.Line, err)
	}
	c.Inline = raw
	return nil
}

// MarshalYAML writes back the form that was decoded.
func (c ConfigSchema) MarshalYAML() (any, error) {
	if c.File != nil {
		return c.File, nil
	}
	if c.Inline == nil {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(c.Inline, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeStrictNode decodes n into v refusing unknown keys. yaml.Node.Decode
// has no strict mode, so the node is re-encoded and decoded strictly.
func decodeStrictNode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	return d.Decode(v)
}

// DecodeManifest decodes plugin.yaml strictly and validates it: an unknown
// key, a duplicated key, a second YAML document or an invalid value is an
// error that names the key. It never panics on any input.
func DecodeManifest(data []byte) (m *Manifest, err error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", ManifestFile, MaxManifestSize)
	}
	defer func() {
		// The YAML decoder handles its own errors; this guards the host
		// against a decoder bug on hostile input.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%s: malformed YAML (decoder panic: %v)", ManifestFile, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	m = new(Manifest)
	if err := dec.Decode(m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty", ManifestFile)
		}
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document", ManifestFile)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	secretRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	platRE    = regexp.MustCompile(`^[a-z0-9]{1,16}/[a-z0-9]{1,16}$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hostRE    = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	spdxRE    = regexp.MustCompile(`^[A-Za-z0-9.+\-:() ]{1,256}$`)
	maxLimits = Limits{MemoryPages: 65536, CallTimeout: Duration(5 * time.Minute), MaxInstances: 1024}
)

// Validate checks every field and returns all problems joined, each naming
// its key (for example "capabilities.http.allow[0].host: …").
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", ManifestFile, key, fmt.Sprintf(format, a...)))
	}

	if !nameRE.MatchString(m.Name) {
		bad("name", "%q: want 1 to 64 of [a-z0-9-], not starting or ending with '-'", m.Name)
	}
	if m.Publisher == "" {
		bad("publisher", "required")
	} else if len(m.Publisher) > 128 || !printable(m.Publisher) {
		bad("publisher", "at most 128 printable characters")
	}
	if _, err := ParseVersion(m.Version); err != nil {
		bad("version", "%v", err)
	}
	if len(m.Description) > 1024 || !printable(strings.ReplaceAll(m.Description, "\n", " ")) {
		bad("description", "at most 1024 printable characters")
	}
	if len(m.Interfaces) == 0 {
		bad("interfaces", "at least one of %s", strings.Join(KnownInterfaces, ", "))
	}
	for i, s := range m.Interfaces {
		if !slices.Contains(KnownInterfaces, s) {
			bad(fmt.Sprintf("interfaces[%d]", i), "%q: want one of %s", s, strings.Join(KnownInterfaces, ", "))
		} else if slices.Index(m.Interfaces, s) != i {
			bad(fmt.Sprintf("interfaces[%d]", i), "%q listed twice", s)
		}
	}
	switch m.Runtime {
	case RuntimeWasm:
		if m.Artifacts.Wasm == nil {
			bad("artifacts.wasm", "required for runtime wasm")
		} else {
			validateArtifact(bad, "artifacts.wasm", *m.Artifacts.Wasm)
		}
		if m.Artifacts.Process != nil {
			bad("artifacts.process", "not allowed for runtime wasm")
		}
	case RuntimeProcess:
		if len(m.Artifacts.Process) == 0 {
			bad("artifacts.process", "required for runtime process: one {file, sha256} per os/arch")
		}
		for _, plat := range sortedKeys(m.Artifacts.Process) {
			key := "artifacts.process." + plat
			if !platRE.MatchString(plat) {
				bad(key, "want os/arch such as linux/amd64")
			}
			validateArtifact(bad, key, m.Artifacts.Process[plat])
		}
		if m.Artifacts.Wasm != nil {
			bad("artifacts.wasm", "not allowed for runtime process")
		}
	default:
		bad("runtime", "%q: want wasm or process", m.Runtime)
	}
	if m.ABI == "" {
		bad("abi", "required, for example \">=1.0 <2\"")
	} else if _, err := ParseRange(m.ABI); err != nil {
		bad("abi", "%v", err)
	}
	if m.Gatewayd != "" {
		if _, err := ParseRange(m.Gatewayd); err != nil {
			bad("gatewayd", "%v", err)
		}
	}

	c := m.Capabilities
	if c.HTTP != nil {
		if len(c.HTTP.Allow) == 0 {
			bad("capabilities.http.allow", "at least one {scheme, host, port}")
		}
		for i, r := range c.HTTP.Allow {
			key := fmt.Sprintf("capabilities.http.allow[%d]", i)
			if r.Scheme != "https" && r.Scheme != "http" {
				bad(key+".scheme", "%q: want https or http", r.Scheme)
			}
			if !validHost(r.Host) {
				bad(key+".host", "%q: want a lower-case DNS name, *.domain or an IP address", r.Host)
			}
			if r.Port < 0 || r.Port > 65535 {
				bad(key+".port", "%d: want 1 to 65535, or omit it for the scheme's default", r.Port)
			}
		}
	}
	if c.KV != nil {
		if c.KV.MaxEntries <= 0 {
			bad("capabilities.kv.max_entries", "want a positive number")
		}
		if c.KV.MaxBytes <= 0 {
			bad("capabilities.kv.max_bytes", "want a positive number")
		}
	}
	for i, s := range c.Secrets {
		key := fmt.Sprintf("capabilities.secrets[%d]", i)
		if !secretRE.MatchString(s) {
			bad(key, "%q: want 1 to 128 of [A-Za-z0-9_.-]", s)
		} else if slices.Index(c.Secrets, s) != i {
			bad(key, "%q listed twice", s)
		}
	}
	if c.Secrets != nil && len(c.Secrets) == 0 {
		bad("capabilities.secrets", "empty list: omit it or name the secrets")
	}

	l := m.Limits
	if l.MemoryPages > maxLimits.MemoryPages {
		bad("limits.memory_pages", "%d: at most %d (4 GiB)", l.MemoryPages, maxLimits.MemoryPages)
	}
	if l.CallTimeout < 0 || l.CallTimeout > maxLimits.CallTimeout {
		bad("limits.call_timeout", "%v: want 0 (host default) to %v", time.Duration(l.CallTimeout), time.Duration(maxLimits.CallTimeout))
	}
	if l.MinInstances < 0 || l.MinInstances > maxLimits.MaxInstances {
		bad("limits.min_instances", "%d: want 0 to %d", l.MinInstances, maxLimits.MaxInstances)
	}
	if l.MaxInstances < 0 || l.MaxInstances > maxLimits.MaxInstances {
		bad("limits.max_instances", "%d: want 0 (host default) to %d", l.MaxInstances, maxLimits.MaxInstances)
	} else if l.MaxInstances > 0 && l.MinInstances > l.MaxInstances {
		bad("limits.max_instances", "%d is below min_instances %d", l.MaxInstances, l.MinInstances)
	}
	if l.StartTimeout < 0 || l.StartTimeout > Duration(10*time.Minute) {
		bad("limits.start_timeout", "%v: want 0 (host default) to 10m", time.Duration(l.StartTimeout))
	}
	if l.RecycleAfterCalls < 0 {
		bad("limits.recycle_after_calls", "%d: want 0 (host default) or more", l.RecycleAfterCalls)
	}
	if l.RecyclePages > 0 && l.MemoryPages > 0 && l.RecyclePages > l.MemoryPages {
		bad("limits.recycle_pages", "%d is above memory_pages %d: the instance would hit its cap first", l.RecyclePages, l.MemoryPages)
	}

	if f := m.ConfigSchema.File; f != nil {
		validateArtifact(bad, "config_schema", *f)
	} else if m.ConfigSchema.Inline != nil {
		if _, err := compileSchema(m.ConfigSchema.Inline); err != nil {
			bad("config_schema", "%v", err)
		}
	}
	if m.License != "" && !spdxRE.MatchString(m.License) {
		bad("license", "%q: want an SPDX license expression such as Apache-2.0", m.License)
	}
	if m.Source != "" {
		u, err := url.Parse(m.Source)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("source", "%q: want an http(s) URL", m.Source)
		}
	}
	if m.Artifacts.Wasm != nil && m.ConfigSchema.File != nil && m.Artifacts.Wasm.File == m.ConfigSchema.File.File {
		bad("config_schema.file", "same file as artifacts.wasm")
	}
	return errors.Join(errs...)
}

func validateArtifact(bad func(string, string, ...any), key string, a Artifact) {
	if err := checkRelPath(a.File); err != nil {
		bad(key+".file", "%v", err)
	} else if a.File == ManifestFile || a.File == SignatureFile {
		bad(key+".file", "%q is reserved", a.File)
	}
	if !sha256RE.MatchString(a.SHA256) {
		bad(key+".sha256", "want 64 lower-case hex digits")
	}
}

// checkRelPath accepts a clean, relative, slash-separated path inside the package.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("required")
	case len(p) > 255:
		return errors.New("longer than 255 bytes")
	case strings.ContainsAny(p, "\\\x00:") || !printable(p):
		return fmt.Errorf("%q: invalid character", p)
	case path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%q: want a clean relative path inside the package", p)
	case strings.HasPrefix(path.Base(p), "."):
		return fmt.Errorf("%q: hidden files are not allowed", p)
	}
	return nil
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return true
	}
	return hostRE.MatchString(h)
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Requested returns the names of the capabilities the manifest requests, in
// the order of [KnownCapabilities].
func (c Capabilities) Requested() []string {
	var out []string
	for _, name := range KnownCapabilities {
		if c.has(name) {
			out = append(out, name)
		}
	}
	return out
}

func (c Capabilities) has(name string) bool {
	switch name {
	case "http":
		return c.HTTP != nil
	case "kv":
		return c.KV != nil
	case "secrets":
		return len(c.Secrets) > 0
	case "log":
		return c.Log
	case "metrics":
		return c.Metrics
	case "clock":
		return c.Clock
	case "random":
		return c.Random
	case "config":
		return c.Config
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
