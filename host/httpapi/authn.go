package httpapi

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/store"
)

// authenticate establishes the principal from an access token
// (Authorization: Bearer <jwt>) or an enterprise API key (Authorization:
// Bearer gwk_… or X-API-Key: gwk_…). No credential leaves the principal
// anonymous, for the policy to decide; a credential that does not verify is
// a 401 on every route.
func (s *Server) authenticate(c *Ctx) error {
	authz := c.Request.Header.Peek("Authorization")
	key := c.Request.Header.Peek("X-API-Key")
	if len(authz) == 0 && len(key) == 0 {
		return nil
	}
	var cred []byte
	if len(authz) > 0 {
		scheme, tok, ok := bytes.Cut(authz, []byte{' '})
		tok = bytes.TrimSpace(tok)
		if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) || len(tok) == 0 {
			return errInvalidToken("the Authorization header must be: Bearer <token>")
		}
		cred = tok
	} else {
		cred = bytes.TrimSpace(key)
	}
	if bytes.HasPrefix(cred, []byte("gwk_")) {
		return s.authenticateAPIKey(c, string(cred))
	}
	claims, err := s.Tokens.Verify(string(cred))
	if err != nil {
		switch {
		case errors.Is(err, auth.ErrExpired):
			return errInvalidToken("access token expired")
		case errors.Is(err, auth.ErrRevoked):
			return errInvalidToken("access token revoked")
		default:
			return errInvalidToken("invalid access token")
		}
	}
	c.Principal.Authenticated = true
	c.Principal.ID = claims.Subject
	c.Principal.Roles = claims.Roles
	c.Principal.Tenant = claims.Tenant
	c.Principal.AuthMethod = "jwt"
	c.sessionID = claims.SessionID
	c.tokenID = claims.ID
	c.tokenExp = claims.ExpiresAt
	return nil
}

func (s *Server) authenticateAPIKey(c *Ctx, key string) error {
	prefix, err := auth.ParseAPIKey(key)
	if err != nil {
		return errInvalidToken("invalid API key")
	}
	k, err := s.Store.APIKeys().GetByPrefix(c, prefix)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			auth.APIKeyMatches(nil, key) // same work as a real comparison
			return errInvalidToken("invalid API key")
		}
		return err
	}
	now := s.Now()
	if !auth.APIKeyMatches(k.SecretHash, key) {
		return errInvalidToken("invalid API key")
	}
	if !k.RevokedAt.IsZero() {
		return errInvalidToken("API key revoked")
	}
	if !k.ExpiresAt.IsZero() && now.After(k.ExpiresAt) {
		return errInvalidToken("API key expired")
	}
	c.Principal.Authenticated = true
	c.Principal.ID = k.ID
	c.Principal.Roles = []string{store.RoleEnterprise}
	c.Principal.Tenant = k.EnterpriseID
	c.Principal.AuthMethod = "api_key"
	c.Principal.Permissions = k.Permissions
	c.apiKey = k
	prefixCopy := strings.Clone(prefix)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Store.APIKeys().TouchLastUsed(ctx, prefixCopy, now)
	}()
	return nil
}
