#!/usr/bin/env python3
"""Hostile clients for c-tests/test_hostile.sh (issue 7: slow and hostile
peers), all against one HTTPS port on 127.0.0.1.

  hostile.py --port N slowloris --count 1000 [--interval 2] [--duration 60]
      TLS handshakes on --count connections, then a request head trickled
      one byte per connection every --interval seconds. Prints
      `ready connected=N failed=N` once every connection was tried, then
      keeps trickling until --duration seconds or SIGTERM, and prints
      `end open=N closed_by_server=N`.
  hostile.py --port N stall --count 200 [--fraction 0.5] [--duration 60]
      TCP connections that send the first --fraction of a real TLS
      ClientHello and nothing more. Prints `ready stalled=N failed=N`, then
      holds them until --duration seconds or SIGTERM.
  hostile.py --port N flood --count 3000 [--hello-fraction 0.5] [--workers 32]
      --count connections opened and dropped at once: the first half
      connect and close, the second half send half a ClientHello and close.
      Prints `done ok=N failed=N` (failed: connect errors, e.g. a full
      backlog)."""
import argparse
import asyncio
import signal
import socket
import ssl
import sys
import threading
import time


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_hello():
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(incoming, outgoing, server_side=False, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def out(line):
    print(line, flush=True)


async def slowloris(args):
    ctx = tls_context()
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100000
    gate = asyncio.Semaphore(64)  # handshakes in flight at once
    conns = []
    failed = 0

    async def open_one():
        nonlocal failed
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port, ssl=ctx), timeout=30)
                writer.write(head[:1])
                await writer.drain()
                conns.append([reader, writer, 1, False])
            except Exception:  # noqa: BLE001 - counted
                failed += 1

    await asyncio.gather(*(open_one() for _ in range(args.count)))
    out(f"ready connected={len(conns)} failed={failed}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    deadline = time.monotonic() + args.duration
    while not stop.is_set() and time.monotonic() < deadline:
        for c in conns:
            reader, writer, sent, closed = c
            if closed:
                continue
            if reader.at_eof() or writer.is_closing():
                c[3] = True
                continue
            try:
                writer.write(head[sent:sent + 1])
                c[2] = sent + 1
            except Exception:  # noqa: BLE001 - the server closed it
                c[3] = True
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.interval)
        except asyncio.TimeoutError:
            pass
        # notice connections the server closed
        for c in conns:
            if not c[3] and c[0].at_eof():
                c[3] = True
    closed = sum(1 for c in conns if c[3])
    out(f"end open={len(conns) - closed} closed_by_server={closed}")
    for c in conns:
        try:
            c[1].transport.abort()
        except Exception:  # noqa: BLE001
            pass


def stall(args):
    hello = client_hello()
    part = hello[: max(1, int(len(hello) * args.fraction))]
    socks, failed = [], 0
    for _ in range(args.count):
        try:
            s = socket.create_connection((args.host, args.port), timeout=10)
            s.sendall(part)
            socks.append(s)
        except OSError:
            failed += 1
    out(f"ready stalled={len(socks)} failed={failed}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait(args.duration)
    for s in socks:
        s.close()


def flood(args):
    hello = client_hello()
    part = hello[: max(1, int(len(hello) * args.hello_fraction))]
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    next_index = [0]

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= args.count:
                    return
                next_index[0] += 1
            try:
                s = socket.create_connection((args.host, args.port), timeout=10)
                if i >= args.count // 2:
                    s.sendall(part)
                # an abortive close (RST) for every other one, a FIN otherwise
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
                with lock:
                    counts["ok"] += 1
            except OSError:
                with lock:
                    counts["failed"] += 1

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out(f"done ok={counts['ok']} failed={counts['failed']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("slowloris")
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--interval", type=float, default=2.0)
    s.add_argument("--duration", type=float, default=60.0)
    s = sub.add_parser("stall")
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--fraction", type=float, default=0.5)
    s.add_argument("--duration", type=float, default=60.0)
    s = sub.add_parser("flood")
    s.add_argument("--count", type=int, default=3000)
    s.add_argument("--hello-fraction", type=float, default=0.5)
    s.add_argument("--workers", type=int, default=32)
    args = ap.parse_args()
    if args.mode == "slowloris":
        asyncio.run(slowloris(args))
    elif args.mode == "stall":
        stall(args)
    else:
        flood(args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(1)
