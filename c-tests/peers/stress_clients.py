#!/usr/bin/env python3
"""Concurrent keep-alive HTTPS clients for c-tests/test_stress.c.

  stress_clients.py --port N [--clients 200] [--length 32768] [--max-seconds 90]

Each of --clients threads keeps one connection (http.client) and GETs "/"
in a loop until the server stops answering. The body must be --length
bytes of the pattern bytes(i % 251). Per request the outcome is one of:

  complete   the whole response arrived and its body is right;
  clean      the connection was closed (or reset, or the handshake cut)
             before any byte of a response: nothing was in flight;
  truncated  a response started but did not arrive whole (a status line
             and then a short or broken body, or a wrong body);
  error      anything else (a timeout, a bad status...).

After a clean close the client reconnects; it stops when the connection is
refused (the server no longer listens) or after --max-seconds. Prints
`started pid=N` first. Prints, last,
`complete=N clean=N refused=N truncated=N error=N clients=N` and the first
truncated or error case on stderr."""
import argparse
import http.client
import os
import socket
import ssl
import sys
import threading
import time

CLEAN = (
    http.client.RemoteDisconnected,  # closed before the status line
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--length", type=int, default=32768)
    ap.add_argument("--max-seconds", type=float, default=90)
    # Generous: under valgrind 200 simultaneous handshakes queue for a while.
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    expected = bytes(i % 251 for i in range(args.length))
    ctx = ssl._create_unverified_context()
    lock = threading.Lock()
    counts = {"complete": 0, "clean": 0, "refused": 0, "truncated": 0, "error": 0}
    first = []
    deadline = time.monotonic() + args.max_seconds

    def note(kind, detail=None):
        with lock:
            counts[kind] += 1
            if detail and kind in ("truncated", "error") and len(first) < 3:
                # CLOCK_MONOTONIC in ms, as the C test prints its own times
                first.append(f"{kind} at {time.monotonic() * 1000:.0f} ms: {detail}")

    def client():
        conn = None
        while time.monotonic() < deadline:
            if conn is None:
                conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=args.timeout)
                began = time.monotonic() * 1000
                try:
                    conn.connect()
                except ConnectionRefusedError:
                    note("refused")
                    return
                except CLEAN + (ssl.SSLError, OSError) as e:
                    if isinstance(e, (socket.timeout, TimeoutError)):
                        note("error", f"connect begun at {began:.0f} ms timed out: {e!r}")
                        return
                    # the handshake was cut (the server is closing): clean
                    note("clean")
                    conn.close()
                    conn = None
                    continue
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
            except CLEAN:
                note("clean")
                conn.close()
                conn = None
                continue
            except ssl.SSLError as e:
                note("clean" if "EOF" in str(e) or "closed" in str(e).lower() else "error", repr(e))
                conn.close()
                conn = None
                continue
            except Exception as e:  # noqa: BLE001 - classified
                note("error", f"before the response: {e!r}")
                conn.close()
                conn = None
                continue
            # A response has started: from here, anything short is truncation.
            try:
                body = r.read()
            except Exception as e:  # noqa: BLE001 - classified
                note("truncated", f"status {r.status}, then {e!r}")
                conn.close()
                conn = None
                continue
            if r.status != 200:
                note("error", f"status {r.status}")
            elif body != expected:
                note("truncated", f"body of {len(body)} bytes, expected {len(expected)}")
            else:
                note("complete")
            if r.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    print(f"started pid={os.getpid()}", flush=True)
    for t in threads:
        t.join()
    for line in first:
        print(line, file=sys.stderr)
    print(" ".join(f"{k}={v}" for k, v in counts.items()) + f" clients={args.clients}", flush=True)


if __name__ == "__main__":
    main()
