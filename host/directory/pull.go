package directory

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// maxPullPages bounds one pull run; the next run continues from the cursor.
const maxPullPages = 50

// pullDue runs the pulls whose interval has passed.
func (s *Service) pullDue(ctx context.Context) {
	items, err := s.o.KV.List(ctx, ns, "cfg/", "", 1000)
	if err != nil {
		return
	}
	for _, it := range items {
		ent := strings.TrimPrefix(it.Key, "cfg/")
		var st stored
		if json.Unmarshal(it.Value, &st) != nil || st.Pull == nil || !st.enabled() {
			continue
		}
		status := s.Status(ctx, ent)
		if !status.Pull.LastRunAt.IsZero() && s.o.Now().Sub(status.Pull.LastRunAt) < st.pullInterval() {
			continue
		}
		if _, err := s.Pull(ctx, ent); err != nil {
			s.log.Warn("directory pull failed", "enterprise", ent, "err", err)
		}
	}
}

// ErrNoPull: the enterprise configured no remote endpoint.
var ErrNoPull = errors.New("directory: no pull configured")

// Pull reads the changes of the enterprise's remote SCIM endpoint since
// the last pull and applies them; it returns the number of events seen.
func (s *Service) Pull(ctx context.Context, ent string) (int, error) {
	st, err := s.loadConfig(ctx, ent)
	if err != nil {
		return 0, err
	}
	if st.Pull == nil {
		return 0, ErrNoPull
	}
	if !st.enabled() {
		return 0, ErrDisabled
	}
	tr, ok := s.o.Plugins.Get(st.plugin())
	if !ok {
		return 0, ErrNoPlugin
	}
	token := ""
	if len(st.TokenSealed) > 0 {
		b, err := s.o.Sealer.Open(st.TokenSealed, []byte("directory-pull/"+ent))
		if err != nil {
			return 0, err
		}
		token = string(b)
	}
	rc, _ := json.Marshal(map[string]string{"url": st.Pull.URL, "token": token})
	cursor := s.Status(ctx, ent).Pull.Cursor
	seen := 0
	var perr error
	for range maxPullPages {
		res, err := abiv1.NewDirectoryClient(tr).PullChanges(ctx, &abiv1.PullChangesRequest{
			RemoteConfig: rc, Cursor: cursor, PageSize: uint32(st.Pull.PageSize), EnterpriseID: ent})
		if err != nil {
			perr = err
			break
		}
		if err := s.Apply(ctx, ent, "pull", res.Events); err != nil {
			perr = err
			break
		}
		seen += len(res.Events)
		cursor = res.NextCursor
		s.updateStatus(ctx, ent, true, func(st *Status) { st.Pull.Cursor = cursor })
		if !res.More {
			break
		}
	}
	now := s.o.Now().UTC()
	s.updateStatus(ctx, ent, true, func(st *Status) {
		st.Pull.LastRunAt = now
		st.Pull.EventsSeen += seen
		if perr != nil {
			st.Pull.LastError = perr.Error()
		} else {
			st.Pull.LastError, st.Pull.LastOKAt = "", now
		}
	})
	res := "ok"
	if perr != nil {
		res = "failed"
	}
	s.m.pulls.WithLabelValues(res).Inc()
	s.audit(ctx, ent, AuditRecord{Kind: "pull", Action: "run", Result: res, Error: errString(perr)})
	return seen, perr
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
