package pluginpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const validManifest = `name: ens-resolver
publisher: Example Labs
version: 1.2.0-rc.1+build.5
description: Resolves ENS names.
interfaces: [resolver]
runtime: wasm
abi: ">=1.0 <2"
gatewayd: ^0.3
artifacts:
  wasm: {file: plugin.wasm, sha256: 0000000000000000000000000000000000000000000000000000000000000000}
capabilities:
  http:
    allow:
      - {scheme: https, host: "*.infura.io"}
      - {scheme: https, host: 10.0.0.7, port: 8545}
    allow_private: true
  kv: {max_entries: 1000, max_bytes: 1048576}
  secrets: [infura_key]
  log: true
  metrics: true
  clock: true
  random: true
  config: true
limits: {memory_pages: 256, call_timeout: 500ms, min_instances: 1, max_instances: 8}
config_schema:
  type: object
  properties:
    network: {type: string}
license: MIT OR Apache-2.0
source: https://github.com/example/ens-resolver
`

func TestDecodeManifestValid(t *testing.T) {
	m, err := DecodeManifest([]byte(validManifest))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Capabilities.Requested(), ","); got != "http,kv,secrets,log,metrics,clock,random,config" {
		t.Errorf("requested %q", got)
	}
	if m.Limits.CallTimeout != Duration(500e6) || m.Capabilities.HTTP.Allow[1].Port != 8545 {
		t.Errorf("limits %+v http %+v", m.Limits, m.Capabilities.HTTP)
	}
	if string(m.ConfigSchema.Inline) != `{"properties":{"network":{"type":"string"}},"type":"object"}` {
		t.Errorf("inline schema %s", m.ConfigSchema.Inline)
	}
	// The decoded manifest encodes back to one that decodes the same.
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeManifest(b); err != nil {
		t.Errorf("re-decode: %v\n%s", err, b)
	}
}

