package lms

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ubeu/gateway/host/lms/lmstest"
)

// TestQuota: a sync whose caller's allowance runs out stops at the batch
// it cannot pay (LIMIT_EXCEEDED, nothing of it issued, the cursor kept);
// with more allowance the next sync issues the rest, none twice; what a
// batch did not issue is given back.
func TestQuota(t *testing.T) {
	courses := lmstest.Dataset(1, 6)
	srv := lmstest.NewMoodle("tok", courses)
	defer srv.Close()
	f := newFixture(t, loadPlugins(t, true, srv.URL))
	f.svc.o.PageSize = 2
	registerAll(f, courses, courses[0].Learners[5].ID) // the 6th is a pending claim
	c := mustConn(t, f, "moodle", srv.URL, "tok")
	mustMap(t, f, c, MappingInput{CourseID: "101"})

	var mu sync.Mutex
	used, limit := 0, 3
	quota := func(_ context.Context, n int) error {
		mu.Lock()
		defer mu.Unlock()
		if n > 0 && used+n > limit {
			return errors.New("over the limit")
		}
		used += n
		return nil
	}
	r, err := f.svc.Sync(ctx, f.ent.ID, c.ID, SyncOptions{Quota: quota})
	if err != nil {
		t.Fatal(err)
	}
	// Pages of 2: the first batch (2) fits, the second (2 more) does not.
	if r.Issued != 2 || len(r.Errors) != 1 || r.Errors[0].Code != "LIMIT_EXCEEDED" || used != 2 {
		t.Fatalf("issued %d used %d errors %v", r.Issued, used, errorCodes(r))
	}
	limit = 100
	r, err = f.svc.Sync(ctx, f.ent.ID, c.ID, SyncOptions{Quota: quota})
	if err != nil || r.Issued != 3 || len(r.Errors) != 0 || used != 5 || countBadges(t, f) != 5 {
		t.Fatalf("resumed: issued %d used %d badges %d errors %v", r.Issued, used, countBadges(t, f), errorCodes(r))
	}
}
