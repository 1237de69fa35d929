#!/usr/bin/env bash
# Crash safety: registrations under load, kill -9, restart, check every
# registration that got a 2xx, then reconcile the treasury (every fee paid
# before the kill has its record). Prints the count checked and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go run ./bench/crashtest -gatewayd "$tmp/gatewayd" "$@"
