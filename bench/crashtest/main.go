// Command crashtest checks crash safety: it registers users under load,
// kills gatewayd with SIGKILL mid-stream, restarts it on the same data dir,
// and checks that every registration that was answered with a 2xx is there
// and that its DID resolves (from the ledger: nothing resolved it before the
// kill, so no cache holds it) to a document of that DID.
//
// Usage: go run ./bench/crashtest -gatewayd ./gatewayd [-workers 8] [-for 6s]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("gatewayd", "./gatewayd", "gatewayd binary")
	workers := flag.Int("workers", 8, "concurrent registration clients")
	runFor := flag.Duration("for", 6*time.Second, "load duration before the kill")
	addr := flag.String("listen", "127.0.0.1:18090", "listen address")
	flag.Parse()
	if err := run(*bin, *addr, *workers, *runFor); err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
}

func start(bin, addr, dir string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "GATEWAYD_DATA_DIR="+dir, "GATEWAYD_LISTEN="+addr,
		"GATEWAYD_RATELIMIT_AUTH_LIMIT=1000000", "GATEWAYD_RATELIMIT_DID_LIMIT=1000000", "GATEWAYD_LOG_ACCESS_LOG=false")
	log, err := os.OpenFile(filepath.Join(filepath.Dir(dir), "gatewayd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 200; i++ {
		if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return cmd, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("gatewayd did not become ready")
}

func run(bin, addr string, workers int, runFor time.Duration) error {
	tmp, err := os.MkdirTemp("", "crashtest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "data")
	cmd, err := start(bin, addr, dir)
	if err != nil {
		return err
	}

	var (
		mu    sync.Mutex
		acked = map[string]string{} // userId → email
		dids  = map[string]string{} // userId → DID
		sent  atomic.Int64
		errs  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				email := fmt.Sprintf("u%d-%d-%d@example.com", w, i, time.Now().UnixNano())
				body, _ := json.Marshal(map[string]string{"email": email, "password": "correct horse battery staple"})
				sent.Add(1)
				r, err := client.Post("http://"+addr+"/api/v1/users/register", "application/json", bytes.NewReader(body))
				if err != nil {
					errs.Add(1)
					continue
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode/100 != 2 {
					if errs.Add(1) <= 3 {
						fmt.Printf("answer %d: %s\n", r.StatusCode, b)
					}
					continue
				}
				var v struct{ UserID, DID string }
				if json.Unmarshal(b, &v) == nil && v.UserID != "" {
					mu.Lock()
					acked[v.UserID] = email
					dids[v.UserID] = v.DID
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(runFor)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	cmd.Wait()
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	fmt.Printf("killed gatewayd (SIGKILL) after %v: %d registrations sent, %d acknowledged with 2xx, %d failed or cut off\n",
		runFor, sent.Load(), n, errs.Load())

	cmd, err = start(bin, addr, dir)
	if err != nil {
		return fmt.Errorf("restart after kill: %w", err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	out, err := exec.Command(bin, "admin", "token", "--data-dir", dir).Output()
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(out))
	missing := 0
	for id, email := range acked {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/admin/users/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := client.Do(req)
		if err != nil {
			return err
		}
		var u struct{ Email string }
		json.NewDecoder(r.Body).Decode(&u)
		r.Body.Close()
		if r.StatusCode != 200 || u.Email != email {
			missing++
			fmt.Printf("MISSING: %s (%s): %d\n", id, email, r.StatusCode)
		}
	}
	fmt.Printf("checked %d acknowledged registrations after restart: %d missing\n", n, missing)
	unresolved := 0
	for id, d := range dids {
		req, _ := http.NewRequest("GET", "http://"+addr+"/1.0/identifiers/"+d, nil)
		req.Header.Set("Accept", "application/did+json")
		r, err := client.Do(req)
		if err != nil {
			return err
		}
		var doc struct{ ID string }
		json.NewDecoder(r.Body).Decode(&doc)
		r.Body.Close()
		if d == "" || r.StatusCode != 200 || doc.ID != d {
			unresolved++
			fmt.Printf("UNRESOLVED: %s of %s: %d\n", d, id, r.StatusCode)
		}
	}
	fmt.Printf("resolved %d acknowledged DIDs after restart: %d unresolved\n", len(dids), unresolved)
	if unresolved > 0 {
		return fmt.Errorf("%d acknowledged DIDs do not resolve", unresolved)
	}
	if n == 0 {
		return fmt.Errorf("no registration was acknowledged: nothing was checked")
	}
	if missing > 0 {
		return fmt.Errorf("%d acknowledged registrations lost", missing)
	}
	// Every fee paid before the kill has its spend record (rebuilt from
	// the ledger's memos at restart where the kill lost it), and no record
	// lacks its transactions.
	out, err = exec.Command(bin, "treasury", "reconcile", "--listen", addr, "--data-dir", dir).CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return fmt.Errorf("treasury reconcile after the kill: %w", err)
	}
	return nil
}
