#!/usr/bin/env python3
"""Sends a request head in two halves: the first, then `half` on stdout,
then the rest once the file GO exists (up to 10 s); prints the response's
body. TLS, certificate not checked.

  half_head.py PORT GO
"""
import os
import socket
import ssl
import sys
import time

port, go = int(sys.argv[1]), sys.argv[2]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20))
tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
print("half", flush=True)
deadline = time.monotonic() + 10
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.01)
tls.sendall(b"Connection: close\r\n\r\n")
answer = b""
while True:
    chunk = tls.recv(65536)
    if not chunk:
        break
    answer += chunk
print(answer.partition(b"\r\n\r\n")[2].decode(errors="replace"), flush=True)
