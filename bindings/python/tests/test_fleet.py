"""A server as one of several processes (issue 17): SO_REUSEPORT, a socket
the program already has, the PROXY protocol, and the counters."""

import socket
import unittest

from helpers import dev_server, nhttps, read_response, unverified_context


def answer_remote(req, res):
    info = req.socket
    res.end("%s:%d" % (info.remote_address, info.remote_port))


def get(port, header=b""):
    """GET / on 127.0.0.1:`port`, after `header` (raw, before TLS)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(header)
    tls = unverified_context().wrap_socket(sock, server_hostname="localhost")
    with tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return read_response(tls)


class FleetTest(unittest.TestCase):
    def test_stats_count_what_was_served(self):
        with dev_server(lambda req, res: res.end("ok")) as server:
            for _ in range(3):
                self.assertEqual(get(server.port)[0], 200)
            stats = server.stats()
        self.assertEqual(stats["accepted"], 3)
        self.assertEqual(stats["requests"], 3)
        self.assertEqual(stats["handshake_failures"], 0)
        self.assertGreater(stats["bytes_out"], stats["bytes_in"] // 10)
        self.assertEqual(set(stats), {"accepted", "open", "idle", "handshake_failures",
                                      "requests", "bytes_in", "bytes_out", "client_errors"})

    def test_two_servers_share_a_port_with_reuse_port(self):
        with dev_server(lambda req, res: res.end("a"), reuse_port=True) as first:
            second = nhttps.create_server(lambda req, res: res.end("b"),
                                          dev_certificate=True, reuse_port=True)
            with second:
                second.listen(first.port, "127.0.0.1")
                bodies = {get(first.port)[2] for _ in range(30)}
        self.assertEqual(bodies, {b"a", b"b"})

    def test_listen_takes_a_socket_the_program_has(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        server = nhttps.create_server(lambda req, res: res.end("ok"), dev_certificate=True)
        with server:
            server.listen(fd=sock.detach())
            self.assertEqual(server.port, port)
            self.assertEqual(get(port)[2], b"ok")

    def test_the_wsgi_server_listens_on_a_socket_the_program_has(self):
        from nhttps import wsgi

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"wsgi on fd"]

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        with wsgi.serve(app, fd=sock.detach(), dev_certificate=True) as server:
            self.assertEqual(server.port, port)
            self.assertEqual(get(port)[2], b"wsgi on fd")

    def test_proxy_protocol_gives_the_clients_address(self):
        with dev_server(answer_remote, proxy_protocol=True) as server:
            _, _, body = get(server.port, b"PROXY TCP4 203.0.113.9 192.0.2.1 4711 443\r\n")
        self.assertEqual(body, b"203.0.113.9:4711")


if __name__ == "__main__":
    unittest.main()
