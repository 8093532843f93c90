"""The client: nhttps.request, nhttps.get, ClientRequest, Response, Agent.

Every blocking call (connecting, writing, waiting for the response head,
reading the body) releases the GIL. No callback into Python is involved:
the client uses the blocking `nhttps_client_request_end`, never `_end_async`.
"""

import ctypes
import threading
import weakref

from . import _lib
from ._common import (SocketInfo, as_list, body_bytes, cstr, fold_headers,
                      header_bytes, read_body, read_raw_headers, set_pem_or_file,
                      text)
from .errors import check, state_error
from .server import _ms

fn = _lib.fn

__all__ = ["Agent", "global_agent", "ClientRequest", "Response", "request", "get"]

_READ_SIZE = 64 * 1024
_agents = weakref.WeakSet()
_agents_lock = threading.Lock()


class Agent:
    """Node's `https.Agent`: a pool of kept-alive connections, shared by
    any number of threads.

    ``Agent(max_sockets=5, max_total_sockets=0, max_free_sockets=256,
    keep_alive=True, free_socket_timeout=15.0, scheduling="lifo")`` —
    Node's options in snake_case, `free_socket_timeout` in seconds.
    ``close()`` (Node's `destroy()`; also the context manager, garbage
    collection and interpreter exit) closes its idle connections; requests
    in flight keep their own reference and finish normally.
    """

    def __init__(self, max_sockets=None, max_total_sockets=None,
                 max_free_sockets=None, keep_alive=None,
                 free_socket_timeout=None, scheduling=None, _ptr=None):
        self._lock = threading.Lock()
        self._global = _ptr is not None
        if self._global:
            self._ptr = _ptr
            return
        self._ptr = None
        opts = fn.agent_options_new()
        try:
            if max_sockets is not None:
                check(fn.agent_options_set_max_sockets(opts, int(max_sockets)))
            if max_total_sockets is not None:
                check(fn.agent_options_set_max_total_sockets(opts, int(max_total_sockets)))
            if max_free_sockets is not None:
                check(fn.agent_options_set_max_free_sockets(opts, int(max_free_sockets)))
            if keep_alive is not None:
                check(fn.agent_options_set_keep_alive(opts, bool(keep_alive)))
            if free_socket_timeout is not None:
                check(fn.agent_options_set_free_socket_timeout_ms(
                    opts, _ms(free_socket_timeout, "free_socket_timeout")))
            if scheduling is not None:
                check(fn.agent_options_set_scheduling(opts, cstr(scheduling)))
            out = ctypes.c_void_p()
            check(fn.agent_new(opts, ctypes.byref(out)))
            self._ptr = out.value
        finally:
            fn.agent_options_free(opts)
        with _agents_lock:
            _agents.add(self)

    @property
    def closed(self):
        return self._ptr is None

    def _use(self, options):
        """Points request options at this agent (the request takes its own
        reference, so the agent may be closed while it runs)."""
        with self._lock:
            if self._ptr is None:
                raise state_error("the agent is closed")
            check(fn.request_options_set_agent(options, self._ptr))

    def stats(self, name=None):
        """Node's `agent.sockets` / `freeSockets` / `requests` counts for
        one host ("host:port") or, with None, all:
        ``{"in_use": n, "free": n, "queued": n}``."""
        in_use, free, queued = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
        with self._lock:
            if self._ptr is None:
                raise state_error("the agent is closed")
            check(fn.agent_stats(self._ptr, cstr(name), ctypes.byref(in_use),
                                 ctypes.byref(free), ctypes.byref(queued)))
        return {"in_use": in_use.value, "free": free.value, "queued": queued.value}

    def close(self):
        """Node's `agent.destroy()`: closes idle connections and releases the
        agent. Idempotent; a no-op on the global agent."""
        if self._global:
            return
        with self._lock:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            fn.agent_free(ptr)

    destroy = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_ptr", None) is not None and not self._global:
            self.close()

    def __repr__(self):
        return "<nhttps.Agent%s%s>" % (" global" if self._global else "",
                                       " closed" if self.closed else "")


_global_agent = None


def global_agent():
    """Node's `https.globalAgent` (never closed)."""
    global _global_agent
    if _global_agent is None:
        _global_agent = Agent(_ptr=fn.global_agent())
    return _global_agent


def close_all_agents():
    """Closes every Agent still open (the atexit hook)."""
    with _agents_lock:
        agents = list(_agents)
    for agent in agents:
        agent.close()


