"""The server: hello through http.client and the binding's client, request
bodies, 100-continue, headers, events, a raising handler, concurrency."""

import gc
import http.client
import json
import threading
import time
import unittest

from helpers import (ServerTestCase, nhttps, raw_tls, read_response,
                     read_until, trusting_context, unverified_context, url)


def hello(req, res):
    res.set_header("Content-Type", "text/plain")
    res.end(b"hello world\n")


class HelloTest(ServerTestCase):
    def test_http_client_unverified_context(self):
        server = self.serve(hello)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=unverified_context(), timeout=10)
        conn.request("GET", "/")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read(), b"hello world\n")
        self.assertEqual(r.getheader("Content-Type"), "text/plain")
        self.assertEqual(r.getheader("Content-Length"), "12")
        conn.close()

    def test_max_requests_per_socket_closes_after_the_last(self):
        server = self.serve(hello, max_requests_per_socket=2, headers_timeout=30,
                            request_timeout=30, handshake_timeout=30)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=unverified_context(), timeout=10)
        said = []
        for _ in range(2):
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            said.append(r.getheader("Connection"))
        self.assertEqual(said, ["keep-alive", "close"])
        conn.close()

    def test_http_client_trusting_the_dev_certificate(self):
        server = self.serve(hello)
        self.assertIn("-----BEGIN CERTIFICATE-----", server.certificate_pem)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=trusting_context(server), timeout=10)
        for _ in range(3):  # keep-alive: several requests on one connection
            conn.request("GET", "/again")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"hello world\n"))
        conn.close()

    def test_own_client(self):
        server = self.serve(hello)
        r = nhttps.get(url(server), ca=server.certificate_pem)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.status_message, "OK")
        self.assertEqual(r.headers["content-type"], "text/plain")
        self.assertEqual(r.read(), b"hello world\n")
        self.assertEqual(r.socket.tls_version in ("TLSv1.2", "TLSv1.3"), True)
        r.close()

    def test_write_head_write_end(self):
        def handler(req, res):
            res.status_code = 201
            res.set_header("X-Many", ["a", "b"])
            res.write_head(202, {"X-Extra": "1"}, status_message="Taken")
            self.assertTrue(res.headers_sent)
            res.write(b"part one, ")
            res.write("part two")
            res.end(b"!")
            self.assertTrue(res.ended)
        server = self.serve(handler)
        r = nhttps.get(url(server), ca=server.certificate_pem)
        self.assertEqual((r.status, r.status_message), (202, "Taken"))
        self.assertEqual(r.headers["x-extra"], "1")
        self.assertEqual(r.headers["x-many"], "a, b")
        self.assertEqual(r.headers["transfer-encoding"], "chunked")
        self.assertEqual(r.read(), b"part one, part two!")

    def test_response_header_methods(self):
        seen = {}

        def handler(req, res):
            res.set_header("X-A", "1").set_header("X-B", 2)
            seen["a"] = res.get_header("x-a")
            seen["b"] = res.get_header("X-B")
            res.remove_header("X-B")
            seen["b_after"] = res.get_header("X-B")
            seen["has_a"] = res.has_header("X-A")
            res.append_header("Set-Cookie", "one=1")
            res.append_header("Set-Cookie", "two=2")
            res.status_code = 418
            seen["status"] = res.status_code
            res.end()
            try:
                res.write(b"late")
            except nhttps.InvalidStateError as e:
                seen["late"] = e.code
            res.end()  # a second end is a no-op
            done.set()
        done = threading.Event()
        server = self.serve(handler)
        r = nhttps.get(url(server), ca=server.certificate_pem)
        self.assertTrue(done.wait(5))
        self.assertEqual(r.status, 418)
        self.assertEqual(r.headers["x-a"], "1")
        self.assertNotIn("x-b", r.headers)
        self.assertEqual(r.headers["set-cookie"], ["one=1", "two=2"])
        self.assertEqual(seen, {"a": "1", "b": "2", "b_after": None, "has_a": True,
                                "status": 418, "late": "NHTTPS_ERR_INVALID_STATE"})

    def test_request_fields_and_headers(self):
        got = {}

        def handler(req, res):
            got.update(method=req.method, url=req.url, version=req.http_version,
                       headers=req.headers, raw=req.raw_headers,
                       remote=req.socket.remote_address,
                       tls=req.socket.tls_version, alpn=req.socket.alpn,
                       authorized=req.socket.authorized,
                       local_port=req.socket.local_port)
            res.end()
        server = self.serve(handler, alpn_protocols=["http/1.1"])
        sock = raw_tls(server, context=_alpn(trusting_context(server)))
        sock.sendall(b"GET /p/q?x=1&y=%20 HTTP/1.1\r\nHost: localhost\r\n"
                     b"X-Dup: a\r\nx-dup: b\r\nCookie: c=1\r\nCookie: d=2\r\n"
                     b"Content-Type: text/a\r\nContent-Type: text/b\r\n"
                     b"X-Latin: caf\xe9\r\n\r\n")
        status, _, _ = read_response(sock)
        sock.close()
        self.assertEqual(status, 200)
        self.assertEqual(got["method"], "GET")
        self.assertEqual(got["url"], "/p/q?x=1&y=%20")
        self.assertEqual(got["version"], "1.1")
        h = got["headers"]
        self.assertEqual(h["x-dup"], "a, b")
        self.assertEqual(h["cookie"], "c=1; d=2")
        self.assertEqual(h["content-type"], "text/a")  # Node drops duplicates
        self.assertEqual(h["x-latin"], "caf\xe9")
        self.assertIn(("X-Dup", "a"), got["raw"])
        self.assertIn(("x-dup", "b"), got["raw"])
        self.assertEqual(len(got["raw"]), 8)
        self.assertEqual(got["remote"], "127.0.0.1")
        self.assertIn(got["tls"], ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(got["alpn"], "http/1.1")
        self.assertFalse(got["authorized"])
        self.assertEqual(got["local_port"], server.port)


def _alpn(ctx):
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def echo(req, res):
    body = req.read()
    res.set_header("Content-Type", "application/json")
    res.end(json.dumps({"length": len(body), "complete": req.complete,
                        "te": req.headers.get("transfer-encoding"),
                        "body": body.decode("latin-1")[:64]}).encode())


class BodyTest(ServerTestCase):
    def test_content_length_body_http_client(self):
        server = self.serve(echo)
        payload = bytes(range(256)) * 1000
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=trusting_context(server), timeout=10)
        conn.request("POST", "/", body=payload)
        r = conn.getresponse()
        info = json.loads(r.read())
        self.assertEqual(info["length"], len(payload))
        self.assertTrue(info["complete"])
        self.assertIsNone(info["te"])
        conn.close()

    def test_chunked_body_http_client(self):
        server = self.serve(echo)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=trusting_context(server), timeout=10)
        chunks = [b"a" * 1000, b"b" * 70000, b"c"]
        conn.request("PUT", "/", body=iter(chunks), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        info = json.loads(conn.getresponse().read())
        self.assertEqual(info["length"], 71001)
        self.assertEqual(info["te"], "chunked")
        conn.close()

    def test_read_in_pieces(self):
        def handler(req, res):
            sizes = []
            while True:
                piece = req.read(1000)
                if not piece:
                    break
                sizes.append(len(piece))
            res.end(("%d %d" % (sum(sizes), max(sizes))).encode())
        server = self.serve(handler)
        r = nhttps.request(url(server), method="POST", body=b"x" * 5000,
                           ca=server.certificate_pem)
        total, biggest = r.read().split()
        self.assertEqual(int(total), 5000)
        self.assertLessEqual(int(biggest), 1000)

    def test_own_client_bodies(self):
        server = self.serve(echo)
        ca = server.certificate_pem
        r = nhttps.request(url(server), method="POST", body="héllo", ca=ca)
        info = json.loads(r.read())
        self.assertEqual((info["length"], info["te"]), (6, None))
        r = nhttps.request(url(server), method="POST",
                           body=(c for c in [b"one", b"two", b"three"]), ca=ca)
        info = json.loads(r.read())
        self.assertEqual((info["length"], info["te"], info["body"]),
                         (11, "chunked", "onetwothree"))
        req = nhttps.ClientRequest(url(server), method="PUT", ca=ca)
        req.write(b"abc")
        info = json.loads(req.end(b"def").read())
        self.assertEqual((info["length"], info["body"]), (6, "abcdef"))

    def test_unread_body_is_drained_for_the_next_request(self):
        server = self.serve(hello)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=trusting_context(server), timeout=10)
        for _ in range(2):
            conn.request("POST", "/", body=b"z" * 10000)
            self.assertEqual(conn.getresponse().read(), b"hello world\n")
        conn.close()


