package procrt

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestEchoBuildsForWasm checks that the plugin source run natively by
// TestEchoResolver also builds as a WebAssembly reactor module.
func TestEchoBuildsForWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	out := filepath.Join(t.TempDir(), "echo.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "../../../sdk-plugin/examples/echo-resolver")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wasip1 build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) < 8 || string(b[:4]) != "\x00asm" {
		t.Fatalf("%s is not a wasm module (%v)", out, err)
	}
}
