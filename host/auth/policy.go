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

// ErrWeakPassword matches (errors.Is) every error from CheckPassword.
var ErrWeakPassword = errors.New("weak password")

// weakPassword is a CheckPassword error; its text is the reason alone.
type weakPassword string

func (e weakPassword) Error() string        { return string(e) }
func (e weakPassword) Is(target error) bool { return target == ErrWeakPassword }

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
// account with e-mail address email. The error matches ErrWeakPassword; its
// text is a short reason meant for the user (for example in a 400 response's
// details) such as "must be at least 12 characters long".
func CheckPassword(pw, email string) error {
	if !utf8.ValidString(pw) {
		return weakPassword("must be valid UTF-8 text")
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return weakPassword(fmt.Sprintf("must be at least %d characters long", MinPasswordLen))
	}
	if n > MaxPasswordLen {
		return weakPassword(fmt.Sprintf("must be at most %d characters long", MaxPasswordLen))
	}
	lower := strings.ToLower(pw)
	email = strings.ToLower(strings.TrimSpace(email))
	local, _, _ := strings.Cut(email, "@")
	if email != "" && lower == email || utf8.RuneCountInString(local) >= 4 && strings.Contains(lower, local) {
		return weakPassword("must not contain your e-mail address")
	}
	if _, ok := commonPasswords[lower]; ok {
		return weakPassword("is too common; choose a less predictable one")
	}
	if r, _ := utf8.DecodeRuneInString(pw); strings.Count(pw, string(r)) == n {
		return weakPassword("must not be one character repeated")
	}
	return nil
}
