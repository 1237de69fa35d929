package local

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// crashMessage is the i-th message the crash child submits: every third
// one is chunked (3 chunks), so that a kill can land inside a multi-chunk
// write.
func crashMessage(i int) []byte {
	if i%3 == 2 {
		return bytes.Repeat(fmt.Appendf(nil, "chunked %d|", i), 2500/len(fmt.Sprintf("chunked %d|", i))+1)
	}
	return fmt.Appendf(nil, "message %d", i)
}

// TestSurvivesKill9 runs a child process that submits messages to a topic
// and reports each acknowledged Submit, kills it with SIGKILL mid-stream,
// reopens the ledger and checks that Verify passes and that every
// acknowledged message is there, whole. (A power cut cannot be tested here;
// SyncWrites covers it.)
func TestSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("LEDGER_CHILD_DIR"); dir != "" {
		crashChild(dir, os.Getenv("LEDGER_CHILD_TOPIC"))
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	l := openDir(t, dir, Options{})
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{Memo: "crash"})
	ok(t, err)
	ok(t, l.Close())

	exe, err := os.Executable()
	ok(t, err)
	cmd := exec.Command(exe, "-test.run=^TestSurvivesKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LEDGER_CHILD_DIR="+dir, "LEDGER_CHILD_TOPIC="+r.TopicID)
	out, err := cmd.StdoutPipe()
	ok(t, err)
	ok(t, cmd.Start())
	acked := map[int]uint64{} // message index → receipt sequence
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() && len(acked) < 60 && time.Now().Before(deadline) {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ACK" {
			i, _ := strconv.Atoi(f[1])
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			acked[i] = seq
		}
	}
	ok(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	if len(acked) < 10 {
		t.Fatalf("child acknowledged only %d submits", len(acked))
	}

	l = openDir(t, dir, Options{})
	ok(t, l.Verify(t.Context(), r.TopicID))
	msgs, err := l.Messages(t.Context(), r.TopicID, time.Time{}, 1000)
	ok(t, err)
	if len(msgs) < len(acked) {
		t.Fatalf("%d messages after kill -9, %d were acknowledged", len(msgs), len(acked))
	}
	for i := range len(acked) {
		if _, found := acked[i]; !found {
			t.Fatalf("acknowledgement %d missing from the child's output", i)
		}
		if !bytes.Equal(msgs[i].Contents, crashMessage(i)) {
			t.Fatalf("acknowledged message %d lost or changed after kill -9", i)
		}
	}
	// The ledger goes on from where it was.
	s, err := l.Submit(t.Context(), r.TopicID, []byte("after the crash"))
	ok(t, err)
	last := msgs[len(msgs)-1]
	if s.Sequence != last.Sequence+uint64(len(crashMessage(len(msgs)-1))+ledger.MaxChunkSize-1)/ledger.MaxChunkSize {
		t.Errorf("first submit after the crash has sequence %d; the last message (%d) started at %d", s.Sequence, len(msgs)-1, last.Sequence)
	}
	ok(t, l.Verify(t.Context(), r.TopicID))
	t.Logf("%d acknowledged submits survived SIGKILL (%d messages on disk)", len(acked), len(msgs))
}

func crashChild(dir, topicID string) {
	l, err := Open(Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		r, err := l.Submit(ctxBackground(), topicID, crashMessage(i))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("ACK", i, r.Sequence)
	}
}
