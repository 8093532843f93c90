#!/usr/bin/env python3
"""ratios.py FIGURES — reads `KIND SERVER key=value...` lines (from run.sh) and prints each
nhttps figure beside nginx, Node and libmicrohttpd with the ratio nhttps / peer, and the
client figures of fetch beside curl and Node's Agent."""
import sys
from collections import defaultdict

figures = defaultdict(dict)  # (kind, who) -> {key: value}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 3 or "=" in parts[1]:
        continue
    kind, who = parts[0], parts[1]
    for kv in parts[2:]:
        if "=" in kv:
            k, v = kv.split("=", 1)
            try:
                figures[(kind, who)][k] = float(v.split("/")[0])
            except ValueError:
                pass

def row(kind, key, lower_is_better, peers, who="nhttps"):
    mine = figures[(kind, who)].get(key)
    cells = [f"{kind:6} {key:22} {who}={mine if mine is not None else '-'}"]
    for peer in peers:
        theirs = figures[(kind, peer)].get(key)
        if mine is None or not theirs:
            cells.append(f"{peer}=-")
        else:
            cells.append(f"{peer}={theirs:g} ({mine / theirs:.2f}x)")
    better = "lower is better" if lower_is_better else "higher is better"
    print("  ".join(cells) + f"   [{better}]")

servers = ["nginx", "node", "mhd"]
for kind in ("ec", "rsa"):
    for key, low in [("keepalive_rps", False), ("keepalive_cpu_us", True), ("keepalive_p99_ms", True),
                     ("handshake_rps", False), ("handshake_cpu_us", True), ("bulk_MBps", False),
                     ("rss_per_conn_kib", True), ("idle_conns", False), ("probe_ms", True)]:
        row(kind, key, low, servers)
for key, low in [("wall_s", True), ("cpu_us_per_req", True), ("max_rss_kib", True)]:
    row("client", key, low, ["curl", "node"])

# The 10,000-connection hold (idle10k.sh): nhttps alone, against the targets.
held = figures[("idle10k", "nhttps")]
if held:
    print(f"idle10k nhttps: {held.get('idle10k_conns', 0):.0f} idle connections held, "
          f"{held.get('rss_per_conn_kib', float('nan'))} KiB each; a new client's GET meanwhile: "
          f"{held.get('probe_ms', float('nan'))} ms (worst {held.get('probe_max_ms', float('nan'))} ms; target < 10 ms)")
