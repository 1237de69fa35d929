package badgerstore

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ubeu/gateway/host/seal"
)

// TestSurvivesKill9 runs a child process that creates users and reports each
// acknowledged Create, kills it with SIGKILL mid-stream, and checks that every
// acknowledged user is there after reopening. (A power cut cannot be tested
// here; SyncWrites is what covers it.)
func TestSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("BADGERSTORE_CHILD_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir, k := t.TempDir(), newKeys(t)
	mk := make([]byte, seal.KeySize)
	copy(mk, "crash-test-master-key-32-bytes!!")
	sealer, err := seal.New(mk)
	ok(t, err)
	k.sealer = sealer

	exe, err := os.Executable()
	ok(t, err)
	cmd := exec.Command(exe, "-test.run=^TestSurvivesKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BADGERSTORE_CHILD_DIR="+dir, "BADGERSTORE_CHILD_INDEX="+hex.EncodeToString(k.index))
	out, err := cmd.StdoutPipe()
	ok(t, err)
	ok(t, cmd.Start())
	var acked []string
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() && len(acked) < 100 && time.Now().Before(deadline) {
		if id, found := strings.CutPrefix(sc.Text(), "ACK "); found {
			acked = append(acked, id)
		}
	}
	ok(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	if len(acked) < 10 {
		t.Fatalf("child acknowledged only %d creates", len(acked))
	}

	s := openDir(t, dir, k)
	for _, id := range acked {
		u, err := s.Users().Get(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged user %s lost after kill -9: %v", id, err)
		}
		if u.Email != id+"@example.org" {
			t.Fatalf("user %s e-mail %q", id, u.Email)
		}
	}
	t.Logf("%d acknowledged creates survived SIGKILL", len(acked))
}

func crashChild(dir string) {
	mk := make([]byte, seal.KeySize)
	copy(mk, "crash-test-master-key-32-bytes!!")
	sealer, _ := seal.New(mk)
	index, _ := hex.DecodeString(os.Getenv("BADGERSTORE_CHILD_INDEX"))
	s, err := Open(ctx, Options{Dir: dir, Sealer: sealer, IndexKey: index, Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("c%d", i)
		if err := s.Users().Create(ctx, testUser(id, id+"@example.org")); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("ACK", id)
	}
}

// TestGCLoop checks that the background value-log GC runs on its period.
func TestGCLoop(t *testing.T) {
	reg := prometheus.NewRegistry()
	k := newKeys(t)
	s, err := Open(ctx, Options{Dir: t.TempDir(), Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger(),
		Registerer: reg, GCInterval: 20 * time.Millisecond})
	ok(t, err)
	defer s.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var m dto.Metric
		ok(t, s.m.gcRuns.WithLabelValues("nothing").Write(&m))
		if m.GetCounter().GetValue() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("value-log GC did not run")
		}
	}
	ok(t, s.Close())
}
