#!/usr/bin/env python3
"""A minimal WebSocket (RFC 6455) client over ssl + socket, standard library
only (Python has no WebSocket client of its own, nor has Node 20), for
c-tests/test_examples.sh against build/bin/websocket_echo.

  ws_client.py --port N [--host H] echo       handshake, echoes of every
                                               length form, fragments, ping,
                                               close, head bytes
  ws_client.py --port N [--host H] errors     bad handshakes get 400;
                                               protocol errors get 1002/1007
  ws_client.py --port N [--host H] many K     K WebSockets at once
  ws_client.py --port N [--host H] hold       opens one, prints `open`, then
                                               prints `eof` when the server
                                               ends it (or `timeout`)

`echo`, `errors` and `many` print `PASS name` / `FAIL name: why` lines and
exit 1 if any failed. The certificate is not verified (the development one).
"""
import argparse
import base64
import hashlib
import os
import socket
import ssl
import struct
import sys
import threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 30
failures = 0
print_lock = threading.Lock()


def report(ok, name, why=""):
    global failures
    with print_lock:
        if ok:
            print(f"PASS {name}", flush=True)
        else:
            failures += 1
            print(f"FAIL {name}: {why}", flush=True)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, host, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.host, self.port = host, port
        self.buf = b""

    def recv_some(self):
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            raise Closed()
        self.buf += data

    def recv_exact(self, n):
        while len(self.buf) < n:
            self.recv_some()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv_some()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def read_body(self, headers):
        return self.recv_exact(int(headers.get("content-length", "0")))

    def at_eof(self):
        """True when the server has closed (nothing more arrives)."""
        if self.buf:
            return False
        try:
            self.recv_some()
            return False
        except Closed:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def expected_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def handshake_request(host, port, key, extra=None, drop=(), method="GET"):
    headers = {
        "Host": f"{host}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }
    headers.update(extra or {})
    for name in drop:
        headers.pop(name, None)
    text = f"{method} / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return text.encode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    # XOR in bulk: mask repeated to the payload's length, as one big integer.
    reps = key * (n // 4 + 1)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big") if n else b""
    return head + key + masked


def read_frame(conn):
    """(fin, opcode, payload) of the server's next frame; checks it is
    unmasked and uses no reserved bit."""
    b0, b1 = conn.recv_exact(2)
    if b1 & 0x80:
        raise AssertionError("the server masked a frame")
    if b0 & 0x70:
        raise AssertionError("the server set reserved bits")
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", conn.recv_exact(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", conn.recv_exact(8))
    return bool(b0 & 0x80), b0 & 0x0F, conn.recv_exact(n)


def open_ws(host, port, first_frames=b""):
    """Connects and handshakes; returns (conn, None) or (None, why)."""
    conn = Conn(host, port)
    key = new_key()
    conn.sock.sendall(handshake_request(host, port, key) + first_frames)
    status, headers = conn.read_head()
    if status != 101:
        return None, f"status {status}"
    if headers.get("upgrade", "").lower() != "websocket":
        return None, f"Upgrade: {headers.get('upgrade')}"
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        return None, f"Connection: {headers.get('connection')}"
    if headers.get("sec-websocket-accept") != expected_accept(key):
        return None, f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')} != {expected_accept(key)}"
    return conn, None


def expect_echo(conn, opcode, payload):
    fin, op, data = read_frame(conn)
    if not fin or op != opcode or data != payload:
        return f"sent opcode {opcode} len {len(payload)}, got fin={fin} opcode {op} len {len(data)}"
    return None


def expect_close(conn, code):
    """Reads frames until a close; checks its code and that the connection ends."""
    fin, op, data = read_frame(conn)
    if op != 0x8:
        return f"expected a close frame, got opcode {op}"
    got = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
    if got != code:
        return f"close code {got}, wanted {code} ({data[2:]!r})"
    if not conn.at_eof():
        return "the connection stayed open after the close"
    return None


def run(name, fn):
    try:
        why = fn()
    except Closed:
        why = "the connection closed early"
    except Exception as e:  # noqa: BLE001 — any failure is a FAIL line
        why = f"{type(e).__name__}: {e}"
    report(why is None, name, why)


# ---- scenarios ------------------------------------------------------------

def scenario_echo(host, port):
    state = {}

    def handshake():
        conn, why = open_ws(host, port)
        state["conn"] = conn
        return why

    run("websocket_handshake_101_with_the_right_accept", handshake)
    conn = state.get("conn")
    if conn is None:
        report(False, "websocket_echo", "no connection")
        return

    def empty():
        # The first message of a connection is empty: nothing buffered yet.
        conn.sock.sendall(frame(0x2, b""))
        return expect_echo(conn, 0x2, b"")

    run("websocket_empty_first_message_is_echoed", empty)

    def text():
        msg = "hello, wörld ✓".encode()
        conn.sock.sendall(frame(0x1, msg))
        return expect_echo(conn, 0x1, msg)

    run("websocket_text_is_echoed", text)

    def lengths():
        # 7-bit (0..125), 16-bit (126..65535) and 64-bit (65536..) lengths,
        # both sides of each boundary, text and binary alternately.
        for i, n in enumerate([0, 1, 125, 126, 127, 300, 65535, 65536, 70000, 1_000_000]):
            op = 0x1 if i % 2 == 0 else 0x2
            payload = (b"abcdefghij" * (n // 10 + 1))[:n] if op == 0x1 else os.urandom(n)
            conn.sock.sendall(frame(op, payload))
            why = expect_echo(conn, op, payload)
            if why:
                return f"length {n}: {why}"
        return None

    run("websocket_7_16_and_64_bit_lengths_are_echoed", lengths)

    def binary():
        payload = os.urandom(100_000)
        conn.sock.sendall(frame(0x2, payload))
        return expect_echo(conn, 0x2, payload)

    run("websocket_binary_is_echoed", binary)

    def ping():
        conn.sock.sendall(frame(0x9, b"are you there?"))
        return expect_echo(conn, 0xA, b"are you there?")

    run("websocket_ping_gets_a_pong_with_its_payload", ping)

    def fragments():
        conn.sock.sendall(frame(0x1, b"Hel", fin=False))
        conn.sock.sendall(frame(0x0, b"lo, ", fin=False))
        conn.sock.sendall(frame(0x9, b"between"))  # control frames may come between fragments
        conn.sock.sendall(frame(0x0, b"x" * 70000, fin=False))
        conn.sock.sendall(frame(0x0, b"world", fin=True))
        why = expect_echo(conn, 0xA, b"between")
        return why or expect_echo(conn, 0x1, b"Hello, " + b"x" * 70000 + b"world")

    run("websocket_continuation_frames_make_one_message", fragments)

    def pipelined():
        msgs = [os.urandom(k) for k in (10, 200, 70000)]
        conn.sock.sendall(b"".join(frame(0x2, m) for m in msgs))
        for m in msgs:
            why = expect_echo(conn, 0x2, m)
            if why:
                return why
        return None

    run("websocket_frames_sent_together_are_echoed_in_order", pipelined)

    def close():
        conn.sock.sendall(frame(0x8, struct.pack("!H", 1000) + b"bye"))
        fin, op, data = read_frame(conn)
        if op != 0x8 or data != struct.pack("!H", 1000) + b"bye":
            return f"got opcode {op} payload {data!r}"
        if not conn.at_eof():
            return "the connection stayed open after the close"
        return None

    run("websocket_close_is_echoed_and_the_connection_ends", close)
    conn.close()

    def head_bytes():
        # Frames sent with the request, before the 101: they reach the
        # upgrade callback as `head`.
        first = frame(0x1, b"in the head") + frame(0x2, os.urandom(3000))
        c, why = open_ws(host, port, first_frames=first)
        if why:
            return why
        why = expect_echo(c, 0x1, b"in the head")
        _, op, data = read_frame(c)
        c.close()
        return why or (None if op == 0x2 and len(data) == 3000 else f"second: opcode {op} len {len(data)}")

    run("websocket_frames_sent_with_the_request_head_are_echoed", head_bytes)


def scenario_errors(host, port):
    def bad_handshake(name, **kw):
        def check():
            conn = Conn(host, port)
            conn.sock.sendall(handshake_request(host, port, new_key(), **kw))
            status, headers = conn.read_head()
            body = conn.read_body(headers)
            eof = conn.at_eof()
            conn.close()
            if status != 400:
                return f"status {status}"
            if not eof:
                return "the connection stayed open"
            if kw.get("extra", {}).get("Sec-WebSocket-Version") and headers.get("sec-websocket-version") != "13":
                return f"no Sec-WebSocket-Version: 13 in the 400 ({headers})"
            if not body:
                return "no reason in the body"
            return None

        run(name, check)

    bad_handshake("websocket_missing_key_gets_400", drop=("Sec-WebSocket-Key",))
    bad_handshake("websocket_malformed_key_gets_400", extra={"Sec-WebSocket-Key": "too-short"})
    bad_handshake("websocket_wrong_version_gets_400_naming_13", extra={"Sec-WebSocket-Version": "8"})
    bad_handshake("websocket_upgrade_to_another_protocol_gets_400", extra={"Upgrade": "h2c"})
    bad_handshake("websocket_post_gets_400", method="POST")

    def protocol_error(name, data, code):
        def check():
            conn, why = open_ws(host, port)
            if why:
                return why
            conn.sock.sendall(data)
            why = expect_close(conn, code)
            conn.close()
            return why

        run(name, check)

    protocol_error("websocket_unmasked_frame_is_closed_with_1002", frame(0x1, b"x", mask=False), 1002)
    protocol_error("websocket_continuation_without_a_message_is_closed_with_1002",
                   frame(0x0, b"x"), 1002)
    protocol_error("websocket_reserved_bits_are_closed_with_1002", frame(0x1, b"x", rsv=0x40), 1002)
    protocol_error("websocket_fragmented_ping_is_closed_with_1002", frame(0x9, b"x", fin=False), 1002)
    protocol_error("websocket_invalid_utf8_text_is_closed_with_1007", frame(0x1, b"\xc0\xaf"), 1007)
    protocol_error("websocket_bad_close_code_is_closed_with_1002",
                   frame(0x8, struct.pack("!H", 1005)), 1002)


def scenario_many(host, port, k):
    errors = []

    def worker(i):
        try:
            conn, why = open_ws(host, port)
            if why:
                errors.append(f"#{i}: {why}")
                return
            for j in range(20):
                payload = os.urandom((i * 7919 + j * 104729) % 90000)
                conn.sock.sendall(frame(0x2, payload))
                why = expect_echo(conn, 0x2, payload)
                if why:
                    errors.append(f"#{i}.{j}: {why}")
                    return
            conn.sock.sendall(frame(0x8, struct.pack("!H", 1000)))
            why = expect_close(conn, 1000)
            if why:
                errors.append(f"#{i}: {why}")
            conn.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"#{i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report(not errors, f"websocket_{k}_connections_at_once_each_get_their_echoes", "; ".join(errors[:3]))


def scenario_hold(host, port):
    conn, why = open_ws(host, port)
    if why:
        print(f"error {why}", flush=True)
        sys.exit(1)
    print("open", flush=True)
    try:
        print("eof" if conn.at_eof() else "data", flush=True)
    except (socket.timeout, TimeoutError):
        print("timeout", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("scenario", choices=["echo", "errors", "many", "hold"])
    ap.add_argument("count", nargs="?", type=int, default=8)
    args = ap.parse_args()
    if args.scenario == "echo":
        scenario_echo(args.host, args.port)
    elif args.scenario == "errors":
        scenario_errors(args.host, args.port)
    elif args.scenario == "many":
        scenario_many(args.host, args.port, args.count)
    else:
        scenario_hold(args.host, args.port)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
