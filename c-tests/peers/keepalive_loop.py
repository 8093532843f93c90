#!/usr/bin/env python3
"""Many requests over a few kept-alive HTTPS connections (http.client).

  keepalive_loop.py --port N --requests 1000 [--connections 4] [--path /]
                    [--expect-body TEXT]

Splits --requests among --connections threads; each keeps one connection
and GETs --path in a loop. Prints `ok=N bad=N errors=N connections=N`:
ok are 200 responses whose body is --expect-body (when given), bad are
other complete responses, errors are exceptions (the first is printed on
stderr). `connections` counts the connections actually opened: with
keep-alive working it equals --connections."""
import argparse
import http.client
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--path", default="/")
    ap.add_argument("--expect-body")
    args = ap.parse_args()
    ctx = ssl._create_unverified_context()
    lock = threading.Lock()
    counts = {"ok": 0, "bad": 0, "errors": 0, "connections": 0}
    first_error = []

    def worker(n):
        conn = None
        for _ in range(n):
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=60)
                    conn.connect()
                    with lock:
                        counts["connections"] += 1
                conn.request("GET", args.path)
                r = conn.getresponse()
                body = r.read().decode("utf-8", "replace")
                good = r.status == 200 and (args.expect_body is None or body == args.expect_body)
                with lock:
                    counts["ok" if good else "bad"] += 1
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    counts["errors"] += 1
                    if not first_error:
                        first_error.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    per = [args.requests // args.connections] * args.connections
    for i in range(args.requests % args.connections):
        per[i] += 1
    threads = [threading.Thread(target=worker, args=(n,)) for n in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if first_error:
        print(f"first error: {first_error[0]}", file=sys.stderr)
    print(" ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


if __name__ == "__main__":
    main()
