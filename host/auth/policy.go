package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Password policy limits (NIST SP 800-63B, OWASP ASVS), in characters.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// ErrWeakPassword is wrapped by every error from CheckPassword.
var ErrWeakPassword = errors.New("password rejected")

//go:embed common-passwords.txt
var commonPasswordsFile string

var commonPasswords = func() map[string]struct{} {
	m := make(map[string]struct{})
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = struct{}{}
		}
	}
	return m
}()

// CheckPassword applies the password policy for a new password of the
// account with e-mail address email. The error's text is meant for the user
// (for example as a 400 response's details) and wraps ErrWeakPassword.
func CheckPassword(pw, email string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: password must be valid UTF-8 text", ErrWeakPassword)
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return fmt.Errorf("%w: password must be at least %d characters long", ErrWeakPassword, MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return fmt.Errorf("%w: password must be at most %d characters long", ErrWeakPassword, MaxPasswordLen)
	}
	lower := strings.ToLower(pw)
	email = strings.ToLower(strings.TrimSpace(email))
	local, _, _ := strings.Cut(email, "@")
	if email != "" && lower == email || utf8.RuneCountInString(local) >= 4 && strings.Contains(lower, local) {
		return fmt.Errorf("%w: password must not contain your e-mail address", ErrWeakPassword)
	}
	if _, ok := commonPasswords[lower]; ok {
		return fmt.Errorf("%w: password is too common; choose a less predictable one", ErrWeakPassword)
	}
	if r, _ := utf8.DecodeRuneInString(pw); strings.Count(pw, string(r)) == n {
		return fmt.Errorf("%w: password must not repeat a single character", ErrWeakPassword)
	}
	return nil
}
