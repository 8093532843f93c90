#!/usr/bin/env python3
"""A client behind a pretend proxy, for the PROXY protocol tests: sends a
PROXY header (or hostile bytes) first, then, unless told not to, does a TLS
handshake and `GET /` (Python's ssl module, certificates not checked).

  proxy_client.py --port N HEADER [--raw] [--stall S]

HEADER, one of:
  v1:LINE        "PROXY " + LINE + "\\r\\n", e.g. v1:TCP4 203.0.113.7 192.0.2.1 51234 443
  v2:SRC,DST     a v2 PROXY header for TCP; SRC and DST are ADDR:PORT, IPv4 or
                 [IPv6]:PORT
  v2-local       a v2 LOCAL header
  hex:HEX        those bytes
  none           nothing

--raw: send HEADER only (no TLS), then wait (--stall S seconds, default 0)
and report whether the server closed the connection.

Prints RESPONSE then the answer's first line and body, or CLOSED (the
server closed the connection, with --raw: without sending anything), or
OPEN (--raw: still open after the stall), or ERROR WHY.
"""
import argparse
import ipaddress
import socket
import ssl
import struct
import sys

SIGNATURE = b"\r\n\r\n\0\r\nQUIT\n"


def address(text):
    host, _, port = text.rpartition(":")
    return ipaddress.ip_address(host.strip("[]")), int(port)


def header(spec):
    if spec == "none":
        return b""
    if spec == "v2-local":
        return SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    kind, _, value = spec.partition(":")
    if kind == "v1":
        return b"PROXY " + value.encode() + b"\r\n"
    if kind == "hex":
        return bytes.fromhex(value)
    if kind == "v2":
        (src, sport), (dst, dport) = (address(a) for a in value.split(","))
        family = 0x11 if src.version == 4 else 0x21
        body = src.packed + dst.packed + struct.pack("!HH", sport, dport)
        return SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body
    raise SystemExit("unknown header " + spec)


def unverified_tls(sock):
    """`sock` wrapped in TLS, the server's certificate not checked."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname="localhost")


def read_to_end(tls):
    """Every byte until the server closes."""
    answer = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            return answer
        answer += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("header")
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--stall", type=float, default=0)
    args = ap.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    try:
        sock.sendall(header(args.header))
        if args.raw:
            sock.settimeout(args.stall or 10)
            try:
                got = sock.recv(1)
                print("CLOSED" if not got else "DATA")
            except socket.timeout:
                print("OPEN")
            except ConnectionResetError:
                print("CLOSED")
            return
        tls = unverified_tls(sock)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = read_to_end(tls)
        head, _, body = answer.partition(b"\r\n\r\n")
        print("RESPONSE " + head.split(b"\r\n")[0].decode())
        print(body.decode(errors="replace"))
    except (ssl.SSLError, ConnectionError) as e:
        print("CLOSED" if "EOF" in str(e) or isinstance(e, ConnectionError) else "ERROR %s" % e)
    except OSError as e:
        print("ERROR %s" % e)
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
