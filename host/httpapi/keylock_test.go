package httpapi

import (
	"sync"
	"testing"
)

func TestKeyLocks(t *testing.T) {
	var k keyLocks
	var wg sync.WaitGroup
	inside := map[string]int{}
	var mu sync.Mutex
	for i := 0; i < 64; i++ {
		key := []string{"a", "b"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer k.lock(key)()
			mu.Lock()
			inside[key]++
			n := inside[key]
			mu.Unlock()
			if n != 1 {
				t.Errorf("%d holders of %q at once", n, key)
			}
			mu.Lock()
			inside[key]--
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(k.m) != 0 {
		t.Fatalf("%d locks kept after every holder left", len(k.m))
	}
}
