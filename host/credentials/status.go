package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/vc/statuslist"
	"github.com/ubeu/gateway/host/vc/vcjwt"
)

// Status actions.
const (
	ActionRevoke    = "revoke"
	ActionSuspend   = "suspend"
	ActionUnsuspend = "unsuspend"
)

// SetStatus revokes, suspends or unsuspends a credential of enterprise
// (ErrForbidden for another issuer's). Revocation is final (ErrState on
// any later change); unsuspending needs a suspended credential. The status
// list bit changes first, then the record, so a verifier never sees a
// record state the list does not carry. Repeating the current state is
// not an error.
func (s *Service) SetStatus(ctx context.Context, enterprise, id, action string) (*Record, error) {
	for range 10 {
		r, ver, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.EnterpriseID != enterprise {
			return nil, ErrForbidden
		}
		purpose, value, next := "", false, ""
		switch action {
		case ActionRevoke:
			purpose, value, next = statuslist.PurposeRevocation, true, StateRevoked
		case ActionSuspend:
			purpose, value, next = statuslist.PurposeSuspension, true, StateSuspended
		case ActionUnsuspend:
			purpose, value, next = statuslist.PurposeSuspension, false, StateActive
		default:
			return nil, invalid("action", "must be revoke, suspend or unsuspend")
		}
		switch {
		case r.State == next:
			return r, nil
		case r.State == StateRevoked:
			return nil, fmt.Errorf("%w: the credential is revoked, which is final", ErrState)
		case action == ActionUnsuspend && r.State != StateSuspended:
			return nil, fmt.Errorf("%w: the credential is not suspended", ErrState)
		}
		var entry *Status
		for i := range r.Status {
			if r.Status[i].Purpose == purpose {
				entry = &r.Status[i]
			}
		}
		if entry == nil {
			return nil, fmt.Errorf("%w: the credential has no %s status entry", ErrState, purpose)
		}
		if err := s.o.Status.Set(ctx, entry.ListID, entry.Index, purpose, value); err != nil {
			return nil, fmt.Errorf("credentials: %s %s: %w", action, id, err)
		}
		r.State, r.UpdatedAt = next, s.now().UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if _, err := s.o.KV.Put(ctx, ns, recordKey(id), b, store.KVCond{Version: ver}); errors.Is(err, store.ErrConflict) {
			continue // changed meanwhile: re-read and re-decide
		} else if err != nil {
			return nil, fmt.Errorf("credentials: %s %s: %w", action, id, err)
		}
		s.log.InfoContext(ctx, "credential status changed", "credential", id, "enterprise", enterprise, "action", action)
		return r, nil
	}
	return nil, fmt.Errorf("credentials: %s %s: too many concurrent changes", action, id)
}

// HolderDelete marks the subject's copy deleted from their wallet: the
// credential leaves the subject's list; the issuer's record, its status
// and its anchor stay (a holder cannot un-issue a credential).
func (s *Service) HolderDelete(ctx context.Context, subject, id string) error {
	r, ver, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if r.SubjectDID == "" || r.SubjectDID != subject || r.HolderDeleted {
		return ErrNotFound
	}
	r.HolderDeleted = true
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.o.KV.Put(ctx, ns, recordKey(id), b, store.KVCond{Version: ver}); err != nil {
		return fmt.Errorf("credentials: delete %s: %w", id, err)
	}
	if err := s.o.KV.Delete(ctx, ns, "s/"+subject+"/"+id, store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("credentials: delete %s: %w", id, err)
	}
	return nil
}

// ExportJWT secures an issued Data Integrity credential a second time, as
// application/vc+jwt signed by the same issuer key (for wallets and
// backpacks that take JWTs): the same credential, id and status entries,
// without the embedded proof.
func (s *Service) ExportJWT(ctx context.Context, id string) (string, error) {
	r, b, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if r.Format == FormatJWT {
		return string(b), nil
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("credentials: export %s: %w", id, err)
	}
	delete(c, "proof")
	plain, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	vm, key, err := s.signingKey(ctx, r.IssuerDID)
	if err != nil {
		return "", err
	}
	return vcjwt.Sign(ctx, plain, key, vm)
}