class ContinueTest(ServerTestCase):
    HEAD = (b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n")

    def test_default_sends_100_then_request(self):
        server = self.serve(echo)
        sock = raw_tls(server)
        sock.sendall(self.HEAD)
        interim = read_until(sock, b"\r\n\r\n")
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
        sock.sendall(b"hello")
        status, _, body = read_response(sock)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body"], "hello")
        sock.close()

    def test_check_continue_listener_accepts(self):
        calls = []

        def check_continue(req, res):
            calls.append(req.headers.get("expect"))
            res.write_continue()
            res.end(b"got " + req.read())
        server = self.serve(echo)
        server.on("checkContinue", check_continue)
        sock = raw_tls(server)
        sock.sendall(self.HEAD)
        interim = read_until(sock, b"\r\n\r\n")
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue"), interim)
        sock.sendall(b"hello")
        status, _, body = read_response(sock)
        self.assertEqual((status, body), (200, b"got hello"))
        self.assertEqual(calls, ["100-continue"])
        sock.close()

    def test_check_continue_listener_refuses(self):
        def refuse(req, res):
            res.write_head(417)
            res.end()
        server = self.serve(echo)
        server.on("check_continue", refuse)  # snake_case alias
        sock = raw_tls(server)
        sock.sendall(self.HEAD)
        status, _, _ = read_response(sock)
        self.assertEqual(status, 417)
        sock.close()
        # Removing the listener restores the default.
        server.off("checkContinue", refuse)
        sock = raw_tls(server)
        sock.sendall(self.HEAD)
        self.assertTrue(read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100"))
        sock.sendall(b"hello")
        status, _, body = read_response(sock)
        self.assertEqual((status, json.loads(body)["body"]), (200, "hello"))
        sock.close()


class FailingHandlerTest(ServerTestCase):
    def test_raising_handler_gives_500_and_server_keeps_serving(self):
        def handler(req, res):
            if req.url == "/boom":
                res.set_header("X-Secret", "must not leak")
                raise ValueError("handler failure for the test")
            res.end(b"fine")
        server = self.serve(handler)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=trusting_context(server), timeout=10)
        with self.assertLogs("nhttps", level="ERROR") as logs:
            conn.request("GET", "/boom")
            r = conn.getresponse()
            self.assertEqual(r.status, 500)
            self.assertIsNone(r.getheader("X-Secret"))
            r.read()
        self.assertIn("ValueError: handler failure for the test", "\n".join(logs.output))
        self.assertIn("GET /boom", "\n".join(logs.output))
        conn.close()
        for _ in range(3):
            r = nhttps.get(url(server), ca=server.certificate_pem)
            self.assertEqual((r.status, r.read()), (200, b"fine"))

    def test_raise_after_head_sent_ends_the_response(self):
        def handler(req, res):
            res.write_head(200)
            res.write(b"partial")
            raise RuntimeError("late failure")
        server = self.serve(handler)
        with self.assertLogs("nhttps", level="ERROR"):
            r = nhttps.get(url(server), ca=server.certificate_pem, timeout=10)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"partial")

    def test_traceback_on_stderr_without_logging_configuration(self):
        import subprocess
        import sys
        from helpers import PACKAGE_ROOT
        script = (
            "import nhttps\n"
            "def h(req, res): raise KeyError('kaboom')\n"
            "s = nhttps.create_server(h, dev_certificate=True).listen()\n"
            "r = nhttps.get('https://127.0.0.1:%d/' % s.port, ca=s.certificate_pem)\n"
            "print(r.status)\n"
            "s.close()\n")
        p = subprocess.run([sys.executable, "-c", script], capture_output=True,
                           text=True, timeout=30, env=_env(PACKAGE_ROOT))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "500")
        self.assertIn("Traceback", p.stderr)
        self.assertIn("KeyError: 'kaboom'", p.stderr)

    def test_response_ended_later_from_another_thread(self):
        pending = []

        def handler(req, res):
            pending.append(res)  # returns without ending: the response stays open
            threading.Timer(0.2, lambda: res.end(b"later")).start()
        server = self.serve(handler)
        start = time.monotonic()
        r = nhttps.get(url(server), ca=server.certificate_pem)
        self.assertEqual(r.read(), b"later")
        self.assertGreaterEqual(time.monotonic() - start, 0.15)

    def test_forgotten_response_is_answered_500(self):
        def handler(req, res):
            pass  # neither ends nor keeps the response
        server = self.serve(handler)
        with self.assertLogs("nhttps", level="WARNING") as logs:
            r = nhttps.get(url(server), ca=server.certificate_pem, timeout=10)
            gc.collect()
            self.assertEqual(r.status, 500)
        self.assertIn("without end()", "\n".join(logs.output))

    def test_read_after_end_raises(self):
        kept = {}
        done = threading.Event()

        def handler(req, res):
            res.end(b"done")
            try:
                req.read()
            except nhttps.InvalidStateError as e:
                kept["error"] = e
            kept["method"] = req.method  # copied: still readable
            done.set()
        server = self.serve(handler)
        nhttps.get(url(server), ca=server.certificate_pem).read()
        self.assertTrue(done.wait(5))
        self.assertIsInstance(kept["error"], nhttps.Error)
        self.assertEqual(kept["method"], "GET")


