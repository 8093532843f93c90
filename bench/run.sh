#!/usr/bin/env bash
# run.sh [OUTDIR] — `make bench`: nhttps beside nginx (one worker), Node and libmicrohttpd
# in one run (peers.sh: servers on core 0, wrk on core 1), then the pooled clients
# (clients.sh: fetch beside curl and Node's Agent), and the ratios (ratios.py).
# SECONDS_PER_FIGURE (default 8), ROUNDS (load figures taken that many times, servers taking
# turns; default 3) and IDLE_CONNS (default 2000) scale the run; then one nhttps server holds
# HOLD (default 19500) idle connections (hold_idle_connections.sh), and one serves while
# 100 of its handlers sleep (blocking_handlers.sh). ratios.py then prints every target of
# issue 15 and whether this run met it. A smoke run is
# SECONDS_PER_FIGURE=2 ROUNDS=1 IDLE_CONNS=200 HOLD=300 CLIENT_GETS=500.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/bench}
mkdir -p "$out"
for tool in nginx wrk node pkg-config taskset; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool is missing (apt-get install nginx wrk nodejs libmicrohttpd-dev)" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin"
export NHTTPS_SERVE="$root/build/bin/serve" NHTTPS_FETCH="$root/build/bin/fetch"
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(openssl version)"
{
  for kind in ec rsa; do
    "$here/peers.sh" "$out/$kind" "$kind" | sed "s/^/$kind /"
  done
  "$here/clients.sh" "$out/clients" "${CLIENT_GETS:-5000}" | sed 's/^/client /'
  "$here/hold_idle_connections.sh" "$out/hold" "${HOLD:-19500}" | tr '\n' ' ' | sed "s/^/hold nhttps cores=$(nproc) /; s/ \$/\n/"
  "$here/blocking_handlers.sh" "$out/blocking" | tr '\n' ' ' | sed 's/^/blocking nhttps /; s/ $/\n/'
} | tee "$out/figures.txt"
python3 "$here/ratios.py" "$out/figures.txt"
