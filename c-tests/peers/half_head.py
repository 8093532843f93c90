#!/usr/bin/env python3
"""Sends a request head in two halves: the first, then `half` on stdout,
then the rest once the file GO exists (up to 10 s); prints the response's
body. TLS, certificate not checked.

  half_head.py PORT GO
"""
import os
import socket
import sys
import time

from proxy_client import read_to_end, unverified_tls

port, go = int(sys.argv[1]), sys.argv[2]
tls = unverified_tls(socket.create_connection(("127.0.0.1", port), timeout=20))
tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
print("half", flush=True)
deadline = time.monotonic() + 10
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.01)
tls.sendall(b"Connection: close\r\n\r\n")
answer = read_to_end(tls)
print(answer.partition(b"\r\n\r\n")[2].decode(errors="replace"), flush=True)
