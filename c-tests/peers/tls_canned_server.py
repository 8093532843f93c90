#!/usr/bin/env python3
"""A TLS server that answers every request with canned bytes, a peer of the
client tests (close-delimited bodies, 1xx responses, malformed responses,
a server that closes mid-response, a server that stops answering).

  tls_canned_server.py --cert FILE --key FILE --response FILE [--port N]
                       [--keep-open | --stall]

The first line on stdout is `listening PORT`; then one line per request,
`request N`. Each connection reads one request head, sends the bytes of
--response exactly, and closes (TLS close_notify, then the socket).
With --keep-open it waits instead for the next request on the connection,
prints `dropped N`, and closes without answering it: a kept-alive
connection that dies under the client's next request.
With --stall it sends nothing more after --response (which may be empty:
a server that never answers) and closes only when the client does, or
after 10 s: a server that hangs mid-response.
SIGTERM ends it."""
import argparse
import signal
import socket
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--response", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--keep-open", action="store_true")
    ap.add_argument("--stall", action="store_true")
    args = ap.parse_args()
    with open(args.response, "rb") as f:
        canned = f.read()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    listener = socket.create_server(("127.0.0.1", args.port))
    print(f"listening {listener.getsockname()[1]}", flush=True)
    count = [0]
    dropped = [0]
    lock = threading.Lock()

    def serve(raw):
        tls = None
        try:
            raw.settimeout(10)
            tls = ctx.wrap_socket(raw, server_side=True)
            def read_head():
                head = b""
                while b"\r\n\r\n" not in head:
                    piece = tls.recv(65536)
                    if not piece:
                        return None
                    head += piece
                return head

            if read_head() is None:
                return
            with lock:
                count[0] += 1
                print(f"request {count[0]}", flush=True)
            tls.sendall(canned)
            if args.stall:
                while tls.recv(65536):
                    pass
                return
            if args.keep_open:
                if read_head() is None:
                    return
                with lock:
                    dropped[0] += 1
                    print(f"dropped {dropped[0]}", flush=True)
            tls.settimeout(2)
            try:
                tls.unwrap()
            except (ssl.SSLError, OSError):
                pass
        except (ssl.SSLError, OSError):
            pass
        finally:
            (tls or raw).close()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        raw, _ = listener.accept()
        threading.Thread(target=serve, args=(raw,), daemon=True).start()


if __name__ == "__main__":
    main()
