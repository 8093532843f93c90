#!/usr/bin/env python3
"""Keep-alive HTTPS clients that idle between requests, for the tests of
parked connections (c-tests/test_parking.c).

  idle_clients.py hold --port N --connections N --go FILE [--path P]
      Opens N connections, GETs P on each, prints `idle N` once every
      connection has its answer, then waits (connections open, silent)
      until FILE exists, GETs P again on each and prints
      `again ok=N closed=N bad=N`: ok are 200 answers, closed are
      connections the server had closed cleanly (no byte of an answer),
      bad is anything else (a partial or wrong answer, a timeout).

  idle_clients.py sweep --port N --requests N --from-ms A --to-ms B [--path P]
      One connection: GETs P, sleeps a delay, again; the delays grow
      evenly from A to B ms. A connection the server closed cleanly before
      any byte of an answer is opened again and the request sent there.
      Prints `ok=N closed=N bad=N connections=N`.

The certificate is not verified (the tests use the development one)."""
import argparse
import http.client
import os
import socket
import ssl
import sys
import time

CLEAN = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def connect(args):
    ctx = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=30)
    conn.connect()
    return conn


def get(conn, path):
    """'ok', 'closed' (nothing of an answer came) or 'bad'."""
    try:
        conn.request("GET", path)
        response = conn.getresponse()
    except CLEAN:
        return "closed"
    except Exception as e:  # noqa: BLE001 - every other failure is reported
        print(f"bad: {e!r}", file=sys.stderr)
        return "bad"
    try:
        response.read()
    except Exception as e:  # noqa: BLE001
        print(f"bad body: {e!r}", file=sys.stderr)
        return "bad"
    return "ok" if response.status == 200 else "bad"


def hold(args):
    conns = [connect(args) for _ in range(args.connections)]
    first = [get(c, args.path) for c in conns]
    print(f"idle {first.count('ok')}", flush=True)
    while not os.path.exists(args.go):
        time.sleep(0.05)
    again = [get(c, args.path) for c in conns]
    print(f"again ok={again.count('ok')} closed={again.count('closed')} "
          f"bad={again.count('bad')}", flush=True)


def sweep(args):
    counts = {"ok": 0, "closed": 0, "bad": 0}
    conn = connect(args)
    connections = 1
    for i in range(args.requests):
        delay = args.from_ms + (args.to_ms - args.from_ms) * i / max(args.requests - 1, 1)
        outcome = get(conn, args.path)
        if outcome == "closed":
            counts["closed"] += 1
            conn.close()
            conn = connect(args)
            connections += 1
            outcome = get(conn, args.path)
            if outcome == "closed":
                outcome = "bad"  # a fresh connection must answer
        counts[outcome] += 1
        time.sleep(delay / 1000)
    print(f"ok={counts['ok']} closed={counts['closed']} bad={counts['bad']} "
          f"connections={connections}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hold", "sweep"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--go")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--from-ms", type=int, default=40)
    ap.add_argument("--to-ms", type=int, default=60)
    args = ap.parse_args()
    socket.setdefaulttimeout(30)
    if args.mode == "hold":
        hold(args)
    else:
        sweep(args)


if __name__ == "__main__":
    main()
