#!/usr/bin/env bash
# peers.sh DIR [ec|rsa] — measure HTTPS servers side by side in one run: nginx (one worker),
# Node's https server, libmicrohttpd (thread per connection), nhttps configured as they are
# (nhttps_server.c: the same two resources from memory, no log, tickets off), and nhttps's
# `serve` (files, a log line per response, tickets) when NHTTPS_SERVE names it. Every
# server runs on core 0 and wrk on core 1; each prints
# `server figure=value` lines (see load.sh and idle_conns.py; IDLE_CONNS sets how many idle
# connections to hold, 2000 by default). The load figures are taken ROUNDS times (default 3),
# the servers taking turns within each round, so that a slow spell of the machine falls on
# all of them alike; ratios.py reports each figure's median. Needs nginx, wrk, node,
# libmicrohttpd-dev (apt-get install nginx wrk libmicrohttpd-dev).
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
launch() {  # NAME : starts that server in a fresh process; sets pid and port
  case $1 in
    nginx) port=9443; start $port nginx -c "$dir/nginx.conf" -g 'daemon off;' ;;
    node) port=9444; start $port node "$here/node_server.js" $port "$cert" "$key" ;;
    mhd) port=9446; start $port "$dir/mhd_server" $port "$cert" "$key" ;;
    nhttps) port=9447; start $port "$dir/nhttps_server" $port "$cert" "$key" ;;
    serve) port=9445; start $port "$NHTTPS_SERVE" --port $port --cert "$cert" --key "$key" "$dir/www" ;;
  esac
}

sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#9443#g" -e "s#@CERT@#$cert#g" -e "s#@KEY@#$key#g" \
  "$here/nginx.conf.in" >"$dir/nginx.conf"
cc -O2 "$here/mhd_server.c" -o "$dir/mhd_server" $(pkg-config --cflags --libs libmicrohttpd)
root=$(cd "$here/.." && pwd)
cc -O2 -I"$root/include" "$here/nhttps_server.c" -o "$dir/nhttps_server" \
  -L"$root/build/lib" -Wl,-rpath,"$root/build/lib" -lnhttps
servers=(nginx node mhd nhttps)
[ -n "${NHTTPS_SERVE:-}" ] && servers+=(serve)
for _ in $(seq "${ROUNDS:-3}"); do
  for name in "${servers[@]}"; do
    launch "$name"
    "$here/load.sh" "https://127.0.0.1:$port" "$pid" "${SECONDS_PER_FIGURE:-8}" | sed "s/^/$name /" || echo "$name load_failed=1"
    stop
  done
done
# Idle connections on a fresh start: after the load, memory the allocator kept (freed bulk
# buffers, cached thread stacks) would be handed to the idle connections and hide their cost.
for name in "${servers[@]}"; do
  launch "$name"
  python3 "$here/idle_conns.py" "$port" "$pid" "${IDLE_CONNS:-2000}" | sed "s/^/$name /" || echo "$name idle_failed=1"
  stop
done
