#!/usr/bin/env bash
# hold_idle_connections.sh DIR [N] — one nhttps server (bench/nhttps_server.c: keep-alive
# 10 minutes, on core 0) holding N idle keep-alive TLS connections (default 19,500, ECDSA:
# the most this machine's open-file limit of 20,000 lets one process hold): prints
# `held=HELD/N rss_per_conn_kib=X threads=T` and, with them all open, a normal client's GET
# on a new connection: `probe_ms=` (median of 20) and `probe_max_ms=`.
# Needs N + 100 file descriptors for each of the server and the client (ulimit -n).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=$(mkdir -p "${1:?usage: hold_idle_connections.sh DIR [N]}" && cd "$1" && pwd)
n=${2:-19500}
"$here/certs.sh" "$dir/certs"
cc -O2 -I"$root/include" "$here/nhttps_server.c" -o "$dir/nhttps_server" \
  -L"$root/build/lib" -Wl,-rpath,"$root/build/lib" -lnhttps
ulimit -n "$(( n + 200 > $(ulimit -Hn) ? $(ulimit -Hn) : n + 200 ))"
taskset -c 0 "$dir/nhttps_server" 9447 "$dir/certs/ec.pem" "$dir/certs/ec.key" >/dev/null & pid=$!
trap 'kill "$pid" 2>/dev/null' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9447) 2>/dev/null && break; sleep 0.1; done
taskset -c 1 python3 "$here/idle_conns.py" 9447 "$pid" "$n" | sed 's/^idle_conns=/held=/'
