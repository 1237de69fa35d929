#!/usr/bin/env bash
# Treasury reconciliation over N sponsored operations (default 100,000):
# seeds a data dir with N sponsored DID creations (a topic and a message
# each, paid by the treasury through the local ledger and recorded), then
# times `gatewayd treasury reconcile` on it, which must report zero
# differences. Then the Go benchmark BenchmarkReconcile100k, which also
# injects differences of every kind and checks each is found, with the
# ledger's own transaction listing as the baseline.
#
# Usage: bench/treasury-reconcile.sh [operations]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go build -o "$tmp/didseed" ./bench/didseed
echo "seeding $n sponsored DID creations ..."
t0=$(date +%s.%N)
"$tmp/didseed" -data-dir "$tmp/data" -hedera "$n" -key 0 -out "$tmp/paths.txt"
t1=$(date +%s.%N)
echo "seeded in $(echo "$t1 - $t0" | bc) s"
export GATEWAYD_DATA_DIR="$tmp/data" GATEWAYD_LOG_LEVEL=warn
t0=$(date +%s.%N)
"$tmp/gatewayd" treasury reconcile
t1=$(date +%s.%N)
echo "gatewayd treasury reconcile (whole command, opening the store and ledger): $(echo "$t1 - $t0" | bc) s"
GATEWAYD_BENCH_RECONCILE_OPS=$n go test -run XXX -bench Reconcile100k -benchtime 1x -timeout 60m ./host/treasury
