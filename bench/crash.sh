#!/usr/bin/env bash
# Crash safety: registrations under load, kill -9, restart, check every
# registration that got a 2xx. Prints the count checked.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go run ./bench/crashtest -gatewayd "$tmp/gatewayd" "$@"
