#!/usr/bin/env bash
# Cached DID resolution over HTTP: GET /1.0/identifiers/{did} for a few
# thousand distinct DIDs (did:hedera from the embedded ledger and did:key),
# through gatewayd's whole chain (a policy decision on every request), with
# wrk on loopback, against a bare fasthttp handler serving the same bytes per
# path in the same run. Prints both figures and the ratios.
#
# Usage: bench/wrk-did.sh [duration] [connections] [hedera DIDs] [key DIDs]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}; conns=${2:-64}; nh=${3:-1000}; nk=${4:-2000}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go build -o "$tmp/bare" ./bench/bare
go build -o "$tmp/didseed" ./bench/didseed

echo "seeding $nh did:hedera and $nk did:key DIDs ..."
"$tmp/didseed" -data-dir "$tmp/data" -hedera "$nh" -key "$nk" -out "$tmp/paths.txt"
export GATEWAYD_DATA_DIR="$tmp/data" GATEWAYD_LISTEN=127.0.0.1:18080 GATEWAYD_RATELIMIT_DID_LIMIT=1000000000 GATEWAYD_LOG_ACCESS_LOG=${ACCESS_LOG:-true}
"$tmp/gatewayd" serve 2>"$tmp/gatewayd.log" &
for _ in $(seq 100); do curl -fsS http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
"$tmp/didseed" -warm http://127.0.0.1:18080 -out "$tmp/paths.txt" -map "$tmp/bodies.json"
"$tmp/bare" -listen 127.0.0.1:18081 -map "$tmp/bodies.json" -content-type application/did-resolution &
sleep 0.5
cat >"$tmp/paths.lua" <<LUA
local paths = {}
for line in io.lines("$tmp/paths.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA

run() {
  local out rps p99
  out=$(wrk -t2 -c"$conns" -d"$dur" --latency -s "$tmp/paths.lua" "$1")
  grep -q "Non-2xx" <<<"$out" && { echo "non-2xx answers: $out" >&2; exit 1; }
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$rps $p99"
}
declare -a B G
for i in 1 2; do
  read -r brps bp99 < <(run http://127.0.0.1:18081)
  read -r grps gp99 < <(run http://127.0.0.1:18080)
  echo "round $i: bare ${brps} req/s p99 ${bp99} ms | gatewayd ${grps} req/s p99 ${gp99} ms"
  B+=("$brps $bp99"); G+=("$grps $gp99")
done
awk -v b="${B[*]}" -v g="${G[*]}" -v n="$(wc -l <"$tmp/paths.txt")" 'BEGIN {
  split(b, bb, " "); split(g, gg, " ");
  br=(bb[1]+bb[3])/2; bp=(bb[2]+bb[4])/2; gr=(gg[1]+gg[3])/2; gp=(gg[2]+gg[4])/2;
  printf "%d distinct DIDs, cached\n", n;
  printf "bare fasthttp:  %.0f req/s, p99 %.2f ms\n", br, bp;
  printf "gatewayd chain: %.0f req/s, p99 %.2f ms\n", gr, gp;
  printf "throughput ratio %.1f%% (target >= 60%%), p99 ratio %.2fx (target <= 2x)\n", 100*gr/br, gp/bp;
}'
