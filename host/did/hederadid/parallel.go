package hederadid

import (
	"crypto/ed25519"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ubeu/gateway/host/ledger"
)

// Replays check signatures ahead of applying messages. Ed25519 verification
// dominates the cost of a replay, and whether a message is signed by a given
// key does not depend on the order, so the checks run in parallel against
// the key each message is expected to be signed with (the DID's owner key
// when the batch starts); the messages are then applied one by one in
// consensus order by State.apply, exactly as a sequential replay does. The
// precomputed results are only a cache (parsed.verify remembers the key it
// checked): when a DIDOwner update changes the owner key, the later
// messages of that DID are checked again, in parallel, against the new key,
// and a message whose cached check was for another key is verified on the
// spot. The outcome is therefore identical to the sequential replay.

// parallelMin is the least number of tasks worth spreading over goroutines.
const parallelMin = 2

// maxWorkers, if positive, caps the goroutines of forEach below GOMAXPROCS.
// FuzzReplay sets it to 1: the order in which goroutines pick up tasks
// changes the coverage the fuzzer sees, which it would mistake for new
// behaviour.
var maxWorkers int

// forEach calls f(0), …, f(n-1) on up to GOMAXPROCS goroutines and returns
// when all calls have returned.
func forEach(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if maxWorkers > 0 {
		workers = min(workers, maxWorkers)
	}
	if n < parallelMin || workers < 2 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			f(i)
		}
	}
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// prepare parses messages (nil where malformed) and checks, in parallel,
// the signature of each against keyOf(p), decoding the event of those that
// verify. keyOf returning nil skips the check. keyOf is called
// concurrently and must only read shared data.
func prepare(msgs []ledger.Message, keyOf func(m *ledger.Message, p *parsed) ed25519.PublicKey) []*parsed {
	ps := make([]*parsed, len(msgs))
	forEach(len(msgs), func(i int) {
		p, err := parseEnvelope(msgs[i].Contents)
		if err != nil {
			return
		}
		ps[i] = p
		if key := keyOf(&msgs[i], p); key != nil && p.verify(key) {
			_, _ = p.event()
		}
	})
	return ps
}

// reverify checks, in parallel, the signatures of the parsed messages
// ps[from:] of didStr against key, after that DID's owner key changed.
func reverify(ps []*parsed, from int, didStr string, key ed25519.PublicKey) {
	var todo []*parsed
	for _, p := range ps[from:] {
		if p != nil && p.msg.DID == didStr {
			todo = append(todo, p)
		}
	}
	forEach(len(todo), func(i int) {
		if todo[i].verify(key) {
			_, _ = todo[i].event()
		}
	})
}
