"""nhttps.wsgi: PEP 3333 applications served over HTTPS, driven with
http.client, raw TLS sockets, curl and `python -m nhttps.wsgi`. The test
applications run inside wsgiref.validate's validator, whose warnings are
errors here: a server that breaks the PEP answers 500 and the test fails."""

import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import unittest
import warnings
from wsgiref.validate import WSGIWarning, validator

from helpers import (Certificates, PACKAGE_ROOT, nhttps, openssl_available, raw_tls,
                     read_until, unverified_context)
from nhttps import wsgi

warnings.simplefilter("error", WSGIWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
SHOWN = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
         "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH",
         "HTTP_X_DUP", "HTTP_X_SPOOF", "HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI",
         "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "wsgi.url_scheme",
         "wsgi.multithread", "wsgi.input_terminated")


def show_environ(environ, start_response):
    shown = {k: environ[k] for k in SHOWN if k in environ}
    shown["REMOTE_PORT"] = environ.get("REMOTE_PORT", "")
    shown["SSL_CLIENT_CERT"] = environ.get("SSL_CLIENT_CERT", "")[:27]
    body = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def digest_body(environ, start_response):
    """Reads the body in odd pieces; answers its length and sha256."""
    stream = environ["wsgi.input"]
    h, n = hashlib.sha256(), 0
    while True:
        piece = stream.read(7919)
        if not piece:
            break
        h.update(piece)
        n += len(piece)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %s" % (n, h.hexdigest())).encode()]


def lines_of_body(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    second = stream.readline(3)
    rest = stream.readlines()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr((first, second, rest)).encode()]


class Streamed:
    """A generator-like iterable that records its close()."""
    closed = threading.Event()

    def __init__(self, parts, fail_after=None):
        self.parts, self.fail_after = parts, fail_after

    def __iter__(self):
        for i, part in enumerate(self.parts):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("the application failed mid-body")
            yield part

    def close(self):
        Streamed.closed.set()