class ConcurrencyTest(ServerTestCase):
    def test_50_concurrent_requests_on_a_python_handler(self):
        lock = threading.Lock()
        state = {"now": 0, "max": 0, "count": 0}

        def handler(req, res):
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
                state["count"] += 1
            time.sleep(0.2)  # other handlers must run meanwhile
            body = req.read()
            with lock:
                state["now"] -= 1
            res.end(b"ok " + req.url.encode() + b" " + body)

        server = self.serve(handler)
        ca = server.certificate_pem
        results, errors = {}, []
        agent = nhttps.Agent(max_sockets=25)

        def with_http_client(i):
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                                   context=trusting_context(server),
                                                   timeout=30)
                conn.request("POST", "/h%d" % i, body=b"b%d" % i)
                r = conn.getresponse()
                results[i] = (r.status, r.read())
                conn.close()
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        def with_own_client(i):
            try:
                r = nhttps.request(url(server, "/n%d" % i), method="POST",
                                   body=b"b%d" % i, ca=ca, agent=agent)
                results[i] = (r.status, r.read())
            except Exception as e:  # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=with_http_client if i % 2 else with_own_client,
                                    args=(i,)) for i in range(50)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - start
        agent.close()
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 50)
        for i, (status, body) in results.items():
            prefix = "/h" if i % 2 else "/n"
            self.assertEqual((status, body), (200, b"ok %s%d b%d" % (prefix.encode(), i, i)))
        self.assertEqual(state["count"], 50)
        self.assertGreaterEqual(state["max"], 10)  # they really overlapped
        self.assertLess(elapsed, 50 * 0.2 / 2)


