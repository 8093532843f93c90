#!/usr/bin/env python3
"""A TLS client peer for the C tests (Python's ssl module): connects,
reports the handshake, optionally waits, then sends one request and prints
the answer.

  tls_client.py --port N [--host H] [--servername NAME] [--cafile FILE]
                [--cert FILE --key FILE] [--hold FILE] [--max-version 1.2]
                [--alpn LIST] [--timeout S]

Prints, one per line:
  HANDSHAKE ok | HANDSHAKE failed: WHY
  VERSION TLSv1.3
  ALPN NAME            (or ALPN -)
  SUBJECT CN           the server certificate's common name (needs --cafile:
                       the chain is verified, the host name is not)
  HOLD                 with --hold: then waits until FILE exists
  RESPONSE             then every byte of the answer to `GET /`
  ERROR WHY            when the connection failed after the handshake
"""
import argparse
import os
import socket
import ssl
import sys
import time


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--servername")
    ap.add_argument("--cafile")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--hold")
    ap.add_argument("--max-version", choices=["1.2", "1.3"])
    ap.add_argument("--alpn")
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if args.cafile:
        ctx.load_verify_locations(args.cafile)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.max_version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))

    raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
    try:
        tls = ctx.wrap_socket(raw, server_hostname=args.servername)
    except (ssl.SSLError, OSError) as e:
        say("HANDSHAKE failed: %s" % e)
        return 1
    say("HANDSHAKE ok")
    say("VERSION %s" % tls.version())
    say("ALPN %s" % (tls.selected_alpn_protocol() or "-"))
    if args.cafile:
        cert = tls.getpeercert()
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    say("SUBJECT %s" % value)
    if args.hold:
        say("HOLD")
        deadline = time.time() + args.timeout
        while not os.path.exists(args.hold) and time.time() < deadline:
            time.sleep(0.02)
    try:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        say("RESPONSE")
        out = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            out += chunk
        sys.stdout.write(out.decode("latin-1"))
        sys.stdout.write("\n")
    except (ssl.SSLError, OSError) as e:
        say("ERROR %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
