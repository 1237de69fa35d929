//go:build !unix

package pluginpkg

// lockRoot is a no-op where flock(2) does not exist: callers must not run
// two plugin commands on the same root at once.
func lockRoot(string) (func(), error) { return func() {}, nil }
