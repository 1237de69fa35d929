package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Deactivation actions on an employee credential.
const (
	OnDeactivateSuspend = "suspend"
	OnDeactivateRevoke  = "revoke"
)

// Config is an enterprise's directory connector, set through
// PUT /api/v1/enterprises/{id}/directory. Unknown keys are refused.
type Config struct {
	// Enabled turns the SCIM endpoint and the pull on (default true).
	Enabled *bool `json:"enabled,omitempty"`
	// Plugin is the directory plugin serving the enterprise (default "scim").
	Plugin string `json:"plugin,omitempty"`
	// OnDeactivate is what a deactivated user's employee credential gets:
	// "suspend" (default; reactivation unsuspends it) or "revoke". A
	// deleted user's credential is always revoked.
	OnDeactivate string `json:"onDeactivate,omitempty"`
	// EmployeeCredential, when enabled, is issued by the enterprise to
	// every active provisioned member.
	EmployeeCredential *CredentialConfig `json:"employeeCredential,omitempty"`
	// GroupRoles maps a group's displayName (case-insensitive) to the role
	// its members get; a group not listed gives "group:<slug of its name>".
	GroupRoles map[string]string `json:"groupRoles,omitempty"`
	// Pull reads a remote SCIM endpoint on a schedule (the HR sync).
	Pull *PullConfig `json:"pull,omitempty"`
}

// CredentialConfig is the employee credential.
type CredentialConfig struct {
	Enabled bool `json:"enabled"`
	// Type is the credential type (default "EmployeeCredential").
	Type string `json:"type,omitempty"`
	// Claims are the user attributes copied into credentialSubject
	// (default userName, displayName, email, title, department, employeeNumber).
	Claims []string `json:"claims,omitempty"`
}

// PullConfig is a remote SCIM endpoint. Token is write-only: it is stored
// sealed and never shown again.
type PullConfig struct {
	URL string `json:"url"`
	// Token is the bearer token of the remote endpoint (write-only).
	Token string `json:"token,omitempty"`
	// IntervalSeconds between pulls (default 3600, at least 60).
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
	PageSize        int `json:"pageSize,omitempty"`
}

// ClaimNames are the attributes a credential may carry.
var ClaimNames = []string{"userName", "displayName", "givenName", "familyName", "email", "title", "department",
	"employeeNumber", "organization", "division", "costCenter"}

var (
	roleRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)
	typeRE  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,63}$`)
	reserve = map[string]bool{"admin": true, "enterprise": true, "user": true, "member": true}
)

// ParseConfig decodes and validates a connector configuration strictly.
func ParseConfig(b []byte) (*Config, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var c Config
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("configuration: trailing data")
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	if c.Plugin != "" && !roleRE.MatchString(c.Plugin) {
		return fmt.Errorf("plugin: not a plugin name")
	}
	switch c.OnDeactivate {
	case "", OnDeactivateSuspend, OnDeactivateRevoke:
	default:
		return fmt.Errorf(`onDeactivate: must be "suspend" or "revoke"`)
	}
	if ec := c.EmployeeCredential; ec != nil {
		if ec.Type != "" && !typeRE.MatchString(ec.Type) {
			return fmt.Errorf("employeeCredential.type: a capitalised word of letters and digits")
		}
		for _, k := range ec.Claims {
			if !contains(ClaimNames, k) {
				return fmt.Errorf("employeeCredential.claims: unknown claim %q (one of %s)", k, strings.Join(ClaimNames, ", "))
			}
		}
	}
	if len(c.GroupRoles) > 500 {
		return fmt.Errorf("groupRoles: at most 500")
	}
	for g, r := range c.GroupRoles {
		if strings.TrimSpace(g) == "" || len(g) > 256 {
			return fmt.Errorf("groupRoles: empty or long group name")
		}
		if !roleRE.MatchString(r) || reserve[r] {
			return fmt.Errorf("groupRoles[%q]: %q is not an allowed role (lower case; not admin, enterprise, user or member)", g, r)
		}
	}
	if p := c.Pull; p != nil {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return fmt.Errorf("pull.url: an http(s) URL without credentials")
		}
		if p.IntervalSeconds != 0 && p.IntervalSeconds < 60 {
			return fmt.Errorf("pull.intervalSeconds: at least 60")
		}
		if p.PageSize < 0 || p.PageSize > 1000 {
			return fmt.Errorf("pull.pageSize: 0 to 1000")
		}
		if len(p.Token) > 4096 {
			return fmt.Errorf("pull.token: too long")
		}
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Config) enabled() bool { return c.Enabled == nil || *c.Enabled }

func (c *Config) plugin() string {
	if c.Plugin == "" {
		return "scim"
	}
	return c.Plugin
}

func (c *Config) onDeactivate() string {
	if c.OnDeactivate == "" {
		return OnDeactivateSuspend
	}
	return c.OnDeactivate
}

func (c *Config) pullInterval() time.Duration {
	if c.Pull == nil || c.Pull.IntervalSeconds == 0 {
		return time.Hour
	}
	return time.Duration(c.Pull.IntervalSeconds) * time.Second
}

// role is the role members of the group named name get.
func (c *Config) role(name string) string {
	for g, r := range c.GroupRoles {
		if strings.EqualFold(g, name) {
			return r
		}
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 56 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return ""
	}
	return "group:" + s
}

// stored is the configuration as kept: the pull token sealed.
type stored struct {
	Config
	TokenSealed []byte    `json:"tokenSealed,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}
