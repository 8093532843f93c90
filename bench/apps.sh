#!/usr/bin/env bash
# apps.sh [OUTDIR] — `make bench-apps`: web applications on nhttps beside the servers their
# users run today, in one run (issue 16): a bare WSGI hello and a Flask hello on
# `python -m nhttps.wsgi`, gunicorn (gthread, 8 threads, one worker) and granian (one
# worker); a Rack hello and a Sinatra hello on `rackup -s nhttps` and Puma (one process,
# 8 threads). Each server alone on core 0, wrk on core 1, 50 connections, TLS 1.3 ECDSA,
# SECONDS_PER_FIGURE (default 8) each, ROUNDS (default 3) rounds by turns. Prints
# `APP SERVER rps=N` lines, then the ratios (ratios.py's rule: medians, per-round spread).
# Needs: wrk, gunicorn and granian (pip), flask, ruby with ruby-rack, ruby-sinatra, puma.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/bench-apps}
secs=${SECONDS_PER_FIGURE:-8}
rounds=${ROUNDS:-3}
mkdir -p "$out"
for tool in wrk gunicorn granian ruby rackup puma taskset; do
  command -v "$tool" >/dev/null || { echo "bench-apps: $tool is missing (apt-get install wrk ruby-rack ruby-sinatra puma; pip install gunicorn granian flask)" >&2; exit 1; }
done
"$here/certs.sh" "$out/certs"
cert=$out/certs/ec.pem key=$out/certs/ec.key
export PYTHONPATH="$root/bindings/python:$here/apps"
# The bindings' C extensions beside their sources, as pip install and the gem have them.
(cd "$root/bindings/python" && python3 setup.py -q build_ext --inplace) > "$out/speedups.log" 2>&1 ||
  echo "bench-apps: nhttps._speedups could not be built ($out/speedups.log): nhttps.wsgi goes through ctypes" >&2
bash "$root/bindings/ruby/build_speedups.sh" "$root/bindings/ruby/lib/nhttps" >> "$out/speedups.log" 2>&1 ||
  echo "bench-apps: Nhttps::Speedups could not be built ($out/speedups.log): the Rack env is made in Ruby" >&2

rps() {  # port, command... — starts the server on core 0, prints wrk's req/s, stops it
  local port=$1; shift
  (cd "$here/apps" && exec taskset -c 0 "$@") > "$out/server.log" 2>&1 & local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c50 -d"${secs}s" "https://127.0.0.1:$port/" 2>&1 |
    awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "errors " $0 > "/dev/stderr"}'
  kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
}

{
  for _ in $(seq "$rounds"); do
    for app in hello_wsgi hello_flask; do
      echo "$app nhttps rps=$(rps 9801 python3 -m nhttps.wsgi "$app:app" --port 9801 --cert "$cert" --key "$key")"
      echo "$app gunicorn rps=$(rps 9802 gunicorn -k gthread --threads 8 -w 1 --certfile "$cert" --keyfile "$key" -b 127.0.0.1:9802 "$app:app")"
      echo "$app granian rps=$(rps 9803 granian --interface wsgi --workers 1 --ssl-certificate "$cert" --ssl-keyfile "$key" --host 127.0.0.1 --port 9803 "$app:app")"
    done
    for app in hello hello_sinatra; do
      echo "$app.ru nhttps rps=$(rps 9804 rackup -I "$root/bindings/ruby/lib" -s nhttps -E production -o 127.0.0.1 -p 9804 -O SSLCertificate="$cert" -O SSLPrivateKey="$key" "$app.ru")"
      echo "$app.ru puma rps=$(rps 9805 puma -w 0 -t 8:8 -e production -b "ssl://127.0.0.1:9805?key=$key&cert=$cert" "$app.ru")"
    done
  done
} | tee "$out/figures.txt"
python3 - "$out/figures.txt" <<'PY'
import statistics, sys
from collections import defaultdict
rps = defaultdict(list)
for line in open(sys.argv[1]):
    app, who, kv = line.split()
    rps[(app, who)].append(float(kv.split("=")[1] or "nan"))
for app in dict.fromkeys(a for a, _ in rps):
    mine = rps[(app, "nhttps")]
    cells = ["%-18s nhttps=%-8.0f" % (app, statistics.median(mine))]
    for (a, who), theirs in rps.items():
        if a == app and who != "nhttps":
            ratios = [m / t for m, t in zip(mine, theirs) if t]
            cells.append("%s=%.0f (%.2fx; %.2f-%.2f)" % (who, statistics.median(theirs),
                         statistics.median(mine) / statistics.median(theirs), min(ratios), max(ratios)))
    print("  ".join(cells) + "   [req/s, higher is better]")
PY
