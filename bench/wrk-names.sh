#!/usr/bin/env bash
# Cached name resolution over HTTP: GET /1.0/identifiers/<name>.eth for a
# thousand proven .eth names (each → its user's did:hedera DID, both from
# the edge cache; the resolver plugin is a Wasm guest in the real runtime,
# asked only while warming), through gatewayd's whole chain, with wrk on
# loopback. Baselines in the same run: the same users' DIDs resolved
# directly (cached DID resolution), and a bare fasthttp handler serving the
# names' bytes. Prints the figures and the ratios.
#
# Usage: bench/wrk-names.sh [duration] [connections] [names]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}; conns=${2:-64}; n=${3:-1000}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
# GOMAXPROCS, when set, applies to gatewayd and to the bare baseline alike.
echo "$(nproc) cores, GOMAXPROCS=${GOMAXPROCS:-default}; wrk shares the cores"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/gatewayd" ./cmd/gatewayd
go build -o "$tmp/bare" ./bench/bare
go build -o "$tmp/didseed" ./bench/didseed
go build -o "$tmp/nameseed" ./bench/nameseed
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$tmp/registry.wasm" ./host/gateway/testdata/web3registry

echo "seeding $n users with a proven .eth name ..."
"$tmp/nameseed" -data-dir "$tmp/data" -n "$n" -wasm "$tmp/registry.wasm" -names "$tmp/names.txt" -dids "$tmp/dids.txt"
export GATEWAYD_DATA_DIR="$tmp/data" GATEWAYD_LISTEN=127.0.0.1:18080 GATEWAYD_RATELIMIT_DID_LIMIT=1000000000 GATEWAYD_LOG_ACCESS_LOG=${ACCESS_LOG:-true}
export GATEWAYD_DID_CACHE_TTL_NAMES=10m
"$tmp/gatewayd" serve 2>"$tmp/gatewayd.log" &
for _ in $(seq 200); do curl -fsS http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break; sleep 0.1; done
"$tmp/didseed" -warm http://127.0.0.1:18080 -out "$tmp/names.txt" -map "$tmp/bodies.json"
"$tmp/didseed" -warm http://127.0.0.1:18080 -out "$tmp/dids.txt" -map "$tmp/dids.json"
"$tmp/bare" -listen 127.0.0.1:18081 -map "$tmp/bodies.json" -content-type application/did-resolution &
sleep 0.5
for f in names dids; do
cat >"$tmp/$f.lua" <<LUA
local paths = {}
for line in io.lines("$tmp/$f.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA
done

run() {
  local out rps p99
  out=$(wrk -t2 -c"$conns" -d"$dur" --latency -s "$2" "$1")
  grep -q "Non-2xx" <<<"$out" && { echo "non-2xx answers: $out" >&2; exit 1; }
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$rps $p99"
}
declare -a B N D
for i in 1 2; do
  read -r brps bp99 < <(run http://127.0.0.1:18081 "$tmp/names.lua")
  read -r nrps np99 < <(run http://127.0.0.1:18080 "$tmp/names.lua")
  read -r drps dp99 < <(run http://127.0.0.1:18080 "$tmp/dids.lua")
  echo "round $i: bare ${brps} req/s p99 ${bp99} ms | names ${nrps} req/s p99 ${np99} ms | DIDs ${drps} req/s p99 ${dp99} ms"
  B+=("$brps $bp99"); N+=("$nrps $np99"); D+=("$drps $dp99")
done
awk -v b="${B[*]}" -v g="${N[*]}" -v d="${D[*]}" -v n="$n" 'BEGIN {
  split(b, bb, " "); split(g, gg, " "); split(d, dd, " ");
  br=(bb[1]+bb[3])/2; bp=(bb[2]+bb[4])/2; gr=(gg[1]+gg[3])/2; gp=(gg[2]+gg[4])/2; dr=(dd[1]+dd[3])/2; dp=(dd[2]+dd[4])/2;
  printf "%d proven .eth names, cached\n", n;
  printf "bare fasthttp:        %.0f req/s, p99 %.2f ms\n", br, bp;
  printf "gatewayd, names:      %.0f req/s, p99 %.2f ms\n", gr, gp;
  printf "gatewayd, their DIDs: %.0f req/s, p99 %.2f ms\n", dr, dp;
  printf "names vs bare: throughput %.1f%% (bar >= 60%%), p99 %.2fx (bar <= 2x)\n", 100*gr/br, gp/bp;
  printf "names vs cached DIDs: throughput %.1f%%, p99 %.2fx\n", 100*gr/dr, gp/dp;
}'
