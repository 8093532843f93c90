#!/usr/bin/env bash
# blocking_handlers.sh DIR — one nhttps server (bench/nhttps_server.c, on core 0) whose
# handler sleeps 5 s on 100 connections at once (GET /sleep), and meanwhile: a new
# connection's GET / (median and worst of 20: `probe_ms=`, `probe_max_ms=`) and 50
# keep-alive connections' traffic for 3 s (wrk on core 1: `keepalive_p99_ms=`,
# `keepalive_rps=`); `sleeping=` is how many of the 100 were still asleep when it ended
# (all of them, or the figures do not describe what they claim).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=$(mkdir -p "${1:?usage: blocking_handlers.sh DIR}" && cd "$1" && pwd)
"$here/certs.sh" "$dir/certs"
cc -O2 -I"$root/include" "$here/nhttps_server.c" -o "$dir/nhttps_server" \
  -L"$root/build/lib" -Wl,-rpath,"$root/build/lib" -lnhttps
taskset -c 0 "$dir/nhttps_server" 9448 "$dir/certs/ec.pem" "$dir/certs/ec.key" >/dev/null & pid=$!
trap 'kill "$pid" 2>/dev/null' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9448) 2>/dev/null && break; sleep 0.1; done
taskset -c 1 python3 "$here/sleepers.py" 9448 100 >"$dir/sleepers.out" & sleepers=$!
sleep 1  # every sleeper's request in its handler
taskset -c 1 python3 "$here/idle_conns.py" 9448 "$pid" 0 | grep '^probe_ms='
out=$(taskset -c 1 wrk -t1 -c50 -d3s --latency https://127.0.0.1:9448/ 2>&1)
awk '$1=="Requests/sec:" {print "keepalive_rps=" $2}' <<<"$out"
awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print "keepalive_p99_ms=" v}' <<<"$out"
wait "$sleepers"
cat "$dir/sleepers.out"
