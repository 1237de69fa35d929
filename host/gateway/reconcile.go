package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/metrics"
	"github.com/ubeu/gateway/host/policy"
	"github.com/ubeu/gateway/host/store/badgerstore"
	"github.com/ubeu/gateway/host/treasury"
)

// Reconcile opens the store, the ledger and the treasury of a stopped
// gatewayd and reconciles the treasury's spend records against the
// ledger's paid transactions. While a gatewayd holds the data dir the
// error wraps badgerstore.ErrLocked: ask the running server instead
// (POST /api/v1/admin/treasury/reconcile).
func Reconcile(ctx context.Context, cfg *config.Config, log *slog.Logger) (rep *treasury.Report, err error) {
	keys, err := DeriveKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry()
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: cfg.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: log})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	pol, err := policy.New(ctx, policy.Options{Dir: cfg.Policy.Dir, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, pol.Close()) }()
	l, err := openLedger(cfg, keys, log)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	t, err := openTreasury(cfg, keys, st.KV(), l, pol, nil, reg, log)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, t.Close()) }()
	return t.Reconcile(ctx)
}
