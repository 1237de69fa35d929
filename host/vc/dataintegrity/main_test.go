package dataintegrity

import (
	"os"
	"testing"
	"time"
)

// TestMain gives canonicalisation a generous deadline in tests: under the
// race detector on a loaded 2-core CI machine, RDFC of the test vectors can
// take seconds, and the default 2 s deadline would turn correct results
// into ErrLimit. The deadline itself is tested with explicit Limits.
func TestMain(m *testing.M) {
	DefaultLimits.Timeout = time.Minute
	os.Exit(m.Run())
}