def routes(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Streamed([b"one ", b"two ", b"three"])
    if path == "/stream-fails":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Streamed([b"one ", b"two "], fail_after=1)
    if path == "/length":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return Streamed([b"01234", b"56789"])
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"then returned"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 100000), 4096)
    if path == "/cookies":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [b"two cookies"]
    if path == "/latin-1":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Disposition", 'attachment; filename="caf\u00e9.txt"')])
        return [b"latin-1"]
    if path == "/raise":
        raise RuntimeError("the application failed before its head")
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("changed its mind")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"later"]
    if path == "/reject":
        start_response("417 Expectation Failed", [("Content-Type", "text/plain")])
        return [b"no body wanted"]
    if path == "/upload":
        return digest_body(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def twice(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never"]


def bad_headers(environ, start_response):
    """A header the client must never see: its name or value is not what
    HTTP allows, or it is not a pair of str."""
    bad = {"/nul": ("X-A", "a\0X-Evil\0b"), "/crlf": ("X-A", "a\r\nX-Evil: 1"),
           "/bytes": ("X-A", b"a"), "/three": ("X-A", "a", "b"), "/name": ("X A", "a")}
    start_response("200 OK", [("Content-Type", "text/plain"), bad[environ["PATH_INFO"]]])
    return [b"never"]


def not_iterable(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return 42


def fetch(port, method, path, body=None, headers=None):
    """One request on a new connection to 127.0.0.1:`port`: (response, body)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=unverified_context(),
                                       timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r, data


class WSGITestCase(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.close()

    def serve(self, app, validate=True, **options):
        errors = options.pop("errors", io.StringIO())
        server = wsgi.serve(validator(app) if validate else app, "127.0.0.1", 0,
                            dev_certificate=options.pop("dev_certificate", True),
                            errors=errors, **options)
        self.servers.append(server)
        return server

    def connect(self, server):
        return http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=unverified_context(), timeout=30)

    def request(self, server, method, path, body=None, headers=None):
        return fetch(server.port, method, path, body, headers)


class EnvironTest(WSGITestCase):
    def test_the_environ_has_what_pep_3333_and_mod_ssl_name(self):
        server = self.serve(show_environ)
        r, data = self.request(server, "POST", "/caf%C3%A9/x%2Fy?q=1&r=%20", b"{}",
                               {"Content-Type": "application/json", "Host": "example.test:8443",
                                "X-Dup": "a"})
        self.assertEqual(r.status, 200)
        env = json.loads(data)
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["SCRIPT_NAME"], "")
        # Percent-decoded, then latin-1 (PEP 3333): UTF-8 bytes as code points.
        self.assertEqual(env["PATH_INFO"], "/caf\u00c3\u00a9/x/y")
        self.assertEqual(env["QUERY_STRING"], "q=1&r=%20")
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("example.test", "8443"))
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertTrue(env["REMOTE_PORT"].isdigit())
        self.assertEqual((env["CONTENT_TYPE"], env["CONTENT_LENGTH"]), ("application/json", "2"))
        self.assertEqual((env["HTTPS"], env["wsgi.url_scheme"]), ("on", "https"))
        self.assertEqual(env["SSL_PROTOCOL"], "TLSv1.3")
        self.assertTrue(env["SSL_CIPHER"])
        self.assertEqual(env["SSL_CLIENT_VERIFY"], "NONE")
        self.assertIs(env["wsgi.multithread"], True)
        self.assertIs(env["wsgi.input_terminated"], True)

    def test_repeated_headers_are_joined_and_underscored_names_dropped(self):
        server = self.serve(show_environ)
        conn = self.connect(server)
        conn.putrequest("GET", "/")
        conn.putheader("X-Dup", "a")
        conn.putheader("X-Dup", "b")
        conn.putheader("X_Spoof", "evil")
        conn.endheaders()
        env = json.loads(conn.getresponse().read())
        conn.close()
        self.assertEqual(env["HTTP_X_DUP"], "a, b")
        self.assertNotIn("HTTP_X_SPOOF", env)

    def test_a_query_that_holds_a_url_leaves_the_path_alone(self):
        server = self.serve(show_environ)
        r, data = self.request(server, "GET", "/login?next=https://example.test/account")
        env = json.loads(data)
        self.assertEqual(env["PATH_INFO"], "/login")
        self.assertEqual(env["QUERY_STRING"], "next=https://example.test/account")

    def test_an_absolute_form_target_gives_its_path(self):
        server = self.serve(show_environ)
        for target, path in (("https://example.test/a%2Fb?x=1", "/a/b"),
                             ("https://example.test", "/"),
                             ("https://example.test?x=1", "/"),
                             ("https://example.test?x=/y", "/"),
                             ("https://example.test/a?x=https://y/z", "/a")):
            r, data = self.request(server, "GET", target)
            self.assertEqual(json.loads(data)["PATH_INFO"], path, target)

    def test_the_calls_into_nhttps_are_made_from_c_unless_pure_python_is_asked(self):
        if os.environ.get("NHTTPS_PURE_PYTHON"):
            self.assertIs(wsgi._calls, wsgi._CtypesCalls)
        else:
            self.assertIsNotNone(wsgi._speedups, "nhttps._speedups is not built")
            self.assertIs(wsgi._calls, wsgi._speedups)

    def test_the_server_name_is_the_host_header_of_an_ipv6_address_too(self):
        server = self.serve(show_environ)
        r, data = self.request(server, "GET", "/", headers={"Host": "[::1]:9443"})
        env = json.loads(data)
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("::1", "9443"))


class BodyTest(WSGITestCase):
    def test_a_body_with_a_length_is_read_whole(self):
        server = self.serve(digest_body)
        body = os.urandom(300000)
        r, data = self.request(server, "PUT", "/", body)
        self.assertEqual(data.decode(), "%d %s" % (len(body), hashlib.sha256(body).hexdigest()))

    def test_a_chunked_body_is_read_whole(self):
        server = self.serve(digest_body)
        parts = [os.urandom(n) for n in (1, 5000, 70000, 3)]
        # An iterable without a length: http.client sends it chunked.
        r, data = self.request(server, "POST", "/", iter(parts))
        self.assertEqual(r.status, 200)
        whole = b"".join(parts)
        self.assertEqual(data.decode(), "%d %s" % (len(whole), hashlib.sha256(whole).hexdigest()))

    def test_readline_and_readlines(self):
        server = self.serve(lines_of_body)
        r, data = self.request(server, "POST", "/", b"first\nsecond\nthird\nlast")
        self.assertEqual(data.decode(), repr((b"first\n", b"sec", [b"ond\n", b"third\n", b"last"])))

    def test_100_continue_goes_out_when_the_application_reads(self):
        server = self.serve(routes)
        sock = raw_tls(server, unverified_context())
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        self.assertEqual(read_until(sock, b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        answer = read_until(sock, hashlib.sha256(b"hello").hexdigest().encode())
        sock.close()
        self.assertIn(b"HTTP/1.1 200 OK\r\n", answer)

    def test_an_application_that_does_not_read_gets_no_100_and_the_connection_closes(self):
        server = self.serve(routes)
        sock = raw_tls(server, unverified_context())
        sock.sendall(b"POST /reject HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 417 Expectation Failed\r\n"), answer)
        self.assertIn(b"\r\nConnection: close\r\n", answer)
        self.assertNotIn(b"100 Continue", answer)


class ResponseTest(WSGITestCase):
    def test_one_string_goes_out_with_its_length(self):
        # Without the validator, whose wrapper hides the list.
        server = self.serve(routes, validate=False)
        r, data = self.request(server, "GET", "/")
        self.assertEqual((r.status, data), (200, b"hello"))
        self.assertEqual(r.getheader("Content-Length"), "5")

    def test_an_iterable_is_chunked_and_closed(self):
        Streamed.closed.clear()
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/stream")
        self.assertEqual(data, b"one two three")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertTrue(Streamed.closed.wait(5))

    def test_the_applications_content_length_is_kept(self):
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/length")
        self.assertEqual((data, r.getheader("Content-Length")), (b"0123456789", "10"))
        self.assertIsNone(r.getheader("Transfer-Encoding"))

    def test_the_write_callable_and_the_iterable_both_send(self):
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/write")
        self.assertEqual(data, b"written then returned")

    def test_file_wrapper_sends_the_file(self):
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/file")
        self.assertEqual(data, b"x" * 100000)

    def test_a_latin_1_header_value_goes_out_in_latin_1(self):
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/latin-1")  # http.client reads Latin-1
        self.assertEqual((r.status, r.getheader("Content-Disposition"), data),
                         (200, 'attachment; filename="caf\u00e9.txt"', b"latin-1"))

    def test_repeated_response_headers_are_all_sent(self):
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/cookies")
        self.assertEqual(r.headers.get_all("Set-Cookie"), ["a=1", "b=2"])

    def test_head_gets_the_length_and_no_body(self):
        server = self.serve(routes, validate=False)
        r, data = self.request(server, "HEAD", "/")
        self.assertEqual((r.status, data, r.getheader("Content-Length")), (200, b"", "5"))

    def test_start_response_with_exc_info_before_the_head_replaces_it(self):
        server = self.serve(routes)
        r, data = self.request(server, "GET", "/exc-info")
        self.assertEqual((r.status, data), (503, b"later"))


class FailureTest(WSGITestCase):
    def assert_500_and_still_serving(self, app, path="/"):
        errors = io.StringIO()
        server = self.serve(app, validate=False, errors=errors)
        r, data = self.request(server, "GET", path)
        self.assertEqual(r.status, 500)
        self.assertIn("Traceback", errors.getvalue())
        r, data = self.request(server, "GET", "/")
        self.assertEqual(r.status, 500)  # the same app, still answered

    def test_an_exception_before_the_head_is_a_500_with_its_traceback(self):
        errors = io.StringIO()
        server = self.serve(routes, errors=errors)
        r, data = self.request(server, "GET", "/raise")
        self.assertEqual((r.status, data), (500, b"Internal Server Error\n"))
        self.assertIn("the application failed before its head", errors.getvalue())
        r, data = self.request(server, "GET", "/")
        self.assertEqual((r.status, data), (200, b"hello"))

    def test_start_response_twice_is_a_500(self):
        self.assert_500_and_still_serving(twice)

    def test_a_header_that_is_not_a_valid_str_pair_is_a_500(self):
        for path in ("/nul", "/crlf", "/bytes", "/three", "/name"):
            with self.subTest(path=path):
                errors = io.StringIO()
                server = self.serve(bad_headers, validate=False, errors=errors)
                r, data = self.request(server, "GET", path)
                self.assertEqual((r.status, r.reason, r.getheader("X-Evil"), data),
                                 (500, "Internal Server Error", None, b"Internal Server Error\n"))
                self.assertIn("Traceback", errors.getvalue())

    def test_a_non_iterable_result_is_a_500(self):
        self.assert_500_and_still_serving(not_iterable)

    def test_an_exception_after_the_head_cuts_the_response_and_closes(self):
        errors = io.StringIO()
        server = self.serve(routes, errors=errors)
        conn = self.connect(server)
        conn.request("GET", "/stream-fails")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        conn.close()
        self.assertIn("the application failed mid-body", errors.getvalue())


@unittest.skipUnless(openssl_available(), "the openssl command is needed")
class ThreadsTest(WSGITestCase):
    def test_an_application_waiting_does_not_hold_up_the_next_request(self):
        # /wait returns once /release has been served: with one thread
        # running the application they would wait for each other.
        released = threading.Event()

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/wait":
                released.wait(30)
            else:
                released.set()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"released" if released.is_set() else b"timed out"]

        server = self.serve(app, threads=2)
        waiting = {}
        thread = threading.Thread(
            target=lambda: waiting.update(result=self.request(server, "GET", "/wait")))
        thread.start()
        r, data = self.request(server, "GET", "/release")
        thread.join()
        self.assertEqual((r.status, data), (200, b"released"))
        self.assertEqual(waiting["result"][1], b"released")

    def test_close_ends_the_threads_that_take_requests(self):
        server = self.serve(routes)
        self.request(server, "GET", "/")
        takers = [t for t in threading.enumerate() if t.name == "nhttps-taker"]
        self.assertEqual(len(takers), 8)
        server.close()
        for taker in takers:
            taker.join(5)
            self.assertFalse(taker.is_alive())


class ClientCertificateTest(WSGITestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Certificates()

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def test_a_client_certificate_is_in_the_environ(self):
        p = self.pki.path
        server = self.serve(show_environ, dev_certificate=False, key=p("server.key"),
                            cert=p("server.crt"), ca=p("ca.crt"), request_cert=True,
                            reject_unauthorized=False)
        seen = {}
        for who in ("alice", "mallory"):
            r = nhttps.get("https://localhost:%d/" % server.port, ca=p("ca.crt"),
                           cert=p(who + ".crt"), key=p(who + ".key"), agent=False)
            seen[who] = json.loads(r.read())
        alice, mallory = seen["alice"], seen["mallory"]
        self.assertEqual(alice["SSL_CLIENT_VERIFY"], "SUCCESS")
        # As mod_ssl gives them (RFC 2253): the most specific part first.
        self.assertEqual(alice["SSL_CLIENT_S_DN"], "O=Example,CN=alice")
        self.assertEqual(alice["SSL_CLIENT_I_DN"], "CN=nhttps test CA")
        self.assertEqual(alice["SSL_TLS_SNI"], "localhost")
        self.assertEqual(alice["SSL_CLIENT_CERT"], "-----BEGIN CERTIFICATE-----")
        self.assertTrue(mallory["SSL_CLIENT_VERIFY"].startswith("FAILED:"), mallory)
        self.assertEqual(mallory["SSL_CLIENT_S_DN"], "CN=mallory")


def require_module(test, name):
    """Imports `name`, or skips `test` loudly — fails under CI=true, where
    .ci/run installs it."""
    try:
        return __import__(name)
    except ImportError:
        if os.environ.get("CI") == "true":
            test.fail("%s is not installed (CI=true: .ci/run installs it)" % name)
        test.skipTest("*** SKIPPED: %s is not installed ***" % name)


class ServedProcess:
    """`python -m nhttps.wsgi SPEC ARGS...` in the background, its port read
    from its first line."""

    def __init__(self, spec, *args):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_ROOT, HERE]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nhttps.wsgi", spec, "--port", "0", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_line = self.proc.stdout.readline()
        self.url = self.first_line.split()[-1] if self.first_line else ""
        self.port = int(self.url.rsplit(":", 1)[1].strip("/")) if self.url else 0

    def get(self, path, method="GET", body=None, headers=None):
        return fetch(self.port, method, path, body, headers)

    def peak_rss_kib(self):
        """The server process's peak resident memory (VmHWM)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        """SIGTERM; (exit status, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


class ServedAppTestCase(unittest.TestCase):
    """An application of `MODULE` (needing `SPEC`) served by the command
    for each test, which must exit 0 on SIGTERM afterwards."""
    MODULE = SPEC = None

    def setUp(self):
        require_module(self, self.MODULE)
        self.served = ServedProcess(self.SPEC, "--dev-certificate")
        self.assertTrue(self.served.first_line.startswith("listening on https://"),
                        self.served.first_line)

    def tearDown(self):
        code, err = self.served.stop()
        self.assertEqual(code, 0, err)


class FlaskTest(ServedAppTestCase):
    MODULE, SPEC = "flask", "flask_app:app"

    def test_routes_query_strings_and_json(self):
        r, data = self.served.get("/hello/world")
        self.assertEqual((r.status, data), (200, b"hello world"))
        r, data = self.served.get("/query?a=1&b=2&a=3")
        self.assertEqual(json.loads(data), [["a", "1"], ["a", "3"], ["b", "2"]])
        r, data = self.served.get("/json", "POST", json.dumps({"x": [1, 2]}),
                                  {"Content-Type": "application/json"})
        self.assertEqual(json.loads(data), {"got": {"x": [1, 2]}, "scheme": "https"})
        r, data = self.served.get("/missing")
        self.assertEqual(r.status, 404)

    def test_a_streamed_response_is_chunked(self):
        r, data = self.served.get("/stream")
        self.assertEqual(data, b"part 0\npart 1\npart 2\n")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")

    def test_a_20_mb_multipart_upload_from_curl_keeps_memory_flat(self):
        if not shutil.which("curl"):
            self.skipTest("*** SKIPPED: curl is not installed ***")
        self.served.get("/hello/warm")
        peak_before = self.served.peak_rss_kib()
        path = os.path.join(HERE, "upload-%d.bin" % os.getpid())
        data = os.urandom(20 * 1024 * 1024)
        with open(path, "wb") as f:
            f.write(data)
        try:
            out = subprocess.run(["curl", "-sS", "--insecure", "-F", "file=@%s" % path,
                                  self.served.url + "upload"],
                                 capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(path)
        self.assertEqual(out.stdout, "%s %d %s" % (os.path.basename(path), len(data),
                                                    hashlib.sha256(data).hexdigest()))
        # The body streams through (werkzeug spools the file to disk).
        growth = self.served.peak_rss_kib() - peak_before
        self.assertLess(growth, 8 * 1024, "peak RSS grew by %d KiB" % growth)


class DjangoTest(ServedAppTestCase):
    MODULE, SPEC = "django", "django_app:application"

    def test_csrf_over_https(self):
        r, token = self.served.get("/form")
        cookie = r.getheader("Set-Cookie")
        self.assertIn("csrftoken=", cookie)
        self.assertIn("Secure", cookie)
        origin = "https://127.0.0.1:%d" % self.served.port
        form = {"Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie.split(";")[0], "Origin": origin}
        r, data = self.served.get("/submit", "POST", "name=alice",
                                  dict(form, **{"X-CSRFToken": token.decode()}))
        self.assertEqual((r.status, json.loads(data)), (200, {"secure": True, "name": "alice"}))
        r, data = self.served.get("/submit", "POST", "name=mallory", form)
        self.assertEqual(r.status, 403)


@unittest.skipUnless(openssl_available(), "the openssl command is needed")
class RequestCertTest(unittest.TestCase):
    def test_a_view_reads_the_client_certificate_under_request_cert(self):
        require_module(self, "flask")
        pki = Certificates()
        p = pki.path
        served = ServedProcess("flask_app:app", "--cert", p("server.crt"), "--key",
                               p("server.key"), "--ca", p("ca.crt"), "--request-cert")
        try:
            r = nhttps.get("https://localhost:%d/whoami" % served.port, ca=p("ca.crt"),
                           cert=p("alice.crt"), key=p("alice.key"), agent=False)
            alice = r.read().decode()
            r = nhttps.get("https://localhost:%d/whoami" % served.port, ca=p("ca.crt"),
                           agent=False)
            anonymous = r.read().decode()
        finally:
            code, err = served.stop()
            pki.cleanup()
        self.assertEqual(code, 0, err)
        self.assertIn("CN=alice", alice)
        self.assertEqual(anonymous, "nobody")


class CommandLineTest(unittest.TestCase):
    def test_serves_an_app_named_module_colon_app_and_exits_0_on_sigterm(self):
        served = ServedProcess("test_wsgi:routes", "--dev-certificate", "--access-log")
        try:
            self.assertRegex(served.first_line, r"^listening on https://127\.0\.0\.1:\d+/\n$")
            if shutil.which("curl"):
                out = subprocess.run(["curl", "-sS", "--insecure", served.url + "stream"],
                                     capture_output=True, text=True, timeout=30)
                self.assertEqual(out.stdout, "one two three")
            r, data = served.get("/")
            self.assertEqual(data, b"hello")
        finally:
            code, err = served.stop()
        self.assertEqual(code, 0, err)
        self.assertIn('"GET / HTTP/1.1" 200 5', err)

    def test_without_a_certificate_it_says_what_to_give(self):
        env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
        out = subprocess.run([sys.executable, "-m", "nhttps.wsgi", "os:getcwd"],
                             env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--dev-certificate", out.stderr)


if __name__ == "__main__":
    unittest.main()
