package hederadid

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// memLedger is a small in-memory ledger.Ledger for tests. With lag set, the
// read side hides the last lag messages of every topic, like a mirror node
// that has not caught up.
type memLedger struct {
	mu     sync.Mutex
	net    string
	topics map[string][]ledger.Message
	next   int
	clock  time.Time
	lag    int
}

func newMemLedger() *memLedger {
	return &memLedger{net: "local", topics: map[string][]ledger.Message{}, next: 1000, clock: time.Unix(1_700_000_000, 0).UTC()}
}

func (l *memLedger) Network() string { return l.net }

func (l *memLedger) CreateTopic(ctx context.Context, o ledger.TopicOptions) (ledger.Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	id := fmt.Sprintf("0.0.%d", l.next)
	l.topics[id] = nil
	return ledger.Receipt{TopicID: id}, nil
}

func (l *memLedger) Submit(ctx context.Context, topicID string, msg []byte) (ledger.Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msgs, ok := l.topics[topicID]
	if !ok {
		return ledger.Receipt{}, ledger.ErrTopicNotFound
	}
	l.clock = l.clock.Add(1500 * time.Microsecond)
	m := ledger.Message{TopicID: topicID, Sequence: uint64(len(msgs) + 1), ConsensusTime: l.clock, Contents: append([]byte(nil), msg...)}
	l.topics[topicID] = append(msgs, m)
	return ledger.Receipt{TopicID: topicID, Sequence: m.Sequence, ConsensusTime: m.ConsensusTime, Chunks: 1}, nil
}

func (l *memLedger) Messages(ctx context.Context, topicID string, after time.Time, limit int) ([]ledger.Message, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msgs, ok := l.topics[topicID]
	if !ok {
		return nil, ledger.ErrTopicNotFound
	}
	msgs = msgs[:max(0, len(msgs)-l.lag)]
	var out []ledger.Message
	for _, m := range msgs {
		if m.ConsensusTime.After(after) {
			out = append(out, m)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (l *memLedger) Close() error { return nil }

func (l *memLedger) setLag(n int) {
	l.mu.Lock()
	l.lag = n
	l.mu.Unlock()
}
