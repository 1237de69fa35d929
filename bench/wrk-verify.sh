#!/usr/bin/env bash
# Credential verification over HTTP: POST /api/v1/credentials/verify of
# credentials whose issuer DID (did:hedera on the embedded ledger) and
# status lists are cached, through gatewayd's whole chain, with wrk on
# loopback at 64 connections; first every credential once (each proof
# checked: the proof cache is cold), then repeat verifications (proofs
# answered by the cache, key and status re-checked). Beside it, in the same
# run, a bare fasthttp handler answering the same verification bytes.
#
# Usage: bench/wrk-verify.sh [duration] [connections] [credentials] [suite]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}; conns=${2:-64}; n=${3:-20000}; suite=${4:-eddsa-jcs-2022}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
# GOMAXPROCS, when set, applies to gatewayd and to the bare baseline alike.
echo "$(nproc) cores, GOMAXPROCS=${GOMAXPROCS:-default}; wrk shares the cores"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_LOG:-}" ] && cp "$tmp/gatewayd.log" "$KEEP_LOG"; rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go build -o "$tmp/bare" ./bench/bare
go build -o "$tmp/vcseed" ./bench/vcseed
echo "issuing $n $suite credentials ..."
"$tmp/vcseed" -data-dir "$tmp/data" -listen 127.0.0.1:18080 -n "$n" -suite "$suite" -out "$tmp/bodies.txt"
export GATEWAYD_DATA_DIR="$tmp/data" GATEWAYD_LISTEN=127.0.0.1:18080 GATEWAYD_RATELIMIT_ENABLED=false GATEWAYD_LOG_ACCESS_LOG=${ACCESS_LOG:-true}
"$tmp/gatewayd" serve 2>"$tmp/gatewayd.log" &
for _ in $(seq 100); do curl -fsS http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
head -1 "$tmp/bodies.txt" | curl -fsS -H 'Content-Type: application/json' --data-binary @- http://127.0.0.1:18080/api/v1/credentials/verify >"$tmp/answer.json"
grep -q '"verified":true' "$tmp/answer.json" || { echo "not verified: $(cat "$tmp/answer.json")"; exit 1; }
"$tmp/bare" -listen 127.0.0.1:18081 -body "$tmp/answer.json" &
sleep 0.5
cat >"$tmp/post.lua" <<LUA
local bodies = {}
for line in io.lines("$tmp/bodies.txt") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/api/v1/credentials/verify", {["Content-Type"] = "application/json"}, bodies[i])
end
LUA
run() { # url duration -> "req/s p99ms"
  local out rps p99
  out=$(wrk -t2 -c"$conns" -d"$2" --latency -s "$tmp/post.lua" "$1")
  grep -q "Non-2xx" <<<"$out" && { echo "non-2xx answers: $out" >&2; exit 1; }
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$rps $p99"
}
# Cold: long enough to pass over every credential at most about once.
read -r crps cp99 < <(run http://127.0.0.1:18080 2s)
echo "first verifications (proof checked): ${crps} req/s, p99 ${cp99} ms"
grep -c '"verified":false' "$tmp/gatewayd.log" >/dev/null 2>&1 || true
for i in 1 2; do
  read -r brps bp99 < <(run http://127.0.0.1:18081 "$dur")
  read -r grps gp99 < <(run http://127.0.0.1:18080 "$dur")
  echo "round $i: bare ${brps} req/s p99 ${bp99} ms | gatewayd verify ${grps} req/s p99 ${gp99} ms ($(awk -v g="$grps" -v b="$brps" 'BEGIN{printf "%.1f%%", 100*g/b}'))"
done
