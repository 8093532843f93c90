#!/usr/bin/env bash
# clients.sh DIR [N] — pooled HTTPS clients side by side against one nginx (core 0), each
# client on core 1 fetching https://127.0.0.1:9443/ N times (default 5000): Node's keep-alive
# https.Agent (10 sockets, 10 in flight), curl (one process, its connection cache, 10 parallel),
# and nhttps's `fetch` (10 threads, one agent) when NHTTPS_FETCH names it. Prints
# `client wall_s=... cpu_us_per_req=... max_rss_kib=...` lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mkdir -p "${1:?usage: clients.sh DIR [N]}" && cd "$1" && pwd)
n=${2:-5000}
"$here/certs.sh" "$dir/certs"
sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#9443#g" -e "s#@CERT@#$dir/certs/ec.pem#g" \
  -e "s#@KEY@#$dir/certs/ec.key#g" "$here/nginx.conf.in" >"$dir/nginx.conf"
taskset -c 0 nginx -c "$dir/nginx.conf" -g 'daemon off;' & ngx=$!
trap 'kill $ngx 2>/dev/null; wait $ngx 2>/dev/null' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9443) 2>/dev/null && break; sleep 0.1; done
url=https://127.0.0.1:9443/
timed() {  # NAME COMMAND...
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time.txt" taskset -c 1 "$@" >/dev/null
  read -r wall user sys rss <"$dir/time.txt"
  awk -v nm="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v n="$n" \
    'BEGIN {printf "%s wall_s=%s cpu_us_per_req=%.1f max_rss_kib=%s\n", nm, w, (u + s) * 1e6 / n, r}'
}
timed node node "$here/node_client.js" "$url" "$n" 10
for _ in $(seq "$n"); do echo "url = \"$url\""; done >"$dir/curl.cfg"
timed curl curl -sk --no-progress-meter --parallel --parallel-max 10 -K "$dir/curl.cfg" -o /dev/null
if [ -n "${NHTTPS_FETCH:-}" ]; then
  urls=(); for _ in $(seq "$n"); do urls+=("$url"); done
  timed nhttps "$NHTTPS_FETCH" --insecure --parallel 10 --max-sockets 10 "${urls[@]}"
fi