class Response:
    """A response received by the client (Node's `IncomingMessage`).

    ``status`` (alias ``status_code``), ``status_message``, ``http_version``,
    ``headers`` (dict, lowercase names, duplicates folded as Node does),
    ``raw_headers`` (list of (name, value)), ``socket`` (SocketInfo, with
    ``reused_connection``), ``read()`` / ``read(n)``, iteration in chunks.

    When the body has been read to its end the native response is freed and
    its connection goes back to the agent's pool; ``close()`` (or the
    context manager, or garbage collection) frees it earlier — an unread
    connection is then closed, not reused.
    """

    def __init__(self, ptr):
        self._ptr = ptr
        self._lock = threading.Lock()
        self._eof = False
        self.status = fn.incoming_message_status_code(ptr)
        self.status_message = text(fn.incoming_message_status_message(ptr), "latin-1")
        self.http_version = text(fn.incoming_message_http_version(ptr))
        self.raw_headers = read_raw_headers(ptr)
        self.headers = fold_headers(self.raw_headers)
        self.socket = SocketInfo.from_ptr(fn.incoming_message_socket(ptr))

    @property
    def status_code(self):
        return self.status

    def get_header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def complete(self):
        """True once the body was read to its end."""
        return self._eof

    def read(self, n=-1):
        """The body: all that is left (n < 0, the default) or up to `n`
        bytes, blocking (GIL released); b"" at the end."""
        if n is None or n < 0:
            chunks = []
            while True:
                chunk = self.read(_READ_SIZE)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        if n == 0 or self._eof:
            return b""
        with self._lock:
            if self._ptr is None:
                raise state_error("the response is closed")
            chunk = read_body(self._ptr, n)
            if not chunk:
                self._eof = True
                ptr, self._ptr = self._ptr, None
                fn.incoming_message_free(ptr)  # back to the pool
        return chunk

    def text(self, encoding="utf-8"):
        """The rest of the body, decoded."""
        return self.read().decode(encoding, "replace")

    def __iter__(self):
        while True:
            chunk = self.read(_READ_SIZE)
            if not chunk:
                return
            yield chunk

    def close(self):
        """Frees the response: its connection returns to the pool if the
        body was read to the end, else it is closed. Idempotent."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            fn.incoming_message_free(ptr)

    @property
    def closed(self):
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_ptr", None) is not None:
            self.close()

    def __repr__(self):
        return "<nhttps.Response %s %s>" % (self.status, self.status_message)


_OPTION_KEYS = ("method", "headers", "ca", "cert", "key", "passphrase",
                "reject_unauthorized", "servername", "min_version", "agent",
                "timeout", "connect_timeout", "auth", "host", "hostname",
                "port", "path", "socket_path")


def _build_options(url_or_options, kwargs):
    """Native request options from a URL (or an options dict) and keyword
    options (which win). Returns (options_ptr, agent_to_keep, header names)."""
    settings = {}
    url = None
    if isinstance(url_or_options, dict):
        settings.update(url_or_options)
        url = settings.pop("url", None)
    elif url_or_options is not None:
        url = url_or_options
    settings.update({k: v for k, v in kwargs.items() if v is not None})
    unknown = set(settings) - set(_OPTION_KEYS)
    if unknown:
        raise TypeError("unknown request option(s): %s" % ", ".join(sorted(unknown)))

    if url is not None:
        out = ctypes.c_void_p()
        check(fn.request_options_from_url(cstr(url, "url"), ctypes.byref(out)))
        opts = out.value
    else:
        opts = fn.request_options_new()
    names = set()
    try:
        s = settings.get
        for key, setter in (("host", fn.request_options_set_host),
                            ("hostname", fn.request_options_set_hostname),
                            ("socket_path", fn.request_options_set_socket_path),
                            ("path", fn.request_options_set_path),
                            ("auth", fn.request_options_set_auth),
                            ("passphrase", fn.request_options_set_passphrase),
                            ("servername", fn.request_options_set_servername),
                            ("min_version", fn.request_options_set_min_version)):
            if s(key) is not None:
                check(setter(opts, cstr(s(key), key)))
        if s("method") is not None:
            check(fn.request_options_set_method(opts, cstr(str(s("method")).upper())))
        if s("port") is not None:
            check(fn.request_options_set_port(opts, int(s("port"))))
        headers = s("headers")
        if headers:
            items = headers.items() if hasattr(headers, "items") else headers
            for name, value in items:
                n = header_bytes(name, "header name")
                names.add(n.decode("latin-1").lower())
                for v in as_list(value):
                    check(fn.request_options_add_header(opts, n, header_bytes(v)))
        for one in as_list(s("ca")):
            set_pem_or_file(one, "ca", fn.request_options_add_ca_pem,
                            fn.request_options_add_ca_file, opts)
        if s("cert") is not None:
            set_pem_or_file(s("cert"), "cert", fn.request_options_set_cert_pem,
                            fn.request_options_set_cert_file, opts)
        if s("key") is not None:
            set_pem_or_file(s("key"), "key", fn.request_options_set_key_pem,
                            fn.request_options_set_key_file, opts)
        if s("reject_unauthorized") is not None:
            check(fn.request_options_set_reject_unauthorized(
                opts, bool(s("reject_unauthorized"))))
        if s("timeout") is not None:
            check(fn.request_options_set_timeout_ms(opts, _ms(s("timeout"), "timeout", 1)))
        if s("connect_timeout") is not None:
            check(fn.request_options_set_connect_timeout_ms(
                opts, _ms(s("connect_timeout"), "connect_timeout", 1)))
        agent = settings.get("agent")
        if agent is False:
            check(fn.request_options_set_no_agent(opts))
        elif isinstance(agent, Agent):
            agent._use(opts)
        elif agent is not None:
            raise TypeError("agent must be an nhttps.Agent, False or None")
    except BaseException:
        fn.request_options_free(opts)
        raise
    return opts, names


class ClientRequest:
    """Node's `ClientRequest`, for streaming a body:
    ``req = nhttps.ClientRequest(url, method="PUT"); req.write(b"..");
    res = req.end(b"..")``. Nothing is sent until the first ``write`` or
    ``end``. Without a Content-Length header the body is chunked.
    ``abort()`` (or garbage collection) abandons a request not ended."""

    def __init__(self, url_or_options=None, **options):
        self._lock = threading.Lock()
        self._ptr = None
        opts, self._header_names = _build_options(url_or_options, options)
        try:
            out = ctypes.c_void_p()
            check(fn.client_request_new(opts, ctypes.byref(out)))
            self._ptr = out.value
        finally:
            fn.request_options_free(opts)

    def _live(self):
        if self._ptr is None:
            raise state_error("the request has ended")
        return self._ptr

    def write(self, data):
        """Sends body bytes (str as UTF-8), connecting first if needed."""
        data = body_bytes(data)
        with self._lock:
            check(fn.client_request_write(self._live(), data, len(data)))

    def end(self, data=None):
        """Sends `data` (if any), finishes the request and waits for the
        response head (interim 1xx responses are skipped). Returns a
        Response; raises an nhttps.Error (ConnectionRefusedError,
        CertificateVerifyError, TimeoutError, ...) on failure."""
        if data:
            self.write(data)
        out = ctypes.c_void_p()
        with self._lock:
            ptr, self._ptr = self._live(), None
            check(fn.client_request_end(ptr, ctypes.byref(out)))  # consumes ptr
        return Response(out.value)

    def abort(self):
        """Abandons a request that was not ended: its connection is closed."""
        with self._lock:
            ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr is not None:
            fn.client_request_free(ptr)

    def __del__(self):
        if getattr(self, "_ptr", None) is not None:
            self.abort()


def request(url_or_options=None, method=None, headers=None, body=None, *,
            ca=None, reject_unauthorized=None, agent=None, **options):
    """Node's `https.request`, blocking until the response head arrives.

    `url_or_options`: an ``https://`` URL, or a dict of the options below
    (keyword options win). Options, Node's names in snake_case: method
    (default "GET"), headers (dict or list of pairs; a list value sends the
    header several times), body, ca (trusted CAs, one or a list: they
    replace the system roots), cert, key, passphrase, reject_unauthorized
    (default True), servername, min_version, agent (an Agent; None: the
    global agent; False: a fresh connection closed afterwards), timeout and
    connect_timeout (seconds), auth ("user:password"), host, hostname, port
    (default 443), path, socket_path. key/cert/ca follow the server's rule:
    bytes or a str with "-----BEGIN" is PEM, another str or a Path a file.

    `body`: bytes or str (sent with a Content-Length unless `headers` sets
    Content-Length or Transfer-Encoding), or an iterable of chunks or a
    binary file object (streamed, chunked unless Content-Length is set).

    Returns a Response; redirects are not followed. Errors raise
    nhttps.Error subclasses: ConnectionRefusedError, DNSError,
    CertificateVerifyError (``reason`` = Node's code), TimeoutError...
    """
    options.update(method=method, headers=headers, ca=ca,
                   reject_unauthorized=reject_unauthorized, agent=agent)
    whole = None
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        whole = body_bytes(body)
        options["headers"] = _with_length(url_or_options, headers, len(whole))
    req = ClientRequest(url_or_options, **options)
    try:
        if whole is not None:
            if whole:
                req.write(whole)
        elif body is not None:
            if hasattr(body, "read"):
                while True:
                    chunk = body.read(_READ_SIZE)
                    if not chunk:
                        break
                    req.write(chunk)
            else:
                for chunk in body:
                    req.write(chunk)
        return req.end()
    finally:
        req.abort()  # a no-op once ended


def _with_length(url_or_options, headers, length):
    """`headers` plus Content-Length, unless a length or transfer encoding
    is already there."""
    if headers is None and isinstance(url_or_options, dict):
        headers = url_or_options.get("headers")
    items = list(headers.items() if hasattr(headers, "items") else (headers or []))
    lowered = {str(name).lower() for name, _ in items}
    if "content-length" not in lowered and "transfer-encoding" not in lowered:
        items.append(("Content-Length", str(length)))
    return items


def get(url_or_options=None, **options):
    """Node's `https.get`: ``request`` with method GET."""
    options["method"] = "GET"
    return request(url_or_options, **options)
