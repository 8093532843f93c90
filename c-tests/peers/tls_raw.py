#!/usr/bin/env python3
"""A raw TLS peer for the C tests: sends stdin's bytes to the server, then
prints every byte the server sends back until it closes the connection.

  tls_raw.py --port N [--host H] [--unix PATH] [--servername NAME]
             [--half-close] [--timeout S]

The certificate is not verified (the tests use the development one)."""
import argparse
import socket
import ssl
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--unix")
    ap.add_argument("--servername")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if args.unix:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(args.unix)
    else:
        raw = socket.create_connection((args.host, args.port))
    raw.settimeout(args.timeout)
    tls = ctx.wrap_socket(raw, server_hostname=args.servername)
    tls.sendall(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    try:
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            out.write(chunk)
    except (socket.timeout, ssl.SSLError, ConnectionResetError):
        pass
    out.flush()


if __name__ == "__main__":
    main()
