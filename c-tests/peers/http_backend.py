#!/usr/bin/env python3
"""A legacy plain-HTTP backend (Python's http.server, HTTP/1.1 with
keep-alive, no TLS), a peer of c-tests/test_proxy.sh.

  http_backend.py [--port N]

The first line on stdout is `listening PORT`; then `connection N` for each
new connection and `request METHOD PATH` for each request.

Every request is answered (Content-Length, kept alive) with JSON:
  {"method", "path", "headers": ["Name: value", ...] in order,
   "body_length", "body_sha256", "transfer_encoding"}
after reading the request body, by Content-Length or chunked.
The response also carries hop-by-hop headers a proxy must not pass on:
`Connection: keep-alive, X-Hop`, `X-Hop: 1`, `Keep-Alive: timeout=77`,
`Proxy-Backend: 1`.

GET /large?n=BYTES streams BYTES bytes (byte i is i % 251) chunked, in
64 KiB chunks, with `X-Body-Sha256` telling their sha256.
SIGTERM ends it."""
import argparse
import hashlib
import http.server
import json
import signal
import socketserver
import sys
import threading
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "legacy-backend/1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            print(f"connection {self.server.connections}", flush=True)

    def log_message(self, fmt, *args):  # quiet: our own lines only
        pass

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body), "chunked"
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n), ""

    def hop_headers(self):
        self.send_header("Connection", "keep-alive, X-Hop")
        self.send_header("X-Hop", "1")
        self.send_header("Keep-Alive", "timeout=77")
        self.send_header("Proxy-Backend", "1")

    def answer(self):
        print(f"request {self.command} {self.path}", flush=True)
        body, te = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        if self.command == "GET" and url.path == "/large":
            n = int(urllib.parse.parse_qs(url.query).get("n", ["0"])[0])
            return self.stream_large(n)
        out = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": [f"{k}: {v}" for k, v in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "transfer_encoding": te,
        }, indent=1).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.hop_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def stream_large(self, n):
        pattern = bytes(i % 251 for i in range(251 * 261))  # 65511 bytes, whole cycles
        digest = hashlib.sha256()
        pieces = []
        left = n
        while left > 0:
            piece = pattern[:min(left, len(pattern))]
            digest.update(piece)
            pieces.append(len(piece))
            left -= len(piece)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Body-Sha256", digest.hexdigest())
        self.end_headers()
        for size in pieces:
            self.wfile.write(b"%x\r\n" % size + pattern[:size] + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = answer


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.lock = threading.Lock()
    server.connections = 0
    print(f"listening {server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
