package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/store/badgerstore"
	"github.com/ubeu/gateway/host/treasury"
)

// errDifferences makes `gatewayd treasury reconcile` exit non-zero when the
// books and the ledger disagree.
var errDifferences = errors.New("the treasury's records and the ledger differ")

func newTreasuryCmd(f *flags) *cobra.Command {
	cmd := &cobra.Command{Use: "treasury", Short: "Treasury tools"}
	var asJSON bool
	rec := &cobra.Command{
		Use:   "reconcile",
		Short: "Check every spend record against the ledger's paid transactions, both ways (works while the server runs)",
		Long: "Reconcile compares the treasury's spend records with the transactions the ledger says the treasury paid:\n" +
			"each paid transaction has its record with the same fee and each record's transactions exist.\n" +
			"It exits 1 when they differ. On a running gatewayd it asks the server (admin API).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := load(f)
			if err != nil {
				return err
			}
			rep, err := reconcile(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				e := json.NewEncoder(out)
				e.SetIndent("", "  ")
				if err := e.Encode(rep); err != nil {
					return err
				}
			} else {
				printReconcile(out, rep)
			}
			if rep.Count > 0 {
				return errDifferences
			}
			return nil
		},
	}
	rec.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(rec)
	return cmd
}

func reconcile(ctx context.Context, cfg *config.Config, log *slog.Logger) (*treasury.Report, error) {
	rep, err := gateway.Reconcile(ctx, cfg, log)
	if !errors.Is(err, badgerstore.ErrLocked) {
		return rep, err
	}
	log.Info("the store is in use by a running gatewayd: asking it to reconcile", "listen", cfg.Listen)
	res, err := adminRequest(ctx, cfg, log, http.MethodPost, "/api/v1/admin/treasury/reconcile")
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reconcile: %s: %.4096s", res.Status, body)
	}
	rep = new(treasury.Report)
	if err := json.Unmarshal(body, rep); err != nil {
		return nil, fmt.Errorf("reconcile: the server's answer: %w", err)
	}
	return rep, nil
}

func printReconcile(w io.Writer, r *treasury.Report) {
	fmt.Fprintf(w, "records %d, paid transactions %d, records matched %d, differences %d (%.3fs)\n",
		r.Records, r.Transactions, r.Matched, r.Count, r.Seconds)
	for _, d := range r.Differences {
		fmt.Fprintf(w, "  %s", d.Kind)
		if d.SpendID != "" {
			fmt.Fprintf(w, " spend=%s", d.SpendID)
		}
		if d.TransactionID != "" {
			fmt.Fprintf(w, " tx=%s", d.TransactionID)
		}
		fmt.Fprintf(w, ": %s\n", d.Detail)
	}
	if len(r.Differences) < r.Count {
		fmt.Fprintf(w, "  … and %d more\n", r.Count-len(r.Differences))
	}
}
