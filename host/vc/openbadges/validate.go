package openbadges

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaURL is the published URL of the OB 3.0 AchievementCredential JSON Schema, the one
// credentialSchema entries name. Validate uses the copy embedded in the binary under this URL;
// nothing is fetched.
const SchemaURL = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"

// MaxCredentialBytes bounds a credential given to Validate or to the bake functions, as JSON
// or compact JWS.
const MaxCredentialBytes = 1 << 20

//go:embed schema/ob_v3p0_achievementcredential_schema.json
var achievementCredentialSchema []byte

// Errors of Validate, wrapped with the details.
var (
	// ErrNotJSON: the credential is not a JSON document.
	ErrNotJSON = errors.New("openbadges: credential is not JSON")
	// ErrSchema: the credential does not satisfy the OB 3.0 AchievementCredential schema.
	ErrSchema = errors.New("openbadges: credential does not match the OB 3.0 AchievementCredential schema")
	// ErrTooLarge: an input is over its size limit.
	ErrTooLarge = errors.New("openbadges: input too large")
)

// noRemote is the schema loader: the embedded schema is added as a resource and the draft
// meta-schemas are built into the library, so any other URL — https, file or other — is a
// reference the compiler must not follow.
type noRemote struct{}

func (noRemote) Load(url string) (any, error) {
	return nil, fmt.Errorf("openbadges: schema reference %q is not embedded and is never fetched", url)
}

// newCompiler returns a compiler that asserts formats (date-time, …) and loads nothing.
func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.UseLoader(noRemote{})
	c.AssertFormat()
	return c
}

// compiledSchema compiles the embedded schema once.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(achievementCredentialSchema))
	if err != nil {
		return nil, fmt.Errorf("openbadges: embedded schema: %w", err)
	}
	c := newCompiler()
	if err := c.AddResource(SchemaURL, doc); err != nil {
		return nil, fmt.Errorf("openbadges: embedded schema: %w", err)
	}
	s, err := c.Compile(SchemaURL)
	if err != nil {
		return nil, fmt.Errorf("openbadges: embedded schema: %w", err)
	}
	return s, nil
})

// Validate checks a JSON credential against the official 1EdTech OB 3.0 AchievementCredential
// JSON Schema (draft 2019-09, formats asserted). It returns nil if the credential satisfies it,
// or an error wrapping ErrNotJSON, ErrSchema (with the schema's own account of what failed) or
// ErrTooLarge.
//
// The schema checks structure, not meaning: it does not verify proofs, resolve DIDs or check
// validity dates against the clock.
func Validate(credential []byte) error {
	if len(credential) > MaxCredentialBytes {
		return fmt.Errorf("%w: credential of %d bytes (at most %d)", ErrTooLarge, len(credential), MaxCredentialBytes)
	}
	s, err := compiledSchema()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(credential))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%w: %w", ErrSchema, err)
	}
	return nil
}
