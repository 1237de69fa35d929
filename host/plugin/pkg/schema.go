package pluginpkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaURL names the config schema inside the compiler; it is never fetched.
const schemaURL = "gatewayd:plugin/config.schema.json"

// noLoader refuses every external reference, so that a schema can never make
// the installer read a local file or reach the network ($ref to file:// or
// https://). The draft meta-schemas are built into the library.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema reference %q is not allowed", url)
}

// compileSchema compiles a JSON Schema (draft 2020-12 unless it says otherwise).
func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON Schema: %w", err)
	}
	return s, nil
}

// ValidateConfig checks the operator's JSON configuration against a schema.
// An empty config is taken as {}.
func ValidateConfig(schema, config []byte) error {
	if len(bytes.TrimSpace(config)) == 0 {
		config = []byte("{}")
	}
	if !json.Valid(config) {
		return errors.New("config: not valid JSON")
	}
	if schema == nil {
		return nil
	}
	s, err := compileSchema(schema)
	if err != nil {
		return fmt.Errorf("config_schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("config does not match config_schema: %w", err)
	}
	return nil
}

// ConfigSchema returns the installed plugin's configuration schema (the
// pinned file, its digest checked, or the inline schema), or nil if the
// manifest has none.
func (inst *Installed) ConfigSchema() ([]byte, error) {
	cs := inst.Manifest.ConfigSchema
	switch {
	case cs.File != nil:
		b, err := readLimited(filepath.Join(inst.Dir, filepath.FromSlash(cs.File.File)), MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("config_schema: %w", err)
		}
		if sha256Hex(b) != cs.File.SHA256 {
			return nil, fmt.Errorf("config_schema: %w", ErrDigestMismatch)
		}
		return b, nil
	case cs.Inline != nil:
		return cs.Inline, nil
	}
	return nil, nil
}

// ValidateDef validates doc against the definition $defs.<def> of schema.
// It reports ok false, and checks nothing, when schema has no such
// definition.
func ValidateDef(schema []byte, def string, doc []byte) (ok bool, err error) {
	var s struct {
		Schema string                     `json:"$schema"`
		Defs   map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		return false, fmt.Errorf("config_schema: %w", err)
	}
	if _, has := s.Defs[def]; !has {
		return false, nil
	}
	if s.Schema == "" {
		s.Schema = "https://json-schema.org/draft/2020-12/schema"
	}
	wrapper, err := json.Marshal(map[string]any{"$schema": s.Schema, "$defs": s.Defs, "$ref": "#/$defs/" + def})
	if err != nil {
		return false, err
	}
	return true, ValidateConfig(wrapper, doc)
}
