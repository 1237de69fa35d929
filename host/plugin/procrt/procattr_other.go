//go:build !linux

package procrt

import "os/exec"

// setParentDeathSignal does nothing outside Linux: the plugin watches its
// parent itself.
func setParentDeathSignal(*exec.Cmd) {}
