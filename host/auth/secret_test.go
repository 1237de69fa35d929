package auth

import (
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"
)

func TestRefreshToken(t *testing.T) {
	tok, hash := NewRefreshToken()
	if !regexp.MustCompile(`^gwr_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Fatalf("refresh token %q has the wrong format", tok)
	}
	h, err := HashRefreshToken(tok)
	if err != nil || h != hash || len(h) != 64 {
		t.Fatalf("HashRefreshToken = %q, %v; want %q", h, err, hash)
	}
	tok2, _ := NewRefreshToken()
	if tok2 == tok {
		t.Fatal("two refresh tokens are equal")
	}
	for _, bad := range []string{"", "gwr_", tok[:len(tok)-1], tok + "A", "gwx_" + tok[4:], tok[:10] + "+" + tok[11:], tok[:46] + "B"} {
		if _, err := HashRefreshToken(bad); err == nil {
			t.Errorf("HashRefreshToken(%q) accepted", bad)
		}
	}
}

var apiKeyRE = regexp.MustCompile(`^gwk_[a-z2-7]{12}_[0-9A-Za-z]{43}$`)

func TestAPIKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, prefix, hash, err := NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		if !apiKeyRE.MatchString(key) {
			t.Fatalf("API key %q has the wrong format", key)
		}
		if seen[prefix] {
			t.Fatalf("prefix %q repeated", prefix)
		}
		seen[prefix] = true
		p, err := ParseAPIKey(key)
		if err != nil || p != prefix || !strings.HasPrefix(key, "gwk_"+prefix+"_") {
			t.Fatalf("ParseAPIKey(%q) = %q, %v; want %q", key, p, err, prefix)
		}
		sum := sha256.Sum256([]byte(key))
		if string(hash) != string(sum[:]) {
			t.Fatal("secret hash is not SHA-256 of the key")
		}
		if !APIKeyMatches(hash, key) {
			t.Fatal("APIKeyMatches(own key) = false")
		}
		other := key[:len(key)-1] + "A"
		if key[len(key)-1] == 'A' {
			other = key[:len(key)-1] + "B"
		}
		if APIKeyMatches(hash, other) {
			t.Fatal("APIKeyMatches(other key) = true")
		}
		if APIKeyMatches(hash[:31], key) || APIKeyMatches(nil, key) {
			t.Fatal("APIKeyMatches accepted a short hash")
		}
	}
}

func TestParseAPIKeyGarbage(t *testing.T) {
	key, _, _, _ := NewAPIKey()
	bad := []string{
		"", "gwk_", "gwk__", key[:len(key)-1], key + "a",
		"gwr_" + key[4:],
		"gwk_ABCDEFGHIJKL_" + key[17:], // upper case prefix
		"gwk_abcdefghijk1_" + key[17:], // '1' is not base32
		key[:16] + "-" + key[17:],
		key[:20] + "+" + key[21:],
		key[:20] + "\x00" + key[21:],
		strings.Repeat("\xff", len(key)),
		"Bearer " + key,
	}
	for _, b := range bad {
		if p, err := ParseAPIKey(b); err == nil {
			t.Errorf("ParseAPIKey(%q) = %q, nil; want error", b, p)
		}
	}
	for range 10000 {
		b := string(randomBytes(int(randomBytes(1)[0]) % 80))
		if p, err := ParseAPIKey(b); err == nil && !apiKeyRE.MatchString(b) {
			t.Fatalf("ParseAPIKey(%q) = %q accepted garbage", b, p)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	key, _, _, _ := NewAPIKey()
	e := newEnv(t)
	tok, _, err := e.tok.Issue(Claims{Subject: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		tok: true, "a.b.c": true, key: false, "": false, "a.b": false, "a.b.c.d": false,
		".b.c": false, "a..c": false, "a.b.": false, "a.b=.c": false, "a b.c.d": false,
	} {
		if got := LooksLikeJWT(s); got != want {
			t.Errorf("LooksLikeJWT(%q) = %v; want %v", s, got, want)
		}
	}
}
