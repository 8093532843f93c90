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

# The 10,000-connection hold (idle10k.sh): nhttps alone, against the targets.
held = {k: median("idle10k", "nhttps", k) for k in figures[("idle10k", "nhttps")]}
if held:
    print(f"idle10k nhttps: {held.get('idle10k_conns', 0):.0f} idle connections held, "
          f"{held.get('rss_per_conn_kib', float('nan'))} KiB each; a new client's GET meanwhile: "
          f"{held.get('probe_ms', float('nan'))} ms (worst {held.get('probe_max_ms', float('nan'))} ms; target < 10 ms)")
