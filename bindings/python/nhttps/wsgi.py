"""Serve a WSGI application (PEP 3333) over HTTPS with nhttps.

From the command line::

    python -m nhttps.wsgi MODULE:APP [--host ADDR] [--port N]
        [--cert FILE --key FILE [--passphrase P]] [--ca FILE]
        [--request-cert] [--reject-unauthorized] [--dev-certificate]
        [--access-log]

serves the WSGI callable APP of MODULE (imported with the current directory
on ``sys.path``; ``MODULE`` alone means ``MODULE:application``). Port 8443
by default, 0 for one the system picks; the first line on stdout, once it
accepts, is ``listening on https://HOST:PORT/``. SIGINT and SIGTERM close
the server gracefully (requests in flight finish) and exit 0.

From Python::

    server = nhttps.wsgi.serve(app, host="127.0.0.1", port=8443,
                               cert="cert.pem", key="key.pem")
    ...
    server.close()

nhttps's threads do TLS and HTTP; the application runs on ``threads``
Python threads (8 by default; ``wsgi.multithread`` is True) that take the
requests from nhttps's queue, one after another while there are some,
without the GIL changing hands between nhttps's threads and Python's. A
response's last bytes (up to 16 KiB) are sent by nhttps's threads, so the
thread that runs the application goes on to its next request meanwhile.
The command line also runs every thread of the process under Linux's
``SCHED_BATCH`` policy: a thread woken does not preempt the one running,
so requests are taken and answered in batches (throughput first; a
request can wait up to a scheduler tick longer). ``serve`` leaves the
calling program's scheduling alone. The environ has every key PEP
3333 requires, ``REMOTE_ADDR``/``REMOTE_PORT``, ``REQUEST_URI``, and the TLS
facts under Apache mod_ssl's names: ``HTTPS`` ("on"), ``SSL_PROTOCOL``,
``SSL_CIPHER``, ``SSL_TLS_SNI``, ``SSL_CLIENT_VERIFY`` ("SUCCESS",
"FAILED:reason" or "NONE"), and with a client certificate
``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN`` (RFC 2253, as mod_ssl: "CN=alice,O=Example"),
``SSL_CLIENT_M_SERIAL`` (hex) and ``SSL_CLIENT_CERT`` (PEM). Request
header names with an underscore are not passed (they would pose as others
in the environ: ``X_Forwarded_For`` as ``X-Forwarded-For``).

``wsgi.input`` streams the body as the application reads it (chunked
bodies too: ``wsgi.input_terminated`` is True); a request that sent
``Expect: 100-continue`` gets ``100 Continue`` only when the application
first reads the body — one that answers without reading it closes the
connection after the response. The response keeps the application's
Content-Length; without one, a body given as a single string goes out with
its length and any other is chunked. An exception before the head is sent
is answered ``500`` with its traceback on ``wsgi.errors``; after it, the
response is cut short and the connection closed, so the client cannot
take a partial body for a whole one.
"""

import argparse
import ctypes
import functools
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from itertools import chain
from urllib.parse import unquote_to_bytes

from . import _lib
from ._common import header_bytes, read_body
from .errors import check, state_error
from .server import create_server

fn = _lib.fn

__all__ = ["serve", "WSGIServer", "FileWrapper", "main"]

# The calls a request makes into libnhttps: nhttps._speedups (C) when it was
# built and NHTTPS_PURE_PYTHON is not set, else _CtypesCalls, its twin.
_speedups = None
if not os.environ.get("NHTTPS_PURE_PYTHON"):
    try:
        from . import _speedups
    except ImportError:
        pass

