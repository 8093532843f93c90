"""Client certificates (requestCert / rejectUnauthorized) with a PKI made by
the openssl CLI, and the key/cert/ca "PEM or path" rule."""

import http.client
import pathlib
import ssl
import time
import unittest

from helpers import Certificates, nhttps, openssl_available


def whoami(req, res):
    s = req.socket
    cert = s.peer_certificate
    res.end(("%s|%s|%s|%s|%s" % (
        s.authorized, s.authorization_error, s.peer_common_name,
        cert.subject if cert else None, cert.issuer if cert else None)).encode())


@unittest.skipUnless(openssl_available(), "the openssl command is needed")
class ClientCertificateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Certificates()
        p = cls.pki.path
        # Files (str paths) for the strict server, PEM bytes for the lenient one.
        cls.strict = nhttps.create_server(
            whoami, key=p("server.key"), cert=p("server.crt"), ca=p("ca.crt"),
            request_cert=True, reject_unauthorized=True).listen(0)
        cls.lenient = nhttps.create_server(
            whoami, key=cls.pki.read("server.key"), cert=cls.pki.read("server.crt"),
            ca=[cls.pki.read("ca.crt").decode()], request_cert=True,
            reject_unauthorized=False).listen(0)

    @classmethod
    def tearDownClass(cls):
        cls.strict.close()
        cls.lenient.close()
        cls.pki.cleanup()

    def get(self, server, who=None, **kw):
        p = self.pki.path
        if who:
            kw.update(cert=p(who + ".crt"), key=p(who + ".key"))
        return nhttps.get("https://localhost:%d/" % server.port, ca=p("ca.crt"),
                          agent=False, **kw)

    def test_trusted_client_certificate_is_authorized(self):
        r = self.get(self.strict, "alice")
        self.assertEqual(r.status, 200)
        authorized, error, cn, subject, issuer = r.read().decode().split("|")
        self.assertEqual((authorized, error, cn), ("True", "None", "alice"))
        self.assertIn("CN=alice", subject)
        self.assertIn("nhttps test CA", issuer)

    def test_untrusted_client_certificate_is_rejected(self):
        errors = []

        def on_tls_error(err, info):
            errors.append(err)
        self.strict.on("tlsClientError", on_tls_error)
        try:
            with self.assertRaises(nhttps.Error) as cm:
                self.get(self.strict, "mallory").read()
            self.assertTrue(cm.exception.code.startswith("NHTTPS_ERR_"))
            deadline = time.monotonic() + 5
            while not errors and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertIsInstance(errors[0], nhttps.TLSHandshakeError)
        finally:
            self.strict.off("tlsClientError", on_tls_error)
        # The server keeps serving trusted clients.
        self.assertEqual(self.get(self.strict, "alice").status, 200)

    def test_missing_client_certificate_is_rejected(self):
        with self.assertRaises(nhttps.Error):
            self.get(self.strict).read()

    def test_lenient_server_reports_why(self):
        r = self.get(self.lenient, "mallory")
        authorized, error, cn, _, _ = r.read().decode().split("|")
        self.assertEqual((authorized, error, cn),
                         ("False", "DEPTH_ZERO_SELF_SIGNED_CERT", "mallory"))
        r = self.get(self.lenient)
        authorized, error, cn, _, _ = r.read().decode().split("|")
        self.assertEqual((authorized, error, cn),
                         ("False", "UNABLE_TO_GET_ISSUER_CERT", "None"))
        r = self.get(self.lenient, "alice")
        self.assertTrue(r.read().startswith(b"True|None|alice"))

    def test_client_material_as_pem_bytes_str_and_path(self):
        pki = self.pki
        for cert, key in ((pki.read("alice.crt"), pki.read("alice.key")),
                          (pki.read("alice.crt").decode(), pki.read("alice.key").decode()),
                          (pathlib.Path(pki.path("alice.crt")),
                           pathlib.Path(pki.path("alice.key")))):
            r = nhttps.get("https://localhost:%d/" % self.strict.port, cert=cert,
                           key=key, ca=pathlib.Path(pki.path("ca.crt")), agent=False)
            self.assertTrue(r.read().startswith(b"True|"))

    def test_python_ssl_client_with_certificate(self):
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.crt"))
        ctx.load_cert_chain(self.pki.path("alice.crt"), self.pki.path("alice.key"))
        conn = http.client.HTTPSConnection("localhost", self.strict.port, context=ctx,
                                           timeout=10)
        conn.request("GET", "/")
        self.assertTrue(conn.getresponse().read().startswith(b"True|None|alice"))
        conn.close()

    def test_passphrase(self):
        p = self.pki.path
        server = nhttps.create_server(whoami, key=p("server.enc.key"), cert=p("server.crt"),
                                      passphrase=Certificates.PASSPHRASE)
        server.close()
        with self.assertRaises(nhttps.PassphraseError) as cm:
            nhttps.create_server(key=p("server.enc.key"), cert=p("server.crt"),
                                 passphrase="wrong")
        self.assertEqual(cm.exception.code, "NHTTPS_ERR_PASSPHRASE")

    def test_key_certificate_mismatch(self):
        p = self.pki.path
        with self.assertRaises(nhttps.CertificateError) as cm:
            nhttps.create_server(key=p("alice.key"), cert=p("server.crt"))
        self.assertIn("does not match", cm.exception.message)


if __name__ == "__main__":
    unittest.main()
