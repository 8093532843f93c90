#!/usr/bin/env python3
"""A misbehaving client for the C tests (issue 7: slow and hostile peers).

  slow_peer.py --port N MODE [options]

Modes (each prints `key=value` lines, flushed, for the test to read):
  trickle   TLS handshake, then a request head sent one byte every
            --interval seconds; prints `handshake` and, at the end,
            `closed_after=S sent=N reply=...` (seconds from the end of the
            handshake until the server closed) or `open_after=S sent=N` when
            the server had not closed after --max-time seconds. With
            --first-idle S: first one keep-alive request and its response,
            then S seconds idle, and only then the trickled head (timed from
            its first byte).
  idle      TLS handshake, one keep-alive request, its response read, then
            idle; prints `response status=NNN` and then `closed_after=S`
            (from the response) or `open_after=S` after --hold seconds.
  silent    a plain TCP connection that never says anything; prints
            `connected`, then `closed_after=S` or `open_after=S`.
  noread    TLS handshake, one GET of --path, and never a byte read;
            prints `sent` and sleeps --hold seconds (or until killed).
  stall     TCP, then the first --fraction of a real TLS ClientHello and
            nothing more; prints `stalled`, then `closed_after=S` or
            `open_after=S` after --hold seconds.
  hello-trickle  TCP, then a real ClientHello one byte every --interval
            seconds; prints `closed_after=S sent=N` (from the first byte) or
            `open_after=S sent=N` after --max-time seconds.

The certificate is not verified (the tests use the development one)."""
import argparse
import socket
import ssl
import sys
import time


def out(line):
    print(line, flush=True)


def context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(args):
    raw = socket.create_connection((args.host, args.port), timeout=30)
    return raw


def wait_closed(sock, limit, start):
    """Reads (and drops) until EOF or `limit` seconds after `start`.
    Returns (closed, bytes seen)."""
    seen = b""
    while True:
        left = limit - (time.monotonic() - start)
        if left <= 0:
            return False, seen
        sock.settimeout(min(left, 0.05))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True, seen
        if not chunk:
            return True, seen
        seen += chunk


def read_response(tls):
    """Reads one response with a Content-Length; returns its status."""
    data = b""
    tls.settimeout(30)
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return head.split(b" ")[1].decode() if b" " in head else "?"


def client_hello():
    """The bytes of a real ClientHello, made with a memory BIO."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context().wrap_bio(incoming, outgoing, server_side=False, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("mode", choices=["trickle", "idle", "silent", "noread", "stall", "hello-trickle"])
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--max-time", type=float, default=6.0)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--path", default="/")
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--first-idle", type=float, default=None)
    args = ap.parse_args()

    if args.mode == "silent":
        raw = connect(args)
        out("connected")
        start = time.monotonic()
        closed, _ = wait_closed(raw, args.hold, start)
        out(f"{'closed' if closed else 'open'}_after={time.monotonic() - start:.2f}")
        return
    if args.mode == "stall":
        hello = client_hello()
        raw = connect(args)
        raw.sendall(hello[: max(1, int(len(hello) * args.fraction))])
        out("stalled")
        start = time.monotonic()
        closed, _ = wait_closed(raw, args.hold, start)
        out(f"{'closed' if closed else 'open'}_after={time.monotonic() - start:.2f}")
        return

    if args.mode == "hello-trickle":
        hello = client_hello()
        raw = connect(args)
        start = time.monotonic()
        sent = 0
        closed = False
        while time.monotonic() - start < args.max_time and sent < len(hello):
            try:
                raw.sendall(hello[sent : sent + 1])
                sent += 1
            except OSError:
                closed = True
                break
            until = min(time.monotonic() + args.interval, start + args.max_time)
            closed, _ = wait_closed(raw, until - start, start)
            if closed:
                break
        elapsed = time.monotonic() - start
        out(f"{'closed' if closed else 'open'}_after={elapsed:.2f} sent={sent}")
        return

    raw = connect(args)
    tls = context().wrap_socket(raw)
    if args.mode == "trickle":
        out("handshake")
        if args.first_idle is not None:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            out(f"response status={read_response(tls)}")
            time.sleep(args.first_idle)
        start = time.monotonic()
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000 + b"\r\n\r\n"
        sent = 0
        reply = b""
        closed = False
        while time.monotonic() - start < args.max_time and sent < len(head):
            try:
                tls.sendall(head[sent : sent + 1])
                sent += 1
            except (ConnectionError, ssl.SSLError, OSError):
                closed = True
                break
            until = min(time.monotonic() + args.interval, start + args.max_time)
            closed, seen = wait_closed(tls, until - start, start)
            reply += seen
            if closed:
                break
        elapsed = time.monotonic() - start
        if closed:
            out(f"closed_after={elapsed:.2f} sent={sent} reply={reply[:60]!r}")
        else:
            out(f"open_after={elapsed:.2f} sent={sent}")
        return
    if args.mode == "idle":
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status = read_response(tls)
        out(f"response status={status}")
        start = time.monotonic()
        closed, _ = wait_closed(tls, args.hold, start)
        out(f"{'closed' if closed else 'open'}_after={time.monotonic() - start:.2f}")
        return
    if args.mode == "noread":
        tls.sendall(f"GET {args.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out("sent")
        time.sleep(args.hold)
        return


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(1)
