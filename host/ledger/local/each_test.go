package local

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// TestEachMessage: EachMessage streams what Messages returns, pages the
// same way, and stops on the callback's error.
func TestEachMessage(t *testing.T) {
	l := openDir(t, t.TempDir(), Options{})
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
	ok(t, err)
	for i := range 12 {
		msg := make([]byte, 100+i)
		if i == 5 {
			msg = make([]byte, 2*ledger.MaxChunkSize+7) // three chunks
		}
		msg[0] = byte(i)
		_, err := l.Submit(t.Context(), r.TopicID, msg)
		ok(t, err)
	}
	want, err := l.Messages(t.Context(), r.TopicID, time.Time{}, 100)
	ok(t, err)
	if len(want) != 12 {
		t.Fatalf("%d messages", len(want))
	}
	var got []ledger.Message
	n, err := l.EachMessage(t.Context(), r.TopicID, time.Time{}, 100, func(m ledger.Message) error {
		got = append(got, m)
		return nil
	})
	ok(t, err)
	if n != 12 || !reflect.DeepEqual(got, want) {
		t.Fatalf("EachMessage (%d) differs from Messages", n)
	}
	got = got[:0]
	n, err = l.EachMessage(t.Context(), r.TopicID, want[3].ConsensusTime, 4, func(m ledger.Message) error {
		got = append(got, m)
		return nil
	})
	ok(t, err)
	if n != 4 || !reflect.DeepEqual(got, want[4:8]) {
		t.Fatalf("page after 3: %d messages", n)
	}
	stop := errors.New("stop")
	calls := 0
	n, err = l.EachMessage(t.Context(), r.TopicID, time.Time{}, 100, func(ledger.Message) error {
		if calls++; calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 || calls != 3 {
		t.Fatalf("stop: n %d, calls %d, err %v", n, calls, err)
	}
}
