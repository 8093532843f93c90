"""Shared helpers for the nhttps binding tests (standard library only)."""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # bindings/python
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)

import nhttps  # noqa: E402


def dev_server(handler=None, **options):
    """A listening server with the development certificate."""
    server = nhttps.create_server(handler, dev_certificate=True, **options)
    server.listen(0, "127.0.0.1")
    return server


def trusting_context(server):
    """An ssl context that trusts `server`'s certificate (and checks the name)."""
    return ssl.create_default_context(cadata=server.certificate_pem)


def unverified_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def url(server, path="/"):
    return "https://127.0.0.1:%d%s" % (server.port, path)


def raw_tls(server, context=None, timeout=10):
    """A TLS socket to `server` for hand-written HTTP."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    ctx = context or trusting_context(server)
    return ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def read_until(sock, marker):
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock):
    """Reads one response with a Content-Length body from a raw socket:
    (status, headers dict lowercase, body)."""
    data = read_until(sock, b"\r\n\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def openssl_available():
    return shutil.which("openssl") is not None


class Certificates:
    """A throwaway PKI made with the openssl CLI: a CA, a server certificate
    for localhost/127.0.0.1, a client certificate it signed ("alice"), a
    self-signed client certificate nobody trusts ("mallory"), and the server
    key encrypted with a passphrase."""

    PASSPHRASE = "s3cret"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="nhttps-py-certs-")
        p = self.path
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", p("ca.key"), "-out",
                      p("ca.crt"), "-subj", "/CN=nhttps test CA", "-days", "2")
        self._signed("server", "/CN=localhost",
                     "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                     "extendedKeyUsage=serverAuth\n")
        self._signed("alice", "/CN=alice/O=Example",
                     "extendedKeyUsage=clientAuth\n")
        self._openssl("req", "-x509", *ec, "-keyout", p("mallory.key"), "-out",
                      p("mallory.crt"), "-subj", "/CN=mallory", "-days", "2")
        self._openssl("pkey", "-in", p("server.key"), "-out", p("server.enc.key"),
                      "-aes-256-cbc", "-passout", "pass:" + self.PASSPHRASE)

    def path(self, name):
        return os.path.join(self.dir, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def _signed(self, name, subject, extensions):
        p = self.path
        with open(p(name + ".ext"), "w") as f:
            f.write(extensions)
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", p(name + ".key"), "-out", p(name + ".csr"),
                      "-subj", subject)
        self._openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"),
                      "-CAkey", p("ca.key"), "-CAcreateserial", "-out",
                      p(name + ".crt"), "-days", "2", "-extfile", p(name + ".ext"))

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class ServerTestCase(unittest.TestCase):
    """Closes the servers a test made, even when it fails."""

    def setUp(self):
        self._servers = []

    def tearDown(self):
        for server in self._servers:
            server.close()

    def serve(self, handler=None, **options):
        server = dev_server(handler, **options)
        self._servers.append(server)
        return server
