"""What the Python and Ruby bindings agree on, with each other and with the
C library: durations in seconds, ``code`` the result's name and ``result``
its number, a class per result code named alike in both, and the host a
server listens on by default (every address, as in Node).
bindings/ruby/test/test_bindings_agree.rb states the same for Ruby."""

import os
import re
import socket
import sys
import threading
import time
import unittest

from helpers import ServerTestCase, nhttps, raw_tls, read_response, trusting_context, url
from nhttps import errors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def header_results():
    """{number: "NHTTPS_ERR_..."}: every error code of include/nhttps.h."""
    return {int(number): name for name, number
            in re.findall(r"\b(NHTTPS_ERR_\w+) = (\d+)", read("include", "nhttps.h"))}


def hello(req, res):
    res.end(b"hello\n")


class ErrorClassTest(unittest.TestCase):
    def test_each_result_code_has_its_own_error_class(self):
        results = header_results()
        self.assertTrue(results)
        classes = set()
        for number, name in results.items():
            e = errors.error_for(number, "detail")
            self.assertIsNot(type(e), nhttps.Error, name)
            self.assertIsInstance(e, nhttps.Error)
            self.assertIs(getattr(nhttps, type(e).__name__), type(e))
            self.assertEqual((e.code, e.result), (name, number))
            classes.add(type(e))
        self.assertEqual(len(classes), len(results))

    def test_the_ruby_binding_names_its_error_classes_alike(self):
        ruby = {"NHTTPS_" + code: cls for code, cls in re.findall(
            r"Result::(ERR_\w+) => (\w+)", read("bindings", "ruby", "lib", "nhttps", "error.rb"))}
        python = {name: type(errors.error_for(number, "")).__name__
                  for number, name in header_results().items()}
        self.assertEqual(ruby, python)

    def test_code_is_the_result_name_and_result_its_number(self):
        with self.assertRaises(nhttps.InvalidArgumentError) as cm:
            nhttps.get("ftp://example.com/")
        e = cm.exception
        self.assertEqual(e.code, "NHTTPS_ERR_INVALID_ARGUMENT")
        self.assertEqual(e.result_name, e.code)
        self.assertEqual(e.result, 2)
        self.assertTrue(e.message)
        self.assertEqual(str(e), "NHTTPS_ERR_INVALID_ARGUMENT: " + e.message)


class DurationTest(ServerTestCase):
    def test_timeouts_are_seconds(self):
        server = self.serve(hello, keep_alive_timeout=0.2)
        sock = raw_tls(server)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(sock)[0], 200)
        idle = time.monotonic()
        self.assertEqual(sock.recv(1), b"")  # the server closed the idle connection
        self.assertLess(time.monotonic() - idle, 5)
        sock.close()

        gate = threading.Event()
        stuck = self.serve(lambda req, res: (gate.wait(5), res.end()))
        try:
            started = time.monotonic()
            with self.assertRaises(nhttps.TimeoutError):
                nhttps.get(url(stuck), ca=stuck.certificate_pem, timeout=0.3)
            self.assertLess(time.monotonic() - started, 4)
        finally:
            gate.set()

    def test_a_negative_duration_is_refused(self):
        with self.assertRaises(ValueError):
            nhttps.create_server(dev_certificate=True, keep_alive_timeout=-1)
        with self.assertRaises(ValueError):
            nhttps.Agent(free_socket_timeout=-0.5)
        with self.assertRaises(ValueError):
            nhttps.get("https://127.0.0.1:1/", connect_timeout=-1)


class DefaultHostTest(ServerTestCase):
    def serve_on_the_default_host(self):
        server = nhttps.create_server(hello, dev_certificate=True).listen(0)
        self._servers.append(server)
        return server

    @unittest.skipUnless(sys.platform.startswith("linux"), "127.0.0.2 is a loopback address on Linux")
    def test_a_server_listens_on_every_address_by_default(self):
        server = self.serve_on_the_default_host()
        for address in ("127.0.0.2", "127.0.0.1"):
            with socket.create_connection((address, server.port), timeout=10) as raw:
                sock = trusting_context(server).wrap_socket(raw, server_hostname="localhost")
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertEqual(read_response(sock)[2], b"hello\n", address)
                sock.close()

    def test_a_client_goes_to_localhost_by_default(self):
        server = self.serve_on_the_default_host()
        with nhttps.get({"port": server.port}, ca=server.certificate_pem) as r:
            self.assertEqual(r.read(), b"hello\n")


if __name__ == "__main__":
    unittest.main()
