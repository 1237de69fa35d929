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
		ps[i] = prepareOne(&msgs[i], keyOf)
	})
	return ps
}

// prepareOne is prepare for one message.
func prepareOne(m *ledger.Message, keyOf func(m *ledger.Message, p *parsed) ed25519.PublicKey) *parsed {
	p, err := parseEnvelope(m.Contents)
	if err != nil {
		return nil
	}
	if key := keyOf(m, p); key != nil && p.verify(key) {
		_, _ = p.event()
	}
	return p
}

// pipeline is prepare for messages that are still being read: add hands
// each message to worker goroutines as it arrives, so that signature checks
// overlap the ledger read, and finish joins in and returns the results in
// the order of add. The reading goroutine is one of the GOMAXPROCS: while
// it reads, GOMAXPROCS-1 workers check signatures. One goroutine calls add
// and finish (or abort).
type pipeline struct {
	keyOf   func(m *ledger.Message, p *parsed) ed25519.PublicKey
	ch      chan *pipeTask // nil without workers
	wg      sync.WaitGroup
	stopped atomic.Bool
	tasks   []*pipeTask
	block   []pipeTask // tasks are allocated in blocks; pointers stay valid
}

type pipeTask struct {
	m    ledger.Message
	done atomic.Bool
	p    *parsed
}

// pipeQueue bounds the tasks queued ahead of the workers; beyond it, add
// runs tasks itself.
const pipeQueue = 64

func newPipeline(keyOf func(m *ledger.Message, p *parsed) ed25519.PublicKey) *pipeline {
	pl := &pipeline{keyOf: keyOf}
	workers := runtime.GOMAXPROCS(0) - 1
	if maxWorkers > 0 {
		workers = min(workers, maxWorkers-1)
	}
	if workers > 0 {
		pl.ch = make(chan *pipeTask, pipeQueue)
		for range workers {
			pl.wg.Go(func() {
				for t := range pl.ch {
					pl.run(t)
				}
			})
		}
	}
	return pl
}

// run prepares the message of t unless another goroutine has, or the
// pipeline was aborted.
func (pl *pipeline) run(t *pipeTask) {
	if pl.stopped.Load() || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.p = prepareOne(&t.m, pl.keyOf)
}

// add queues a message; m.Contents must not change until finish returns.
func (pl *pipeline) add(m ledger.Message) {
	if len(pl.block) == cap(pl.block) {
		pl.block = make([]pipeTask, 0, 32)
	}
	pl.block = append(pl.block, pipeTask{m: m})
	t := &pl.block[len(pl.block)-1]
	pl.tasks = append(pl.tasks, t)
	if pl.ch != nil {
		select {
		case pl.ch <- t:
		default: // workers behind: do it here
			pl.run(t)
		}
	}
}

// finish prepares the messages not yet taken by a worker, waits for the
// workers and returns the parsed messages (nil where malformed), in the
// order they were added.
func (pl *pipeline) finish() []*parsed {
	if pl.ch != nil {
		close(pl.ch)
		for t := range pl.ch { // help drain the queue
			pl.run(t)
		}
	}
	// Without workers, all tasks; with, none is left (run claims each
	// task once).
	for _, t := range pl.tasks {
		pl.run(t)
	}
	pl.wg.Wait()
	ps := make([]*parsed, len(pl.tasks))
	for i, t := range pl.tasks {
		ps[i] = t.p
	}
	return ps
}

// abort stops the workers without finishing.
func (pl *pipeline) abort() {
	pl.stopped.Store(true)
	if pl.ch != nil {
		close(pl.ch)
	}
	pl.wg.Wait()
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
