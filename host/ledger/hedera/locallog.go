package hedera

import (
	"sync"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// Bounds of the local write log: it only has to bridge the mirror's lag
// (normally a few seconds).
const (
	localLogTopics   = 4096
	localLogPerTopic = 256
	localLogTTL      = 10 * time.Minute
)

// localLog remembers, per topic, the messages this process submitted and
// the topics it created, for a while, so reads can include them before the
// mirror node has indexed them.
type localLog struct {
	mu       sync.Mutex
	topics   map[string]*localTopic
	maxTop   int
	perTopic int
	ttl      time.Duration
}

type localTopic struct {
	createdAt time.Time // zero if not created here
	touched   time.Time
	msgs      []localEntry
}

type localEntry struct {
	at  time.Time
	msg ledger.Message
}

func newLocalLog(maxTopics, perTopic int, ttl time.Duration) *localLog {
	return &localLog{topics: map[string]*localTopic{}, maxTop: maxTopics, perTopic: perTopic, ttl: ttl}
}

func (l *localLog) topic(id string, now time.Time) *localTopic {
	t := l.topics[id]
	if t == nil {
		if len(l.topics) >= l.maxTop {
			l.evict(now)
		}
		t = &localTopic{}
		l.topics[id] = t
	}
	t.touched = now
	return t
}

// evict drops expired topics, or the least recently touched one.
func (l *localLog) evict(now time.Time) {
	var oldest string
	for id, t := range l.topics {
		if now.Sub(t.touched) > l.ttl {
			delete(l.topics, id)
			continue
		}
		if oldest == "" || t.touched.Before(l.topics[oldest].touched) {
			oldest = id
		}
	}
	if len(l.topics) >= l.maxTop && oldest != "" {
		delete(l.topics, oldest)
	}
}

func (l *localLog) created(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.topic(id, now).createdAt = now
}

func (l *localLog) add(id string, m ledger.Message, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.topic(id, now)
	t.msgs = append(t.msgs, localEntry{at: now, msg: m})
	if over := len(t.msgs) - l.perTopic; over > 0 {
		t.msgs = append(t.msgs[:0], t.msgs[over:]...)
	}
}

// knows reports whether the topic was created or written here recently.
func (l *localLog) knows(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.topics[id]
	return t != nil && now.Sub(t.touched) <= l.ttl
}

// since returns unexpired local messages of the topic after `after`.
func (l *localLog) since(id string, after time.Time, now time.Time) []ledger.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.topics[id]
	if t == nil {
		return nil
	}
	keep := t.msgs[:0]
	var out []ledger.Message
	for _, e := range t.msgs {
		if now.Sub(e.at) > l.ttl {
			continue
		}
		keep = append(keep, e)
		if e.msg.ConsensusTime.After(after) {
			out = append(out, e.msg)
		}
	}
	t.msgs = keep
	return out
}
