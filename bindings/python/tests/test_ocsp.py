"""OCSP stapling (`ocsp_response=`): a response made by `openssl ocsp` for
the test PKI's server certificate, given as bytes or as a file, read back
with `openssl s_client -status`."""

import os
import pathlib
import subprocess
import unittest

from helpers import Certificates, nhttps, openssl_available


@unittest.skipUnless(openssl_available(), "the openssl command is needed")
class OcspStaplingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Certificates()
        p = cls.pki.path
        serial = subprocess.run(
            ["openssl", "x509", "-in", p("server.crt"), "-noout", "-serial"],
            check=True, capture_output=True, text=True).stdout.strip().split("=")[1]
        cls.serial = serial
        # An OpenSSL CA index: status, expiry, revocation time, serial, file, subject.
        with open(p("index.txt"), "w") as f:
            f.write("V\t301231235959Z\t\t%s\tunknown\t/CN=localhost\n" % serial)
        subprocess.run(
            ["openssl", "ocsp", "-index", p("index.txt"), "-rsigner", p("ca.crt"),
             "-rkey", p("ca.key"), "-CA", p("ca.crt"), "-issuer", p("ca.crt"),
             "-cert", p("server.crt"), "-respout", p("server.ocsp.der"),
             "-ndays", "1", "-no_nonce"],
            check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def staple(self, ocsp_response):
        """What s_client -status sees from a server given `ocsp_response`."""
        p = self.pki.path
        server = nhttps.create_server(
            lambda req, res: res.end(b"ok"), key=p("server.key"),
            cert=p("server.crt"), ocsp_response=ocsp_response).listen(0)
        try:
            return subprocess.run(
                ["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.port,
                 "-status"], stdin=subprocess.DEVNULL, capture_output=True,
                text=True, timeout=30).stdout
        finally:
            server.close()

    def assert_good_staple(self, out):
        self.assertIn("OCSP Response Status: successful", out)
        self.assertIn("Cert Status: good", out)
        self.assertIn("Serial Number: " + self.serial, out)

    def test_bytes_are_the_response(self):
        self.assert_good_staple(self.staple(self.pki.read("server.ocsp.der")))

    def test_a_str_or_a_path_names_a_file(self):
        path = self.pki.path("server.ocsp.der")
        self.assert_good_staple(self.staple(path))
        self.assert_good_staple(self.staple(pathlib.Path(path)))

    def test_without_it_no_response_is_sent(self):
        self.assertIn("OCSP response: no response sent", self.staple(None))

    def test_bytes_that_are_not_a_response_raise_certificate_error(self):
        with self.assertRaises(nhttps.CertificateError) as caught:
            nhttps.create_server(dev_certificate=True, ocsp_response=b"garbage")
        self.assertIn("not a DER-encoded OCSP response", str(caught.exception))

    def test_a_missing_file_raises_io_error(self):
        with self.assertRaises(nhttps.IoError):
            nhttps.create_server(dev_certificate=True,
                                 ocsp_response=os.path.join(self.pki.dir, "missing.der"))


if __name__ == "__main__":
    unittest.main()
