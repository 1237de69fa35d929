package lms

import (
	"context"
)

// binding is the connection a plugin call serves.
type binding struct {
	plugin  string
	baseURL []byte
	token   []byte
}

type bindingKey struct{}

// WithConnection returns a context whose calls to plugin see baseURL and
// token as their secrets "base_url" and "token" (through BoundSecrets).
func WithConnection(ctx context.Context, plugin, baseURL string, token []byte) context.Context {
	return context.WithValue(ctx, bindingKey{}, &binding{plugin: plugin, baseURL: []byte(baseURL), token: token})
}

// SecretsProvider is the plugin manager's source of plugin secrets
// (manager.SecretsProvider).
type SecretsProvider interface {
	Secret(ctx context.Context, plugin, name string) ([]byte, error)
}

// BoundSecrets answers the secrets "base_url" and "token" of the plugin a
// context is bound to (WithConnection) and passes every other request to
// Next. The plugin manager's capability calls carry the context of the
// call that made them, so one installed plugin serves each connection with
// its own site and token, and only for the calls made for it.
type BoundSecrets struct {
	Next SecretsProvider
}

// Secret implements manager.SecretsProvider.
func (b BoundSecrets) Secret(ctx context.Context, plugin, name string) ([]byte, error) {
	if bd, ok := ctx.Value(bindingKey{}).(*binding); ok && bd.plugin == plugin {
		switch name {
		case "base_url":
			return bd.baseURL, nil
		case "token":
			return bd.token, nil
		}
	}
	return b.Next.Secret(ctx, plugin, name)
}
