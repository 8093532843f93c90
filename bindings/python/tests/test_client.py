"""The client: request/get, options, Agent, and errors raising the right class."""

import socket
import threading
import time
import unittest

from helpers import ServerTestCase, nhttps, url


def info(req, res):
    body = req.read()
    res.set_header("Content-Type", "text/plain")
    res.set_header("Set-Cookie", ["a=1", "b=2"])
    res.end(("%s %s %s|%s|%s|%d" % (
        req.method, req.url, req.headers.get("x-test"),
        req.headers.get("authorization"), req.headers.get("content-length"),
        len(body))).encode())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ClientTest(ServerTestCase):
    def test_get_and_response_fields(self):
        server = self.serve(info)
        with nhttps.get(url(server, "/x?y=1"), ca=server.certificate_pem,
                        headers={"X-Test": "yes"}) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.http_version, "1.1")
            self.assertEqual(r.headers["set-cookie"], ["a=1", "b=2"])
            self.assertIn(("Set-Cookie", "b=2"), [(n.title(), v) for n, v in r.raw_headers])
            self.assertEqual(r.read(), b"GET /x?y=1 yes|None|None|0")
            self.assertTrue(r.complete)
            self.assertTrue(r.closed)  # freed at the end of the body

    def test_options_dict_and_keywords(self):
        server = self.serve(info)
        r = nhttps.request({"hostname": "127.0.0.1", "port": server.port,
                            "path": "/opts", "method": "put",
                            "headers": [("X-Test", "from-dict")]},
                           body=b"12345", ca=server.certificate_pem.encode(),
                           auth="user:pw")
        text = r.read().decode()
        self.assertTrue(text.startswith("PUT /opts from-dict|Basic "), text)
        self.assertTrue(text.endswith("|5|5"), text)

    def test_read_in_pieces_and_iteration(self):
        def big(req, res):
            res.end(b"0123456789" * 10000)
        server = self.serve(big)
        r = nhttps.get(url(server), ca=server.certificate_pem)
        first = r.read(10)
        self.assertEqual(first, b"0123456789")
        rest = b"".join(r)
        self.assertEqual(len(first + rest), 100000)
        self.assertEqual(r.read(), b"")

    def test_agent_reuses_connections_and_closes(self):
        server = self.serve(info)
        with nhttps.Agent(max_sockets=1, keep_alive=True) as agent:
            reused = []
            for _ in range(3):
                r = nhttps.get(url(server), ca=server.certificate_pem, agent=agent)
                r.read()
                reused.append(r.socket.reused_connection)
            self.assertEqual(reused, [False, True, True])
            stats = agent.stats("127.0.0.1:%d" % server.port)
            self.assertEqual(stats, {"in_use": 0, "free": 1, "queued": 0})
        self.assertTrue(agent.closed)
        with self.assertRaises(nhttps.InvalidStateError):
            nhttps.get(url(server), ca=server.certificate_pem, agent=agent)

    def test_agent_false_and_global_agent(self):
        server = self.serve(info)
        r = nhttps.get(url(server), ca=server.certificate_pem, agent=False)
        self.assertEqual(r.headers.get("connection"), "close")
        r.read()
        g = nhttps.global_agent()
        self.assertIs(g, nhttps.global_agent())
        self.assertIn("in_use", g.stats())
        g.close()  # a no-op
        self.assertFalse(g.closed)

    def test_unknown_option(self):
        with self.assertRaises(TypeError):
            nhttps.request("https://127.0.0.1:1/", colour="blue")

    def test_other_threads_run_while_a_request_waits(self):
        gate = threading.Event()

        def slow(req, res):
            gate.wait(5)
            res.end(b"done")
        server = self.serve(slow)
        result = []
        t = threading.Thread(target=lambda: result.append(
            nhttps.get(url(server), ca=server.certificate_pem).read()))
        t.start()
        # The main thread keeps running Python while the client blocks.
        counter = 0
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            counter += 1
        gate.set()
        t.join(10)
        self.assertEqual(result, [b"done"])
        self.assertGreater(counter, 1000)


class ClientErrorsTest(ServerTestCase):
    def test_connection_refused(self):
        port = free_port()
        with self.assertRaises(nhttps.ConnectionRefusedError) as cm:
            nhttps.get("https://127.0.0.1:%d/" % port)
        e = cm.exception
        self.assertIsInstance(e, nhttps.Error)
        self.assertIsInstance(e, ConnectionRefusedError)  # the builtin too
        self.assertEqual(e.code, "NHTTPS_ERR_CONNECTION_REFUSED")
        self.assertEqual(e.result_name, e.code)
        self.assertEqual(e.result, 17)
        self.assertTrue(e.message)
        self.assertEqual(nhttps.result_name(17), "NHTTPS_ERR_CONNECTION_REFUSED")

    def test_self_signed_certificate_fails_verification(self):
        server = self.serve(info)
        with self.assertRaises(nhttps.CertificateVerifyError) as cm:
            nhttps.get(url(server))  # the system roots do not know the dev cert
        e = cm.exception
        self.assertEqual(e.code, "NHTTPS_ERR_CERTIFICATE_VERIFY")
        self.assertEqual(e.reason, "DEPTH_ZERO_SELF_SIGNED_CERT")
        self.assertIsInstance(e, nhttps.TLSError)
        # ...and works when told not to verify (tests only), or to trust it.
        r = nhttps.get(url(server), reject_unauthorized=False)
        self.assertEqual(r.status, 200)
        r.read()

    def test_host_name_mismatch(self):
        server = self.serve(info)
        with self.assertRaises(nhttps.CertificateVerifyError) as cm:
            nhttps.get(url(server), ca=server.certificate_pem, servername="example.com")
        self.assertEqual(cm.exception.reason, "ERR_TLS_CERT_ALTNAME_INVALID")

    def test_invalid_url(self):
        with self.assertRaises(nhttps.InvalidArgumentError) as cm:
            nhttps.get("ftp://example.com/")
        self.assertIsInstance(cm.exception, ValueError)

    def test_dns_error(self):
        with self.assertRaises(nhttps.DNSError):
            nhttps.get("https://nonexistent.invalid/", connect_timeout=5)

    def test_timeout(self):
        gate = threading.Event()

        def stuck(req, res):
            gate.wait(5)
            res.end()
        server = self.serve(stuck)
        try:
            with self.assertRaises(nhttps.TimeoutError) as cm:
                nhttps.get(url(server), ca=server.certificate_pem, timeout=0.3)
            self.assertIsInstance(cm.exception, TimeoutError)
        finally:
            gate.set()


if __name__ == "__main__":
    unittest.main()
