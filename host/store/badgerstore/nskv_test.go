package badgerstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ubeu/gateway/host/store"
)

func TestKV(t *testing.T) {
	s := openDir(t, t.TempDir(), newKeys(t))
	kv := s.KV()
	if _, _, err := kv.Get(ctx, "p1", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	v1, err := kv.Put(ctx, "p1", "a", []byte("one"), store.KVCond{Absent: true})
	ok(t, err)
	if _, err := kv.Put(ctx, "p1", "a", []byte("x"), store.KVCond{Absent: true}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("absent on existing: %v", err)
	}
	v2, err := kv.Put(ctx, "p1", "a", []byte("two"), store.KVCond{Version: v1})
	ok(t, err)
	if v2 <= v1 {
		t.Fatal("version did not grow")
	}
	if _, err := kv.Put(ctx, "p1", "a", []byte("x"), store.KVCond{Version: v1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale CAS: %v", err)
	}
	got, ver, err := kv.Get(ctx, "p1", "a")
	ok(t, err)
	if string(got) != "two" || ver != v2 {
		t.Fatalf("got %q %d", got, ver)
	}
	// Namespaces are separate.
	if _, _, err := kv.Get(ctx, "p2", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("namespace leak")
	}
	for i := 0; i < 5; i++ {
		_, err := kv.Put(ctx, "p1", fmt.Sprintf("b/%d", i), []byte("v"), store.KVCond{})
		ok(t, err)
	}
	items, err := kv.List(ctx, "p1", "b/", "b/1", 2)
	ok(t, err)
	if len(items) != 2 || items[0].Key != "b/2" || items[1].Key != "b/3" {
		t.Fatalf("list %+v", items)
	}
	n, size, err := kv.Usage(ctx, "p1")
	ok(t, err)
	if n != 6 || size <= 0 {
		t.Fatalf("usage %d %d", n, size)
	}
	// Delete with a stale version fails; with the right one it works, and a
	// re-created entry never reuses an old version.
	if err := kv.Delete(ctx, "p1", "a", store.KVCond{Version: v1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	ok(t, kv.Delete(ctx, "p1", "a", store.KVCond{Version: v2}))
	v3, err := kv.Put(ctx, "p1", "a", []byte("three"), store.KVCond{Absent: true})
	ok(t, err)
	if v3 <= v2 {
		t.Fatal("re-created entry reused a version")
	}
	n2, _, _ := kv.Usage(ctx, "p1")
	if n2 != 6 {
		t.Fatalf("usage after delete+create %d", n2)
	}
	if _, err := kv.Put(ctx, "bad/ns", "a", nil, store.KVCond{}); err == nil {
		t.Fatal("namespace with a slash accepted")
	}
}

func TestKVCASConcurrent(t *testing.T) {
	s := openDir(t, t.TempDir(), newKeys(t))
	kv := s.KV()
	_, err := kv.Put(ctx, "c", "n", []byte{0}, store.KVCond{})
	ok(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v, ver, err := kv.Get(ctx, "c", "n")
				if err != nil {
					t.Error(err)
					return
				}
				_, err = kv.Put(ctx, "c", "n", []byte{v[0] + 1}, store.KVCond{Version: ver})
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
					return
				}
				if !errors.Is(err, store.ErrConflict) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	v, _, _ := kv.Get(ctx, "c", "n")
	if v[0] != 20 || wins != 20 {
		t.Fatalf("value %d after %d wins", v[0], wins)
	}
}

func TestKVPutBatch(t *testing.T) {
	s := openDir(t, t.TempDir(), newKeys(t))
	kv := s.KV()
	b, isBatch := kv.(store.KVBatch)
	if !isBatch {
		t.Fatal("badgerstore KV does not implement store.KVBatch")
	}
	_, err := kv.Put(ctx, "pb", "taken", []byte("x"), store.KVCond{})
	ok(t, err)
	// A failing condition writes nothing of the batch.
	err = b.PutBatch(ctx, "pb", []store.KVWrite{{Key: "a", Value: []byte("1")}, {Key: "taken", Value: []byte("y"), Cond: store.KVCond{Absent: true}}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting batch: %v", err)
	}
	if _, _, err := kv.Get(ctx, "pb", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a conflicting batch wrote part of itself: %v", err)
	}
	ok(t, b.PutBatch(ctx, "pb", []store.KVWrite{{Key: "a", Value: []byte("1"), Cond: store.KVCond{Absent: true}}, {Key: "b", Value: []byte("22")}, {Key: "taken", Value: []byte("z")}}))
	for k, want := range map[string]string{"a": "1", "b": "22", "taken": "z"} {
		got, _, err := kv.Get(ctx, "pb", k)
		if err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v", k, got, err)
		}
	}
	n, size, err := kv.Usage(ctx, "pb")
	ok(t, err)
	// Usage is what the same entries written one by one count.
	for k, v := range map[string]string{"a": "1", "b": "22", "taken": "z"} {
		_, err := kv.Put(ctx, "pc", k, []byte(v), store.KVCond{})
		ok(t, err)
	}
	n2, size2, err := kv.Usage(ctx, "pc")
	ok(t, err)
	if n != 3 || n2 != 3 || size != size2 {
		t.Fatalf("usage %d entries %d bytes, one by one %d entries %d bytes", n, size, n2, size2)
	}
	if err := b.PutBatch(ctx, "bad/ns", []store.KVWrite{{Key: "a"}}); err == nil {
		t.Fatal("invalid namespace accepted")
	}
}
