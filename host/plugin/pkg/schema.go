package pluginpkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

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
