package lms

import (
	"context"
	"errors"
	"fmt"

	"github.com/ubeu/gateway/host/store"
)

// AccountDirectory matches learners to the gateway's accounts: the active
// user whose (normalised) e-mail is the learner's, and the DID DID gives
// for that user (the primary DID).
type AccountDirectory struct {
	Users store.Users
	DID   func(ctx context.Context, userID string) (string, error)
}

// Learner implements Directory.
func (d AccountDirectory) Learner(ctx context.Context, email string) (string, string, error) {
	u, err := d.Users.GetByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", ErrNoLearner
	}
	if err != nil {
		return "", "", fmt.Errorf("lms: find learner: %w", err)
	}
	if u.Status != "active" {
		return "", "", ErrNoLearner
	}
	did, err := d.DID(ctx, u.ID)
	if err != nil || did == "" {
		return "", "", fmt.Errorf("%w: the account has no DID yet", ErrNoLearner)
	}
	return u.ID, did, nil
}
