package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// The replay cache (SAML Profiles 4.1.4.5: the SP must ensure a bearer
// assertion is not used twice) lives in the plugin's KV namespace, so it
// survives restarts and is shared by every instance of the plugin:
//
//	seen/<enterprise>/<sha256(assertion ID)>      → expiry (Unix seconds)
//	exp/<expiry, 20 digits>/<enterprise>/<hash>  → "" (the sweep index)
//
// An ID is claimed with a put-if-absent, so two concurrent uses of one
// assertion cannot both win. Entries are kept until the assertion would
// have expired anyway (its latest NotOnOrAfter plus the clock skew); each
// call sweeps a few expired ones.

// sweepBatch is how many expired entries one call removes at most.
const sweepBatch = 16

// maxRemember bounds how long an assertion ID is remembered, whatever its
// NotOnOrAfter says (an IdP asserting for a year would fill the cache).
const maxRemember = 24 * time.Hour

// remember records assertion ID id of enterpriseID until expiry; it fails
// with UNAUTHENTICATED if the ID was already used.
func remember(ctx context.Context, enterpriseID, id string, expiry, now time.Time) error {
	if expiry.Sub(now) > maxRemember {
		return abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "SAML response refused: assertion validity longer than %s", maxRemember)
	}
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:])
	kv := sdk.KV()
	exp := strconv.FormatInt(expiry.Unix(), 10)
	_, err := kv.Put(ctx, "seen/"+enterpriseID+"/"+h, []byte(exp), sdk.PutCond{IfAbsent: true})
	if errors.Is(err, sdk.ErrConflict) {
		// Taken: a replay, unless the entry is an expired one the sweep
		// has not reached (then the assertion itself is expired and was
		// refused before this point).
		sdk.CounterAdd("saml_replays_total", 1)
		return abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "SAML response refused: assertion %q was already used (replay)", truncate(id, 80))
	}
	if err != nil {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "replay cache: %v", err)
	}
	idx := fmt.Sprintf("exp/%020d/%s/%s", expiry.Unix(), enterpriseID, h)
	if _, err := kv.Put(ctx, idx, nil, sdk.PutCond{}); err != nil {
		sdk.Log(slog.LevelWarn, "replay cache index not written", attr("err", err.Error()))
	}
	sweep(ctx, now)
	return nil
}

// sweep removes up to sweepBatch entries that expired before now.
func sweep(ctx context.Context, now time.Time) {
	kv := sdk.KV()
	items, err := kv.List(ctx, "exp/", "", sweepBatch)
	if err != nil {
		return
	}
	for _, it := range items {
		rest := strings.TrimPrefix(it.Key, "exp/")
		ts, tail, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || sec >= now.Unix() {
			return // sorted by expiry: nothing later is expired
		}
		_, _ = kv.Delete(ctx, "seen/"+tail, 0)
		_, _ = kv.Delete(ctx, it.Key, 0)
	}
}
