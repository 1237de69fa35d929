#!/usr/bin/env bash
# Throughput of an authenticated GET through gatewayd's whole chain (request
# ID, access log, token check, OPA decision, rate limit, small JSON answer)
# against a bare fasthttp handler answering the same bytes, measured in the
# same run with wrk on loopback. Prints both figures and the ratios.
#
# Usage: bench/wrk.sh [duration] [connections]   (defaults 10s 64)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go build -o "$tmp/bare" ./bench/bare

export GATEWAYD_DATA_DIR="$tmp/data" GATEWAYD_LISTEN=127.0.0.1:18080
export GATEWAYD_RATELIMIT_API_LIMIT=1000000000 GATEWAYD_RATELIMIT_AUTH_LIMIT=1000
"$tmp/gatewayd" serve 2>"$tmp/gatewayd.log" &
for _ in $(seq 100); do curl -fsS http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break; sleep 0.1; done

tok=$(curl -fsS -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery staple"}' \
  http://127.0.0.1:18080/api/v1/users/register | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')
curl -fsS -H "Authorization: Bearer $tok" http://127.0.0.1:18080/api/v1/auth/whoami >"$tmp/body.json"
echo "answer ($(wc -c <"$tmp/body.json") bytes): $(cat "$tmp/body.json")"
"$tmp/bare" -listen 127.0.0.1:18081 -body "$tmp/body.json" &
sleep 0.5

run() { # url → "rps p99ms"
  local out
  out=$(wrk -t2 -c"$conns" -d"$dur" --latency -H "Authorization: Bearer $tok" "$1")
  local rps p99
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  grep -q "Non-2xx" <<<"$out" && { echo "non-2xx answers: $out" >&2; exit 1; }
  echo "$rps $p99"
}

declare -a B G
for i in 1 2; do   # alternate to share the machine's noise fairly
  read -r brps bp99 < <(run http://127.0.0.1:18081/api/v1/auth/whoami)
  read -r grps gp99 < <(run http://127.0.0.1:18080/api/v1/auth/whoami)
  echo "round $i: bare ${brps} req/s p99 ${bp99} ms | gatewayd ${grps} req/s p99 ${gp99} ms"
  B+=("$brps $bp99"); G+=("$grps $gp99")
done
awk -v b="${B[*]}" -v g="${G[*]}" 'BEGIN {
  split(b, bb, " "); split(g, gg, " ");
  br=(bb[1]+bb[3])/2; bp=(bb[2]+bb[4])/2; gr=(gg[1]+gg[3])/2; gp=(gg[2]+gg[4])/2;
  printf "bare fasthttp:  %.0f req/s, p99 %.2f ms\n", br, bp;
  printf "gatewayd chain: %.0f req/s, p99 %.2f ms\n", gr, gp;
  printf "throughput ratio %.1f%% (target >= 40%%), p99 ratio %.2fx (target <= 2x)\n", 100*gr/br, gp/bp;
}'