func TestDecodeManifestErrorsNameTheKey(t *testing.T) {
	cases := []struct{ edit, want string }{
		{"name: ens-resolver\n", "field nmae not found"},
		{"  log: true\n", "field lgo not found"},
		{"      - {scheme: https, host: \"*.infura.io\"}\n", "field hots not found"},
		{"name: ens-resolver\n", "name: \"ENS_Resolver\""},
		{"version: 1.2.0-rc.1+build.5\n", "version: version \"v1.2\""},
		{"interfaces: [resolver]\n", "interfaces[1]: \"billing\""},
		{"runtime: wasm\n", "runtime: \"docker\""},
		{"abi: \">=1.0 <2\"\n", "abi: range \">=one\""},
		{"  wasm: {file: plugin.wasm, sha256: 0000000000000000000000000000000000000000000000000000000000000000}\n", "artifacts.wasm.file: \"../x.wasm\""},
		{"  kv: {max_entries: 1000, max_bytes: 1048576}\n", "capabilities.kv.max_bytes: want a positive number"},
		{"limits: {memory_pages: 256, call_timeout: 500ms, min_instances: 1, max_instances: 8}\n", "limits.max_instances: 2 is below min_instances 4"},
		{"limits: {memory_pages: 256, call_timeout: 500ms, min_instances: 1, max_instances: 8}\n", "want a duration string"},
		{"limits: {memory_pages: 256, call_timeout: 500ms, min_instances: 1, max_instances: 8}\n", "limits.recycle_pages: 300 is above memory_pages 256"},
		{"limits: {memory_pages: 256, call_timeout: 500ms, min_instances: 1, max_instances: 8}\n", "limits.recycle_after_calls: -1"},
		{"limits: {memory_pages: 256, call_timeout: 500ms, min_instances: 1, max_instances: 8}\n", "limits.start_timeout: 1h0m0s"},
		{"    network: {type: string}\n", "config_schema: invalid JSON Schema"},
		{"source: https://github.com/example/ens-resolver\n", "source: \"ftp://x\""},
		{"", "mapping key \"name\" already defined"},
		{"", "more than one YAML document"},
	}
	repl := []string{
		"nmae: ens-resolver\n",
		"  lgo: true\n",
		"      - {scheme: https, hots: \"*.infura.io\"}\n",
		"name: ENS_Resolver\n",
		"version: v1.2\n",
		"interfaces: [resolver, billing]\n",
		"runtime: docker\n",
		"abi: \">=one\"\n",
		"  wasm: {file: ../x.wasm, sha256: 0000000000000000000000000000000000000000000000000000000000000000}\n",
		"  kv: {max_entries: 1000, max_bytes: 0}\n",
		"limits: {min_instances: 4, max_instances: 2}\n",
		"limits: {call_timeout: 5}\n",
		"limits: {memory_pages: 256, recycle_pages: 300}\n",
		"limits: {recycle_after_calls: -1}\n",
		"limits: {start_timeout: 1h}\n",
		"    network: {type: strung}\n",
		"source: ftp://x\n",
		"",
		"",
	}
	for i, c := range cases {
		var doc string
		switch i {
		case len(cases) - 2:
			doc = validManifest + "name: again\n"
		case len(cases) - 1:
			doc = validManifest + "---\nname: second\n"
		default:
			if !strings.Contains(validManifest, c.edit) {
				t.Fatalf("case %d: %q not in the manifest", i, c.edit)
			}
			doc = strings.Replace(validManifest, c.edit, repl[i], 1)
		}
		_, err := DecodeManifest([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error containing %q, got %v", i, c.want, err)
		}
	}
}

func TestSemverRanges(t *testing.T) {
	cases := []struct {
		r     string
		in    []string
		notIn []string
	}{
		{">=1.0 <2", []string{"1.0.0", "1.9.3"}, []string{"0.9.9", "2.0.0", "2.0.0-rc.1", "1.5.0-rc.1"}},
		{"^1.2", []string{"1.2.0", "1.99.0"}, []string{"1.1.9", "2.0.0"}},
		{"^0.3", []string{"0.3.0", "0.3.9"}, []string{"0.4.0"}},
		{"~1.2.3", []string{"1.2.3", "1.2.9"}, []string{"1.3.0"}},
		{"1.4", []string{"1.4.0", "1.4.7"}, []string{"1.5.0"}},
		{"=1.4.0", []string{"1.4.0"}, []string{"1.4.1"}},
		{"<=1.2", []string{"1.2.9"}, []string{"1.3.0"}},
		{">1.2", []string{"1.3.0"}, []string{"1.2.5"}},
		{"<1.0 || >=2.0, <3", []string{"0.5.0", "2.1.0"}, []string{"1.5.0", "3.0.0"}},
		{">=1.0.0-rc.1", []string{"1.0.0-rc.2", "1.0.0", "1.1.0"}, []string{"1.0.0-alpha", "1.1.0-rc.1"}},
		{"*", []string{"0.0.1", "9.9.9"}, []string{"1.0.0-rc.1"}},
	}
	for _, c := range cases {
		r, err := ParseRange(c.r)
		if err != nil {
			t.Fatalf("%q: %v", c.r, err)
		}
		for _, s := range c.in {
			if !r.Contains(mustVersion(t, s)) {
				t.Errorf("%q should contain %s", c.r, s)
			}
		}
		for _, s := range c.notIn {
			if r.Contains(mustVersion(t, s)) {
				t.Errorf("%q should not contain %s", c.r, s)
			}
		}
	}
	for _, bad := range []string{"", ">=", "1.2.3.4", ">=1.x", "01.2.3", "1.2-rc", "||"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
	if mustVersion(t, "1.0.0-alpha.1").Compare(mustVersion(t, "1.0.0-alpha.beta")) != -1 ||
		mustVersion(t, "1.0.0-rc.10").Compare(mustVersion(t, "1.0.0-rc.9")) != 1 ||
		mustVersion(t, "1.0.0+a").Compare(mustVersion(t, "1.0.0+b")) != 0 {
		t.Error("semver precedence")
	}
}

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := Keygen(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(priv)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(priv); !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("private key is not PKCS#8 PEM")
	}
	if _, _, err := Keygen(dir); err == nil {
		t.Error("Keygen overwrote an existing key")
	}
	b, _ := os.ReadFile(pub)
	k, err := ParsePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := ReadPrivateKey(priv)
	if !k.Key.Equal(sk.Public()) {
		t.Error("public key does not match the private key")
	}
	// The signature also verifies in raw form, and not over other bytes.
	m := filepath.Join(dir, ManifestFile)
	if err := os.WriteFile(m, []byte(validManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Sign(m, priv); err != nil {
		t.Fatal(err)
	}
	sigB64, _ := os.ReadFile(m + ".sig")
	raw, err := decodeSignature(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range [][]byte{sigB64, raw} {
		if id, err := Verify([]byte(validManifest), sig, []PublicKey{k}); err != nil || id != k.ID {
			t.Errorf("Verify: %q %v", id, err)
		}
	}
	if _, err := Verify([]byte(validManifest+" "), raw, []PublicKey{k}); err == nil {
		t.Error("signature verified over different bytes")
	}
	// A world-writable trusted key is refused.
	if err := os.Chmod(pub, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTrusted(dir); err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("LoadTrusted: %v", err)
	}
}

func TestInstallRefusesUnsafeTar(t *testing.T) {
	for _, name := range []string{"../evil", "/abs", "a/../../b"} {
		err := extractTarGz(tarGz(t, name), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "unsafe path") {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte("name: x\n"))
	f.Add([]byte("config_schema: {file: a, sha256: b}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("capabilities: {http: {allow: [{}]}}\nlimits: {call_timeout: 1h}\n"))
	f.Add([]byte("config_schema: {1: 2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			if m != nil {
				t.Fatal("manifest returned with an error")
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded manifest does not validate: %v", err)
		}
	})
}

func tarGz(t *testing.T, name string) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 1, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	_ = gz.Close()
	return bytes.NewReader(buf.Bytes())
}

func TestValidateDef(t *testing.T) {
	schema := []byte(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
		"$defs": {"connector": {"type": "object", "additionalProperties": false, "properties": {"n": {"type": "integer", "maximum": 3}}}}}`)
	if ok, err := ValidateDef(schema, "connector", []byte(`{"n": 2}`)); !ok || err != nil {
		t.Fatalf("valid: %v %v", ok, err)
	}
	if ok, err := ValidateDef(schema, "connector", []byte(`{"n": 4}`)); !ok || err == nil {
		t.Fatalf("n over the maximum: %v %v", ok, err)
	}
	if ok, err := ValidateDef(schema, "connector", []byte(`{"other": 1}`)); !ok || err == nil {
		t.Fatalf("unknown key: %v %v", ok, err)
	}
	if ok, err := ValidateDef(schema, "nothing", []byte(`{"n": 4}`)); ok || err != nil {
		t.Fatalf("absent definition: %v %v", ok, err)
	}
	if _, err := ValidateDef([]byte(`not json`), "connector", []byte(`{}`)); err == nil {
		t.Fatal("a schema that is not JSON was accepted")
	}
}
