package manager

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// drainingBit marks a generation that takes no new calls; the bits below
// count the calls in flight.
const drainingBit = 1 << 62

// generation is one started version of a plugin.
type generation struct {
	entry    pluginpkg.LockEntry
	inst     Instance
	ifaces   []string
	loadedAt time.Time

	state     atomic.Int64 // drainingBit | calls in flight
	drained   chan struct{}
	drainOnce sync.Once

	calls, errors atomic.Uint64
}

// acquire counts a call in, unless the generation is draining.
func (g *generation) acquire() bool {
	for {
		s := g.state.Load()
		if s&drainingBit != 0 {
			return false
		}
		if g.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// release counts a call out; the last call out of a draining generation
// signals drained.
func (g *generation) release() {
	if g.state.Add(-1) == drainingBit {
		close(g.drained)
	}
}

func (g *generation) inFlight() int64 { return g.state.Load() &^ drainingBit }

// drain stops new calls and waits until the calls in flight have finished
// or ctx ends.
func (g *generation) drain(ctx context.Context) error {
	g.drainOnce.Do(func() {
		if g.state.Add(drainingBit) == drainingBit {
			close(g.drained)
		}
	})
	select {
	case <-g.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handle is the stable transport of a plugin name: every call goes to the
// slot's current generation.
type handle struct{ s *slot }

// Call implements abiv1.Transport. A generation is swapped out before it
// drains, so a call that finds its generation draining retries on the one
// that replaced it; it fails only when the plugin is no longer loaded.
func (h *handle) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	var prev *generation
	for {
		g := h.s.cur.Load()
		if g == nil || g == prev {
			return nil, &abiv1.PluginError{Method: method, Reason: "plugin " + h.s.name, Err: ErrNotLoaded}
		}
		if g.acquire() {
			out, err := g.inst.Call(ctx, method, req)
			g.release()
			g.calls.Add(1)
			if err != nil {
				if _, app := errors.AsType[*abiv1.Error](err); !app {
					g.errors.Add(1)
				}
			}
			return out, err
		}
		prev = g
	}
}
