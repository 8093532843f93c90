#!/usr/bin/env python3
"""sleepers.py PORT N — N TLS connections to 127.0.0.1:PORT, opened first, then each sends
GET /sleep at once (bench/nhttps_server.c answers after 5 s) and reads the answer. Prints
`sleeping=K` where K is how many answers took at least 4.5 s (their handler still slept
while blocking_handlers.sh measured), then `slept_ok=M` (answers that were 200)."""
import socket, ssl, sys, threading, time

port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
conns = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30)) for _ in range(n)]
results = []
go = threading.Barrier(n)

def sleeper(s):
    go.wait()
    start = time.monotonic()
    s.sendall(b"GET /sleep HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
    results.append((time.monotonic() - start, reply.startswith(b"HTTP/1.1 200")))

threads = [threading.Thread(target=sleeper, args=(s,)) for s in conns]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"sleeping={sum(1 for took, _ in results if took >= 4.5)}")
print(f"slept_ok={sum(1 for _, ok in results if ok)}")
