#!/usr/bin/env python3
"""Checks a response's `Connection` header against what the server then
does: sends one request, reads the response, and — if the head said
keep-alive — sends a second request on the same connection; if it said
close, waits for the end of the connection.

  keep_alive_probe.py --port N --request FILE [--body-bytes N] [--timeout S]

FILE holds the request's head (and any body bytes to send with it).
--body-bytes N then sends N more body bytes ("x") before reading the
response, as Python's http.client does: a server that answers without
reading them must still read them (a lingering close), or its answer is
lost to a connection reset.

Prints, one per line:
  status NNN
  connection VALUE      (the header's value, lower-cased; "none" if absent)
  body-length N
  next NNN              (keep-alive: the second request's status)
  next eof              (the server closed cleanly)
  next reset | next timeout | next data
The certificate is not verified (the tests use the development one)."""
import argparse
import socket
import ssl


class Conn:
    def __init__(self, tls):
        self.tls = tls
        self.buf = b""

    def fill(self):
        chunk = self.tls.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def read_until(self, marker):
        while marker not in self.buf:
            self.fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self):
        """(status, headers, body) of one response."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if status < 200:
            return self.read_response()
        body = b""
        if "content-length" in headers:
            body = self.read_exactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self.read_until(b"\r\n")
                    break
                body += self.read_exactly(size)
                self.read_exactly(2)
        return status, headers, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--request", required=True)
    ap.add_argument("--body-bytes", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((args.host, args.port))
    raw.settimeout(args.timeout)
    tls = ctx.wrap_socket(raw)
    with open(args.request, "rb") as f:
        tls.sendall(f.read())

    block = b"x" * 65536
    left = args.body_bytes
    try:
        while left > 0:
            n = min(left, len(block))
            tls.sendall(block[:n])
            left -= n
    except (OSError, ssl.SSLError) as e:
        print(f"send failed ({e})")
    conn = Conn(tls)
    try:
        status, headers, body = conn.read_response()
    except (EOFError, OSError, ssl.SSLError) as e:
        print(f"no response ({e!r})")
        return
    connection = headers.get("connection", "none").lower()
    print(f"status {status}")
    print(f"connection {connection}")
    print(f"body-length {len(body)}")
    try:
        if connection == "keep-alive":
            tls.sendall(b"GET /next HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            print(f"next {conn.read_response()[0]}")
        else:
            conn.fill()
            print("next data")
    except EOFError:
        print("next eof")
    except ssl.SSLZeroReturnError:
        print("next eof")
    except socket.timeout:
        print("next timeout")
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError) as e:
        print(f"next reset ({e})")


if __name__ == "__main__":
    main()
