//go:build unix

package pluginpkg

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockRoot takes an exclusive advisory lock on <root>/.lock so that two
// gatewayd commands never change the same plugin root at once.
func lockRoot(root string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