_READ_SIZE = 64 * 1024
# Each thread's out-parameters for nhttps_incoming_message_cgi_variables.
_per_thread = threading.local()
# Variables of nhttps's block that are text rather than header bytes.
_UTF8_KEYS = ("REQUEST_URI", "QUERY_STRING", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN")
_SERVER_SOFTWARE = "nhttps"


class FileWrapper:
    """``wsgi.file_wrapper``: iterates over a file-like object in blocks and
    closes it when the response is done."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        while True:
            block = self.filelike.read(self.blksize)
            if not block:
                return
            yield block


class _Input:
    """``wsgi.input``: the request body, read from the connection as the
    application asks for it, through the request's native handle (``ptr``,
    None once the response has ended: the request's handle dies with it)."""

    __slots__ = ("ptr", "_buffer", "_eof")

    def __init__(self, ptr):
        self.ptr = ptr
        self._buffer = b""
        self._eof = False

    def _fill(self):
        if self._eof:
            return False
        if self.ptr is None:
            raise state_error("the request body can no longer be read: its "
                              "response has ended")
        chunk = read_body(self.ptr, _READ_SIZE)  # blocks with the GIL released
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            while self._fill():
                pass
            data, self._buffer = self._buffer, b""
            return data
        while len(self._buffer) < size and self._fill():
            pass
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readline(self, size=-1):
        limit = size if size is not None and size >= 0 else None
        while (b"\n" not in self._buffer
               and (limit is None or len(self._buffer) < limit)
               and self._fill()):
            pass
        end = self._buffer.find(b"\n")
        cut = len(self._buffer) if end < 0 else end + 1
        if limit is not None:
            cut = min(cut, limit)
        line, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return line

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class _CtypesCalls:
    """What nhttps._speedups does, through ctypes (see _speedups.c)."""

    take = None  # the server's own loop takes the requests (server.py)

    @staticmethod
    def environ(req_ptr, base, body):
        """`base` with nhttps's CGI and mod_ssl variables of the request
        (one call), PATH_INFO and wsgi.input."""
        try:
            block, size, block_out, size_out = _per_thread.cgi_out
        except AttributeError:
            block, size = ctypes.c_void_p(), ctypes.c_size_t()
            block_out, size_out = ctypes.byref(block), ctypes.byref(size)
            _per_thread.cgi_out = block, size, block_out, size_out
        check(fn.incoming_message_cgi_variables(req_ptr, block_out, size_out))
        variables = ctypes.string_at(block.value, size.value).decode("latin-1")
        parts = iter(variables.split("\0"))  # name, value, ..., "" (after the last NUL)
        environ = base.copy()
        environ.update(zip(parts, parts))
        if not variables.isascii():
            # Not header values: UTF-8 text, where it is not ASCII.
            for key in _UTF8_KEYS:
                value = environ.get(key)
                if value is not None and not value.isascii():
                    environ[key] = value.encode("latin-1").decode("utf-8", "replace")
        path = environ["REQUEST_URI"].partition("?")[0]
        if "://" in path and not path.startswith("/"):  # absolute-form
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1") if "%" in path else path
        environ["wsgi.input"] = body
        return environ

    @staticmethod
    def header_block(headers):
        """The headers as nhttps's raw block, if they are str pairs in
        Latin-1 without NULs; else None."""
        try:
            # Names and values in turn, each ending with a NUL: join checks
            # that they are str, the count that each is a pair without NULs.
            raw = "\0".join(chain.from_iterable(headers)) + "\0" if headers else ""
            if raw.count("\0") != 2 * len(headers):
                return None
            return raw.encode("latin-1")
        except (TypeError, UnicodeEncodeError):
            return None

    @staticmethod
    def set_head(res_ptr, status, message, raw_headers):
        check(fn.server_response_set_head(res_ptr, status, message, raw_headers,
                                          len(raw_headers)))

    @staticmethod
    def end(res_ptr, data, framed):
        end = fn.server_response_end_framed if framed else fn.server_response_end
        check(end(res_ptr, data, len(data)))


if _speedups is not None:
    _calls = _speedups
    _speedups.bind(_lib.address("nhttps_server_take_request"),
                   _lib.address("nhttps_incoming_message_cgi_variables"),
                   _lib.address("nhttps_server_response_set_head"),
                   _lib.address("nhttps_server_response_end"), check)
else:
    _calls = _CtypesCalls


class _Exchange:
    """One request's run of the application: start_response, write, the
    iterable, and what was sent — straight onto the native response handle
    (``ptr``, None once ended or destroyed: the request's handle dies with
    it)."""

    __slots__ = ("taken", "ptr", "body", "errors", "status", "headers", "raw_headers",
                 "head_sent", "sent")

    def __init__(self, res_ptr, body, errors, taken):
        self.taken = taken  # from the queue: a small end does not wait
        self.ptr = res_ptr
        self.body = body
        self.errors = errors
        self.status = None
        self.headers = None
        self.raw_headers = None  # the headers as nhttps's raw block, if Latin-1
        self.head_sent = False
        self.sent = 0

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response was called a second time "
                                 "without exc_info")
        if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() \
                or status[3] != " ":
            raise ValueError("the status must be a str like '200 OK', not %r" % (status,))
        headers = list(headers)
        # PEP 3333's header values are Latin-1, and go out as such, in one
        # block; other str pairs are sent field by field, as header_bytes has it.
        raw = _calls.header_block(headers)
        if raw is None:
            for header in headers:
                if len(header) != 2 or not all(isinstance(part, str) for part in header):
                    raise TypeError("header names and values must be str pairs: %r"
                                    % (header,))
                if "\0" in header[0] or "\0" in header[1]:
                    raise ValueError("a header name or value contains a NUL character")
        self.status, self.headers, self.raw_headers = status, headers, raw
        return self.write

    def _live(self):
        if self.ptr is None:
            raise state_error("the response has ended")
        return self.ptr

    def _finish(self):
        """The handle, taken: the response (and its request) ends with the
        call it is passed to."""
        ptr, self.ptr = self._live(), None
        self.body.ptr = None
        return ptr

    def _send_head(self):
        """Sets the response's status and headers (in one call when they
        are Latin-1); they go out with the first body bytes."""
        if self.status is None:
            raise AssertionError("the application sent a body before calling "
                                 "start_response")
        ptr = self._live()
        reason = self.status[4:]
        if self.raw_headers is not None and reason.isascii():
            _calls.set_head(ptr, int(self.status[:3]), reason.encode("ascii") or None,
                            self.raw_headers)
        else:
            check(fn.server_response_set_status(ptr, int(self.status[:3])))
            if reason:
                check(fn.server_response_set_status_message(ptr, header_bytes(reason)))
            for name, value in self.headers:
                check(fn.server_response_append_header(
                    ptr, header_bytes(name, "header name"), header_bytes(value)))
        self.head_sent = True

    def _declared_length(self):
        """The application's Content-Length, or None."""
        for name, value in self.headers or ():
            if name.lower() == "content-length":
                return int(value) if value.strip().isdigit() else None
        return None

    def write(self, data):
        """The legacy ``write()`` callable (and each block of the iterable)."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("the body must be bytes, not %s" % type(data).__name__)
        if not self.head_sent:
            self._send_head()
        if data:
            check(fn.server_response_write(self._live(), bytes(data), len(data)))
            self.sent += len(data)

    def end(self, data=b""):
        _calls.end(self._finish(), data, self.taken and len(data) <= _lib.FRAMED_END_MAX)

    def _end_whole(self, body):
        """The head and the whole body in one call that ends the response
        (nhttps's threads send a small one)."""
        self._send_head()
        self.end(bytes(body))
        self.sent += len(body)

    def run(self, app, environ):
        result = app(environ, self.start_response)
        try:
            if (isinstance(result, (list, tuple)) and len(result) == 1
                    and not self.head_sent):
                # One string: it goes out with its length when the
                # application set none.
                body = result[0]
                if not isinstance(body, (bytes, bytearray)):
                    raise TypeError("the body must be bytes, not %s" % type(body).__name__)
                self._end_whole(body)
                return
            declared = self._declared_length()
            for data in result:
                if not isinstance(data, (bytes, bytearray)):
                    raise TypeError("the body must be bytes, not %s" % type(data).__name__)
                if not data:
                    continue
                if self.ptr is None:
                    raise ValueError("the application sent more body than its Content-Length")
                if not self.head_sent and len(data) == declared:
                    self._end_whole(data)
                else:
                    self.write(data)
            if self.ptr is not None:
                if not self.head_sent:
                    self._send_head()
                self.end()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def fail(self, exc_info):
        """After the application raised: 500 if nothing was sent, else cut
        the response short. Never raises."""
        try:
            self.errors.write("".join(traceback.format_exception(*exc_info)))
            self.errors.flush()
        except Exception:  # noqa: BLE001 - the error stream is the app's
            pass
        if self.ptr is None:
            return
        try:
            if self.head_sent or fn.server_response_headers_sent(self.ptr):
                check(fn.server_response_destroy(self._finish()))
                return
            body = b"Internal Server Error\n"
            for name, _ in self.headers or ():
                fn.server_response_remove_header(self.ptr, header_bytes(name))
            check(fn.server_response_set_status(self.ptr, 500))
            check(fn.server_response_set_status_message(self.ptr, b"Internal Server Error"))
            check(fn.server_response_set_header(self.ptr, b"Content-Type",
                                                b"text/plain; charset=utf-8"))
            self.end(body)
            self.status, self.sent = "500 Internal Server Error", len(body)
        except BaseException:  # noqa: BLE001 - the client is gone, or worse
            if self.ptr is not None:
                fn.server_response_destroy(self._finish())


class WSGIServer:
    """A WSGI application served by an nhttps server (see ``serve``)."""

    def __init__(self, app, host="127.0.0.1", port=8443, *, cert=None, key=None,
                 passphrase=None, ca=None, request_cert=False, reject_unauthorized=None,
                 dev_certificate=False, access_log=False, errors=None, threads=8, fd=None,
                 **options):
        self.app = app
        self.host = host
        self.errors = errors if errors is not None else sys.stderr
        self.access_log = access_log
        self._log_lock = threading.Lock()
        self.server = create_server(
            None, key=key, cert=cert, ca=ca, passphrase=passphrase,
            request_cert=request_cert, reject_unauthorized=reject_unauthorized,
            dev_certificate=dev_certificate, **options)
        # Requests wait in nhttps's queue for `threads` Python threads to
        # take them; those that expect 100 Continue (it is sent when the
        # application first reads the body) come to _handle on nhttps's
        # threads.
        self.server._handle_natively(self._handle)
        self.server._take_natively(functools.partial(self._handle, taken=True), threads,
                                   _calls.take)
        if fd is not None:
            self.server.listen(fd=fd)  # a socket the program has (socket activation: 3)
        else:
            self.server.listen(port, host)
        self.port = self.server.port
        # What every request's environ starts from.
        self._base_environ = {
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": _SERVER_SOFTWARE,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https",
            "wsgi.input_terminated": True,
            "wsgi.errors": self.errors,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
        }

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "https://%s:%d/" % (host, self.port)

    def environ(self, req_ptr, body):
        """The PEP 3333 environ of the request behind `req_ptr`: nhttps's
        CGI and mod_ssl variables (one call), PATH_INFO and the WSGI keys."""
        return _calls.environ(req_ptr, self._base_environ, body)

    def _handle(self, req_ptr, res_ptr, taken=False):
        """Runs the application for one request (`taken` from the queue by
        a Python thread, or called on nhttps's thread for a request that
        expects 100 Continue); the response has ended when it returns."""
        body = _Input(req_ptr)
        exchange = _Exchange(res_ptr, body, self.errors, taken)
        environ = None
        try:
            environ = self.environ(req_ptr, body)
            exchange.run(self.app, environ)
        except BaseException:  # noqa: BLE001 - every failure is the app's
            exchange.fail(sys.exc_info())
        if self.access_log and environ is not None:
            self._log(environ, exchange)

    def _log(self, environ, exchange):
        status = exchange.status[:3] if exchange.status else "-"
        line = '%s - - [%s] "%s %s %s" %s %d\n' % (
            environ["REMOTE_ADDR"] or "-", time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            environ["REQUEST_METHOD"], environ["REQUEST_URI"], environ["SERVER_PROTOCOL"],
            status, exchange.sent)
        with self._log_lock:
            sys.stderr.write(line)
            sys.stderr.flush()

    def close(self):
        """Stops accepting, lets requests in flight finish, closes."""
        self.server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(app, host="127.0.0.1", port=8443, **options):
    """Serves the WSGI callable `app` on `host`:`port` (0: a port the
    system picks, see ``server.port``) and returns the WSGIServer at once;
    ``close()`` it to stop. Options: threads (the Python threads that run
    the application, 8 by default), cert, key (PEM data or paths),
    passphrase, ca, request_cert, reject_unauthorized, dev_certificate (a
    self-signed certificate made in memory, for development), access_log
    (a line per request on stderr), errors (the ``wsgi.errors`` stream,
    sys.stderr by default), fd (a listening socket the program already
    has, instead of `host`:`port`: systemd's socket activation passes 3),
    and the nhttps server options of ``nhttps.create_server`` (reuse_port,
    proxy_protocol, ticket_keys, ...)."""
    return WSGIServer(app, host, port, **options)


def load_app(spec):
    """The callable named by "MODULE:APP" ("MODULE" alone: MODULE:application)."""
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    target = importlib.import_module(module_name)
    for part in (attribute or "application").split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError("%s is not callable" % spec)
    return target


def _batch_scheduling():
    """SCHED_BATCH for this thread and every thread started after it (they
    inherit it): see the module's documentation. Where the system has no
    such policy, nothing changes."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m nhttps.wsgi",
                                 description="Serve a WSGI application over HTTPS.")
    ap.add_argument("app", metavar="MODULE:APP")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--passphrase")
    ap.add_argument("--ca")
    ap.add_argument("--request-cert", action="store_true")
    ap.add_argument("--reject-unauthorized", action="store_true")
    ap.add_argument("--dev-certificate", action="store_true")
    ap.add_argument("--access-log", action="store_true")
    args = ap.parse_args(argv)
    if not args.dev_certificate and not (args.cert and args.key):
        ap.error("give --cert FILE and --key FILE, or --dev-certificate")
    app = load_app(args.app)
    _batch_scheduling()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server = serve(app, args.host, args.port, cert=args.cert, key=args.key,
                   passphrase=args.passphrase, ca=args.ca,
                   request_cert=args.request_cert,
                   # A client certificate that does not verify is refused
                   # only with --reject-unauthorized; otherwise the
                   # application sees SSL_CLIENT_VERIFY=FAILED:reason.
                   reject_unauthorized=args.reject_unauthorized,
                   dev_certificate=args.dev_certificate,
                   access_log=args.access_log)
    print("listening on %s" % server.url, flush=True)
    while not stop.wait(0.5):
        pass
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
