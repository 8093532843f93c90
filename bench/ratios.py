#!/usr/bin/env python3
"""ratios.py FIGURES — reads `KIND SERVER key=value...` lines (from run.sh) and prints each
nhttps figure beside nginx, Node and libmicrohttpd with the ratio nhttps / peer, and the
client figures of fetch beside curl and Node's Agent. A figure measured in several rounds
is shown as its median, and the ratio as the ratio of the medians followed by the lowest and
highest of the rounds' own ratios (round i of nhttps against round i of the peer)."""
import statistics
import sys
from collections import defaultdict

figures = defaultdict(lambda: defaultdict(list))  # (kind, who) -> {key: [value per round]}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 3 or "=" in parts[1]:
        continue
    kind, who = parts[0], parts[1]
    for kv in parts[2:]:
        if "=" in kv:
            k, v = kv.split("=", 1)
            try:
                figures[(kind, who)][k].append(float(v.split("/")[0]))
            except ValueError:
                pass

def median(kind, who, key):
    values = figures[(kind, who)].get(key)
    return statistics.median(values) if values else None

def spread(kind, peer, key, who):
    """The lowest and highest per-round ratio, when there were several rounds."""
    mine, theirs = figures[(kind, who)].get(key, []), figures[(kind, peer)].get(key, [])
    ratios = [m / t for m, t in zip(mine, theirs) if t]
    return f"; {min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""

def row(kind, key, lower_is_better, peers, who="nhttps"):
    mine = median(kind, who, key)
    cells = [f"{kind:6} {key:22} {who}={'-' if mine is None else f'{mine:g}'}"]
    for peer in peers:
        theirs = median(kind, peer, key)
        if mine is None or not theirs:
            cells.append(f"{peer}=-")
        else:
            cells.append(f"{peer}={theirs:g} ({mine / theirs:.2f}x{spread(kind, peer, key, who)})")
    better = "lower is better" if lower_is_better else "higher is better"
    print("  ".join(cells) + f"   [{better}]")

servers = ["nginx", "node", "mhd"]
# nhttps is bench/nhttps_server.c, configured as the peers are; serve is the shipped
# static-file server (files, a log line per response, tickets), when it was measured.
for who in ("nhttps", "serve"):
    if not any(w == who for _, w in figures):
        continue
    for kind in ("ec", "rsa"):
        for key, low in [("keepalive_rps", False), ("keepalive_cpu_us", True),
                         ("keepalive_p99_ms", True), ("handshake_rps", False),
                         ("handshake_cpu_us", True), ("bulk_MBps", False),
                         ("rss_per_conn_kib", True), ("idle_conns", False), ("probe_ms", True)]:
            row(kind, key, low, servers, who)
for key, low in [("wall_s", True), ("cpu_us_per_req", True), ("max_rss_kib", True)]:
    row("client", key, low, ["curl", "node"])

# The idle-connection hold (hold_idle_connections.sh) and the blocking handlers
# (blocking_handlers.sh): nhttps alone.
hold = {k: median("hold", "nhttps", k) for k in figures[("hold", "nhttps")]}
if hold:
    print(f"hold   nhttps: {hold.get('held', 0):.0f} idle connections held by {hold.get('threads', 0):.0f} "
          f"threads, {hold.get('rss_per_conn_kib', float('nan'))} KiB each; a new client's GET meanwhile: "
          f"{hold.get('probe_ms', float('nan'))} ms (worst {hold.get('probe_max_ms', float('nan'))} ms)")
blocking = {k: median("blocking", "nhttps", k) for k in figures[("blocking", "nhttps")]}
if blocking:
    print(f"blocking nhttps: with {blocking.get('sleeping', 0):.0f} handlers asleep, a new connection's GET "
          f"{blocking.get('probe_ms', float('nan'))} ms (worst {blocking.get('probe_max_ms', float('nan'))}), "
          f"50 keep-alive connections' p99 {blocking.get('keepalive_p99_ms', float('nan'))} ms")

# Every target of issue 15 (and those it keeps), met or not, in this run.
def ratio(kind, key, peer, who="nhttps"):
    mine, theirs = median(kind, who, key), median(kind, peer, key)
    return mine / theirs if mine is not None and theirs else None

def target(text, value, met):
    shown = "-" if value is None else f"{value:.2f}"
    verdict = "no figure" if value is None else ("MET" if met(value) else "MISSED")
    print(f"target {text:58} {shown:>8}  {verdict}")

print()
for kind in ("ec", "rsa"):
    target(f"{kind}: keep-alive CPU per request <= 1.0x nginx", ratio(kind, "keepalive_cpu_us", "nginx"), lambda r: r <= 1.0)
    target(f"{kind}: keep-alive req/s >= 1.0x nginx", ratio(kind, "keepalive_rps", "nginx"), lambda r: r >= 1.0)
    target(f"{kind}: keep-alive req/s >= 1.8x Node", ratio(kind, "keepalive_rps", "node"), lambda r: r >= 1.8)
    target(f"{kind}: keep-alive p99 <= 1.5x nginx", ratio(kind, "keepalive_p99_ms", "nginx"), lambda r: r <= 1.5)
    target(f"{kind}: RSS per idle connection <= 1.0x nginx", ratio(kind, "rss_per_conn_kib", "nginx"), lambda r: r <= 1.0)
    target(f"{kind}: handshake CPU <= 1.0x nginx", ratio(kind, "handshake_cpu_us", "nginx"), lambda r: r <= 1.0)
    target(f"{kind}: bulk >= 1.0x nginx", ratio(kind, "bulk_MBps", "nginx"), lambda r: r >= 1.0)
if hold:
    cores = hold.get("cores") or 2
    target("hold: idle connections held (of 19,500)", hold.get("held"), lambda v: v >= 19500)
    target(f"hold: threads meanwhile <= 2 x cores + 4 = {2 * cores + 4:.0f}", hold.get("threads"), lambda v: v <= 2 * cores + 4)
    target("hold: a new client's GET meanwhile, median ms < 10", hold.get("probe_ms"), lambda v: v < 10)
if blocking:
    target("blocking: 100 handlers asleep meanwhile", blocking.get("sleeping"), lambda v: v >= 100)
    target("blocking: a 101st connection's GET, ms <= 10", blocking.get("probe_ms"), lambda v: v <= 10)
    target("blocking: 50 keep-alive connections' p99, ms <= 10", blocking.get("keepalive_p99_ms"), lambda v: v <= 10)
target("client: CPU per request <= 1.0x curl", ratio("client", "cpu_us_per_req", "curl"), lambda r: r <= 1.0)
target("client: wall time <= 1.0x curl", ratio("client", "wall_s", "curl"), lambda r: r <= 1.0)
target("client: wall time < 1.0x Node's Agent", ratio("client", "wall_s", "node"), lambda r: r < 1.0)
