#!/usr/bin/env bash
# peers.sh DIR [ec|rsa] — measure HTTPS servers side by side in one run: nginx (one worker),
# Node's https server, libmicrohttpd (thread per connection), and nhttps's `serve` when
# NHTTPS_SERVE names it. Every server runs on core 0 and wrk on core 1; each prints
# `server figure=value` lines (see load.sh and idle_conns.py; IDLE_CONNS sets how many idle
# connections to hold, 2000 by default). Needs nginx, wrk, node, libmicrohttpd-dev
# (apt-get install nginx wrk libmicrohttpd-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mkdir -p "${1:?usage: peers.sh DIR [ec|rsa]}" && cd "$1" && pwd)
kind=${2:-ec}
"$here/certs.sh" "$dir/certs"
cert=$dir/certs/$kind.pem key=$dir/certs/$kind.key
mkdir -p "$dir/www"
printf 'hello, world\n' >"$dir/www/index.html"
head -c 1048576 /dev/zero | tr '\0' x >"$dir/www/1m"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
start() {  # PORT COMMAND... : start on core 0, wait for the port; sets pid
  local port=$1; shift
  taskset -c 0 "$@" >/dev/null & pid=$!
  trap 'kill "$pid" 2>/dev/null' EXIT
  wait_port "$port"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; trap - EXIT; }
bench() {  # NAME PORT COMMAND... : measure load, then idle connections on a fresh start
  local name=$1 port=$2; shift 2
  start "$port" "$@"
  "$here/load.sh" "https://127.0.0.1:$port" "$pid" "${SECONDS_PER_FIGURE:-8}" | sed "s/^/$name /" || echo "$name load_failed=1"
  stop
  # A fresh process: after the load, memory the allocator kept (freed bulk buffers, cached
  # thread stacks) would be handed to the idle connections and hide what they cost.
  start "$port" "$@"
  python3 "$here/idle_conns.py" "$port" "$pid" "${IDLE_CONNS:-2000}" | sed "s/^/$name /" || echo "$name idle_failed=1"
  stop
}

sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#9443#g" -e "s#@CERT@#$cert#g" -e "s#@KEY@#$key#g" \
  "$here/nginx.conf.in" >"$dir/nginx.conf"
bench nginx 9443 nginx -c "$dir/nginx.conf" -g 'daemon off;'
bench node 9444 node "$here/node_server.js" 9444 "$cert" "$key"
cc -O2 "$here/mhd_server.c" -o "$dir/mhd_server" $(pkg-config --cflags --libs libmicrohttpd)
bench mhd 9446 "$dir/mhd_server" 9446 "$cert" "$key"
if [ -n "${NHTTPS_SERVE:-}" ]; then
  bench nhttps 9445 "$NHTTPS_SERVE" --port 9445 --cert "$cert" --key "$key" "$dir/www"
fi
