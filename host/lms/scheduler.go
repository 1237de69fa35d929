package lms

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// RunScheduler syncs every connection whose SyncInterval has passed since
// its last sync, checking every tick (default 30 s), until ctx ends. Syncs
// of different connections run one after another; a connection already
// syncing (on demand) is skipped until the next tick.
func (s *Service) RunScheduler(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = 30 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.SyncDue(ctx)
		}
	}
}

// SyncDue runs the syncs that are due now and returns their reports.
func (s *Service) SyncDue(ctx context.Context) []*Report {
	var due []*Connection
	now := s.now()
	err := s.each(ctx, "conn/", func(v []byte) error {
		var c Connection
		if json.Unmarshal(v, &c) != nil {
			return nil
		}
		if c.SyncInterval > 0 && !now.Before(c.LastSyncAt.Add(c.SyncInterval)) {
			due = append(due, &c)
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "lms scheduler: list connections", "err", err)
		return nil
	}
	var out []*Report
	for _, c := range due {
		if ctx.Err() != nil {
			break
		}
		r, err := s.Sync(ctx, c.EnterpriseID, c.ID, SyncOptions{Trigger: "schedule"})
		if err != nil {
			if !errors.Is(err, ErrBusy) {
				s.log.WarnContext(ctx, "lms scheduled sync did not start", "connection", c.ID, "err", strings.TrimPrefix(err.Error(), "lms: "))
			}
			continue
		}
		out = append(out, r)
	}
	return out
}