class EventsTest(ServerTestCase):
    def test_listening_close_connection_secure_connection(self):
        events = []
        server = nhttps.create_server(hello, dev_certificate=True)
        server.on("listening", lambda: events.append("listening"))
        server.on("close", lambda: events.append("close"))
        server.on("connection", lambda info: events.append(("connection", info.remote_address)))
        server.on("secureConnection", lambda info: events.append(("secure", info.tls_version)))
        with server:
            server.listen(0, "127.0.0.1")  # every address (the default) reports ::ffff:127.0.0.1
            self.assertTrue(server.listening)
            self.assertIn("listening", events)
            nhttps.get(url(server), ca=server.certificate_pem, agent=False).read()
        self.assertEqual(events[-1], "close")
        self.assertIn(("connection", "127.0.0.1"), events)
        self.assertTrue(any(e[0] == "secure" for e in events if isinstance(e, tuple)))
        self.assertEqual(server.port, 0)
        server.close()  # idempotent
        with self.assertRaises(nhttps.InvalidStateError):
            server.listen(0)

    def test_close_from_a_handler(self):
        closed = threading.Event()
        server = nhttps.create_server(dev_certificate=True)
        server.on("close", closed.set)

        def handler(req, res):
            server.close()  # returns at once on a connection thread
            res.end(b"bye")
        server.on("request", handler)
        server.listen(0)
        address = url(server)
        r = nhttps.get(address, ca=server.certificate_pem)
        self.assertEqual(r.read(), b"bye")
        self.assertEqual(r.headers.get("connection"), "close")
        self.assertTrue(closed.wait(5))
        deadline = time.monotonic() + 5
        while server.port and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(server.port, 0)  # freed by the helper thread
        with self.assertRaises(nhttps.ConnectionRefusedError):
            nhttps.get(address, agent=False)

    def test_keylog(self):
        lines = []
        server = self.serve(hello)
        server.on("keylog", lines.append)
        nhttps.get(url(server), ca=server.certificate_pem, agent=False).read()
        self.assertTrue(lines)
        self.assertTrue(all(isinstance(line, bytes) for line in lines))
        self.assertTrue(any(b"TRAFFIC_SECRET" in line or b"CLIENT_RANDOM" in line
                            for line in lines), lines)

    def test_unix_socket(self):
        import os
        import tempfile
        directory = tempfile.mkdtemp(prefix="nhttps-py-unix-")
        path = os.path.join(directory, "s.sock")
        server = nhttps.create_server(hello, dev_certificate=True).listen(path=path)
        try:
            self.assertEqual(server.port, 0)
            r = nhttps.get({"socket_path": path, "path": "/"}, ca=server.certificate_pem)
            self.assertEqual(r.read(), b"hello world\n")
        finally:
            server.close()
            self.assertFalse(os.path.exists(path))
            os.rmdir(directory)

    def test_connection_listener_can_refuse(self):
        server = self.serve(hello)
        server.on("connection", lambda info: False)
        with self.assertRaises(nhttps.Error):
            nhttps.get(url(server), ca=server.certificate_pem, agent=False)

    def test_client_error_event(self):
        seen = []
        server = self.serve(hello)
        server.on("clientError", lambda err, info: seen.append(err))
        sock = raw_tls(server)
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")  # no Host
        status, _, _ = read_response(sock)
        sock.close()
        self.assertEqual(status, 400)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIsInstance(seen[0], nhttps.Error)
        self.assertEqual(seen[0].http_status, 400)
        self.assertEqual(seen[0].code, "NHTTPS_ERR_HTTP_PARSE")

    def test_decorator_and_exception_in_event_listener(self):
        server = self.serve()

        @server.on("request")
        def handler(req, res):
            res.end(b"decorated")

        def bad(info):
            raise RuntimeError("listener bug")
        server.on("connection", bad)
        with self.assertLogs("nhttps", level="ERROR"):
            r = nhttps.get(url(server), ca=server.certificate_pem, agent=False)
            self.assertEqual(r.read(), b"decorated")

    def test_upgrade(self):
        def on_upgrade(req, sock, head):
            self.assertEqual(req.headers["upgrade"], "echo")
            sock.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                       b"Upgrade: echo\r\n\r\n")

            def run():
                with sock:
                    if head:
                        sock.write(head)
                    while True:
                        data = sock.read()
                        if not data:
                            return
                        sock.write(data.upper())
            threading.Thread(target=run, daemon=True).start()
        server = self.serve(hello)
        server.on("upgrade", on_upgrade)
        s = raw_tls(server)
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                  b"Upgrade: echo\r\n\r\nfirst")
        head = read_until(s, b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        data = head.partition(b"\r\n\r\n")[2]
        while len(data) < 5:
            data += s.recv(100)
        self.assertEqual(data, b"first")
        s.sendall(b"shout")
        self.assertEqual(s.recv(100), b"SHOUT")
        s.close()


class OptionsTest(unittest.TestCase):
    def test_missing_certificate(self):
        with self.assertRaises(nhttps.Error) as cm:
            nhttps.create_server()
        self.assertTrue(cm.exception.code.startswith("NHTTPS_ERR_"))

    def test_bad_pem(self):
        with self.assertRaises((nhttps.PrivateKeyError, nhttps.CertificateError)):
            nhttps.create_server(key=b"-----BEGIN PRIVATE KEY-----\nnope\n",
                                 cert=b"-----BEGIN CERTIFICATE-----\nnope\n")

    def test_missing_file(self):
        with self.assertRaises(nhttps.Error) as cm:
            nhttps.create_server(key="/nonexistent/key.pem", cert="/nonexistent/c.pem")
        self.assertIn("NHTTPS_ERR_", str(cm.exception))

    def test_unknown_event(self):
        server = nhttps.create_server(dev_certificate=True)
        with self.assertRaises(ValueError):
            server.on("nonsense", print)
        server.close()

    def test_address_in_use(self):
        a = nhttps.create_server(hello, dev_certificate=True).listen(0)
        try:
            b = nhttps.create_server(hello, dev_certificate=True)
            with self.assertRaises(nhttps.AddressInUseError) as cm:
                b.listen(a.port)
            self.assertEqual(cm.exception.code, "NHTTPS_ERR_ADDRESS_IN_USE")
            self.assertIsInstance(cm.exception, OSError)
            b.close()
        finally:
            a.close()


def _env(package_root):
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    return env


if __name__ == "__main__":
    unittest.main()


def python_thread_states():
    """How many thread states the interpreter has (CPython)."""
    import ctypes
    api = ctypes.pythonapi
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
    api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
    api.PyThreadState_Next.restype = ctypes.c_void_p
    api.PyThreadState_Next.argtypes = [ctypes.c_void_p]
    n, state = 0, api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Get())
    while state:
        n += 1
        state = api.PyThreadState_Next(state)
    return n


class ThreadStateTest(ServerTestCase):
    def test_a_serving_thread_keeps_its_python_thread_state_until_it_leaves(self):
        before = python_thread_states()
        server = nhttps.create_server(hello, dev_certificate=True).listen(0, "127.0.0.1")
        seen = []

        def get():
            conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                               context=unverified_context(), timeout=10)
            for _ in range(3):
                conn.request("GET", "/")
                seen.append(conn.getresponse().read())
            conn.close()

        clients = [threading.Thread(target=get) for _ in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        serving = python_thread_states()
        server.close()
        after = python_thread_states()
        self.assertEqual(seen, [b"hello world\n"] * 12)
        # Kept between callbacks (not made and freed per request)...
        self.assertGreater(serving, before)
        # ...and dropped on each thread as it left the pool (close waits).
        self.assertEqual(after, before)
