"""The server: nhttps.create_server, Server, IncomingMessage, ServerResponse.

Threads: every callback runs on one of nhttps's connection threads (one per
connection), through a ctypes CFUNCTYPE trampoline that takes the GIL. The
trampolines never let an exception escape into C: an exception in a
`request`/`checkContinue` listener is logged (logger "nhttps", traceback on
stderr when logging is not configured) and answered with `500` when nothing
was sent yet; the connection is never left hanging.
"""

import ctypes
import logging
import threading
import traceback
import weakref

from . import _lib
from ._common import (SocketInfo, as_list, body_bytes, cstr, fold_headers,
                      header_bytes, read_body, read_raw_headers,
                      set_pem_or_file, text)
from .errors import Error, check, error_for, state_error

fn = _lib.fn
log = logging.getLogger("nhttps")

__all__ = ["create_server", "Server", "IncomingMessage", "ServerResponse",
           "UpgradedSocket"]

_READ_SIZE = 64 * 1024

# Servers that listen are kept here (strongly) until closed: native threads
# call into them, and the atexit hook closes whatever is left.
_live_servers = set()
_live_lock = threading.Lock()

# Which servers' callbacks the current thread is running (see Server.close).
_local = threading.local()

_EVENT_ALIASES = {
    "check_continue": "checkContinue", "client_error": "clientError",
    "tls_client_error": "tlsClientError",
    "secure_connection": "secureConnection",
}
EVENTS = ("request", "checkContinue", "connection", "upgrade", "clientError",
          "tlsClientError", "secureConnection", "keylog", "close", "listening")


# A native thread that calls into Python gets a Python thread state from
# ctypes, and loses it when the call returns: made and freed again on every
# callback (a good part of a small request's cost). The first callback on
# each of nhttps's threads keeps it (one more PyGILState_Ensure); the
# server's thread_exit listener releases it on that thread as the thread
# leaves nhttps's pool.
_thread_state = threading.local()
try:
    _gil_ensure = ctypes.pythonapi.PyGILState_Ensure
    _gil_ensure.restype = ctypes.c_int
    _gil_release = ctypes.pythonapi.PyGILState_Release
    _gil_release.argtypes = [ctypes.c_int]
except AttributeError:  # pragma: no cover - not CPython
    _gil_ensure = _gil_release = None


def _keep_thread_state():
    """Keeps the calling native thread's Python thread state between
    callbacks (call inside a callback: the GIL is held)."""
    if _gil_ensure is not None and not getattr(_thread_state, "kept", False):
        _thread_state.gil = _gil_ensure()
        _thread_state.kept = True


def _drop_thread_state(_userdata):
    """The thread_exit listener: the thread leaves nhttps's pool."""
    if getattr(_thread_state, "kept", False):
        _thread_state.kept = False
        _gil_release(_thread_state.gil)


_THREAD_EXIT = _lib.EVENT_CALLBACK(_drop_thread_state)


def _ms(seconds, what, minimum=0):
    ms = int(round(float(seconds) * 1000))
    if ms < minimum or ms > 0xFFFFFFFF:
        raise ValueError("%s out of range: %r seconds" % (what, seconds))
    return ms


def _in_callback_of(server):
    return id(server) in getattr(_local, "servers", ())


class _Enter:
    """Marks the current thread as running one of `server`'s callbacks."""

    __slots__ = ("key",)

    def __init__(self, server):
        self.key = id(server)

    def __enter__(self):
        servers = getattr(_local, "servers", None)
        if servers is None:
            servers = _local.servers = []
        servers.append(self.key)

    def __exit__(self, *exc):
        try:
            _local.servers.remove(self.key)
        except (AttributeError, ValueError):
            pass
        return False


def _ctypes_taker():
    """`take(server_ptr)`: the next queued request as `(req_ptr, res_ptr)`,
    or None once the server has closed and none is left — the one waiting
    without giving up the GIL, else the next to come with the GIL released.
    Through ctypes, with out-parameters of its own (one taker per thread)."""
    req, res = ctypes.c_void_p(), ctypes.c_void_p()
    req_out, res_out = ctypes.byref(req), ctypes.byref(res)
    poll, wait = fn.server_poll_request, fn.server_take_request

    def take(ptr):
        rc = poll(ptr, 0, req_out, res_out)
        if rc != 0:
            rc = wait(ptr, -1, req_out, res_out)
        return (req.value, res.value) if rc == 0 else None
    return take


class _Exchange:
    """The native response handle and the state shared by an
    IncomingMessage and its ServerResponse. `ptr` is None once the
    response has ended (the request's handle dies with it)."""

    __slots__ = ("lock", "ptr", "handler_returned", "header_names", "__weakref__")

    def __init__(self, ptr):
        self.lock = threading.RLock()
        self.ptr = ptr
        self.handler_returned = False
        self.header_names = set()

    def alive(self):
        return self.ptr is not None

    def end(self, data=b""):
        """`nhttps_server_response_end`: frees the response (and request)
        whatever the result. Call with `lock` held."""
        ptr, self.ptr = self.ptr, None
        check(fn.server_response_end(ptr, data, len(data)))

    def fail(self, status=500, body=b"Internal Server Error\n"):
        """Finishes a response its handler could not: `status` with a short
        body when nothing was sent yet, else just the end of what was sent.
        Never raises."""
        with self.lock:
            if self.ptr is None:
                return
            try:
                if not fn.server_response_headers_sent(self.ptr):
                    for name in list(self.header_names):
                        fn.server_response_remove_header(self.ptr, name)
                    fn.server_response_set_status(self.ptr, status)
                    fn.server_response_set_header(self.ptr, b"Content-Type",
                                                  b"text/plain; charset=utf-8")
                    fn.server_response_set_header(self.ptr, b"Content-Length",
                                                  str(len(body)).encode())
                    fn.server_response_set_header(self.ptr, b"Connection", b"close")
                else:
                    body = b""
                self.end(body)
            except Error:
                pass  # the client is gone: nothing more to do
            except BaseException:  # pragma: no cover - never into C
                if self.ptr is not None:
                    ptr, self.ptr = self.ptr, None
                    fn.server_response_end(ptr, None, 0)


class IncomingMessage:
    """A request received by the server (Node's `IncomingMessage`).

    Everything but the body is copied when the request arrives, so these
    attributes stay valid after the response ends:

    - ``method`` ("GET"), ``url`` ("/path?query"), ``http_version`` ("1.1");
    - ``headers``: dict with lowercase names; duplicates joined with ", "
      (``cookie`` with "; "), ``set-cookie`` always a list, duplicates of
      single-valued fields (content-type, host...) dropped — as Node does;
    - ``raw_headers``: list of ``(name, value)`` pairs in the order
      received, names as sent, duplicates kept (Node's flat ``rawHeaders``
      as pairs);
    - ``socket``: a SocketInfo (remote_address, tls_version, alpn,
      servername, authorized, authorization_error, peer_certificate...).

    Header values are decoded as Latin-1 (lossless; what Node and
    http.client do). ``read()`` works only until the response ends.
    """

    def __init__(self, ptr, exchange):
        self._exchange = exchange
        self._eof = False
        self.method = text(fn.incoming_message_method(ptr))
        self.url = text(fn.incoming_message_url(ptr))
        self.http_version = text(fn.incoming_message_http_version(ptr))
        self.raw_headers = read_raw_headers(ptr)
        self.headers = fold_headers(self.raw_headers)
        self.socket = SocketInfo.from_ptr(fn.incoming_message_socket(ptr))
        self._ptr = ptr

    @property
    def complete(self):
        """True once the body was read to its end."""
        return self._eof

    def get_header(self, name, default=None):
        """The value of header `name` (any case) as in ``headers``."""
        return self.headers.get(name.lower(), default)

    def read(self, n=-1):
        """Reads the body: everything left (n < 0, the default), or up to
        `n` bytes, blocking until some arrive (the GIL is released while it
        waits). Returns b"" at the end of the body. With
        `Expect: 100-continue`, the first read sends `100 Continue` unless
        the handler already did. Raises InvalidStateError once the response
        has ended (the request's handle is gone with it)."""
        if n is None or n < 0:
            chunks = []
            while True:
                chunk = self.read(_READ_SIZE)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        if n == 0 or self._eof:
            return b""
        x = self._exchange
        with x.lock:
            if not x.alive():
                raise state_error("the request body can no longer be read: "
                                  "its response has ended")
            chunk = read_body(self._ptr, n)
        if not chunk:
            self._eof = True
        return chunk

    def __iter__(self):
        """Iterates over the body in chunks."""
        while True:
            chunk = self.read(_READ_SIZE)
            if not chunk:
                return
            yield chunk

    def __repr__(self):
        return "<IncomingMessage %s %s HTTP/%s>" % (self.method, self.url,
                                                     self.http_version)


class ServerResponse:
    """A response (Node's `ServerResponse`), handed to `request` and
    `checkContinue` listeners with its request.

    It must be ended with ``end()`` exactly once, from any thread, possibly
    after the handler returned — the connection waits for it (Node's
    semantics: a handler that returns without ending leaves the response
    open). A response that is garbage-collected without ``end()`` (the
    handler returned and nothing kept a reference) is ended with `500` and
    a warning is logged, so a forgotten response never hangs a connection.
    Methods raise nhttps.InvalidStateError after ``end()``.
    """

    def __init__(self, exchange, req=None):
        self._exchange = exchange
        self.req = req
        self._status_code = 200
        self._status_message = None

    # -- state -------------------------------------------------------------
    def _ptr(self):
        ptr = self._exchange.ptr
        if ptr is None:
            raise state_error("the response has ended")
        return ptr

    @property
    def ended(self):
        """Node's `writableEnded`: ``end()`` was called."""
        return not self._exchange.alive()

    writable_ended = ended
    finished = ended

    @property
    def headers_sent(self):
        """Node's `headersSent`."""
        x = self._exchange
        with x.lock:
            if not x.alive():
                return True
            return bool(fn.server_response_headers_sent(x.ptr))

    # -- status ------------------------------------------------------------
    @property
    def status_code(self):
        """Node's `statusCode` (default 200); settable until the head is sent."""
        return self._status_code

    @status_code.setter
    def status_code(self, status):
        status = int(status)
        with self._exchange.lock:
            check(fn.server_response_set_status(self._ptr(), status))
        self._status_code = status

    @property
    def status_message(self):
        """Node's `statusMessage` (None: the standard phrase)."""
        return self._status_message

    @status_message.setter
    def status_message(self, message):
        with self._exchange.lock:
            check(fn.server_response_set_status_message(self._ptr(),
                                                        header_bytes(message)))
        self._status_message = message

    # -- headers -----------------------------------------------------------
    def set_header(self, name, value):
        """Node's `setHeader`: replaces `name`'s values; a list or tuple
        sets several (e.g. Set-Cookie). Values: str (Latin-1, else UTF-8),
        bytes or int. Returns self."""
        values = as_list(value)
        if not values:
            raise ValueError("set_header: no value for %r" % (name,))
        n = header_bytes(name, "header name")
        with self._exchange.lock:
            ptr = self._ptr()
            check(fn.server_response_set_header(ptr, n, header_bytes(values[0])))
            for v in values[1:]:
                check(fn.server_response_append_header(ptr, n, header_bytes(v)))
            self._exchange.header_names.add(n.lower())
        return self

    def append_header(self, name, value):
        """Node's `appendHeader`: adds values, keeping earlier ones."""
        n = header_bytes(name, "header name")
        with self._exchange.lock:
            ptr = self._ptr()
            for v in as_list(value):
                check(fn.server_response_append_header(ptr, n, header_bytes(v)))
            self._exchange.header_names.add(n.lower())
        return self

    def get_header(self, name):
        """Node's `getHeader`: the first value set for `name`, or None."""
        with self._exchange.lock:
            value = fn.server_response_get_header(self._ptr(),
                                                  header_bytes(name, "header name"))
        return None if value is None else value.decode("latin-1")

    def has_header(self, name):
        return self.get_header(name) is not None

    def remove_header(self, name):
        """Node's `removeHeader`; removing an unset header is not an error."""
        n = header_bytes(name, "header name")
        with self._exchange.lock:
            check(fn.server_response_remove_header(self._ptr(), n))
            self._exchange.header_names.discard(n.lower())
        return self

    def _set_headers(self, headers):
        items = headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            self.set_header(name, value)

    # -- body --------------------------------------------------------------
    def write_head(self, status, headers=None, status_message=None):
        """Node's `writeHead(statusCode[, statusMessage][, headers])`: sets
        the status and `headers` (a dict, or a list of (name, value) pairs,
        over those set before) and sends the head now. As in Node, the
        second argument may be the status message. Returns self."""
        if isinstance(headers, (str, bytes)):
            headers, status_message = status_message, headers
        if headers:
            self._set_headers(headers)
        status = int(status)
        with self._exchange.lock:
            message = None if status_message is None else header_bytes(status_message)
            check(fn.server_response_write_head(self._ptr(), status, message))
        self._status_code = status
        if status_message is not None:
            self._status_message = status_message
        return self

    writeHead = write_head

    def write_continue(self):
        """Node's `writeContinue`: sends `100 Continue` (in a
        `checkContinue` listener, before reading the body)."""
        with self._exchange.lock:
            check(fn.server_response_write_continue(self._ptr()))

    def write(self, data):
        """Sends body bytes (str is UTF-8 encoded), the head first if not
        sent yet; blocks until written (GIL released). Without a
        Content-Length header the body is chunked. Returns True."""
        data = body_bytes(data)
        with self._exchange.lock:
            check(fn.server_response_write(self._ptr(), data, len(data)))
        return True

    def end(self, data=None):
        """Node's `end([data])`: sends `data` as the last of the body and
        finishes the response. When nothing was sent and no Content-Length
        was set, it is set to len(data). Calling it again is a no-op. Raises
        when the client did not get the whole response."""
        data = body_bytes(data)
        x = self._exchange
        with x.lock:
            if not x.alive():
                return
            x.end(data)

    def destroy(self):
        """Node's `destroy()`: abandons the response — nothing more of it is
        sent — and closes the connection, so the client sees it cut short
        (or sees none). For a failure after part of the answer went out,
        where ``end()`` would make it look whole. A no-op once ended."""
        x = self._exchange
        with x.lock:
            if not x.alive():
                return
            ptr, x.ptr = x.ptr, None
            check(fn.server_response_destroy(ptr))

    def __del__(self):
        x = getattr(self, "_exchange", None)
        if x is not None and x.alive() and x.handler_returned:
            try:
                log.warning("nhttps: a response to %s was garbage-collected without "
                            "end(): answered 500", self._describe())
            except Exception:  # pragma: no cover
                pass
            x.fail()

    def _describe(self):
        req = self.req
        return "%s %s" % (req.method, req.url) if req is not None else "a request"

    def __repr__(self):
        return "<ServerResponse %s%s>" % (self._status_code,
                                          " ended" if self.ended else "")


class UpgradedSocket:
    """The connection handed to an `upgrade` listener (TLS still runs, HTTP
    is over). Owned by Python: ``close()`` (or the context manager, or
    garbage collection) frees it. Reads and writes block with the GIL
    released; they are serialized, so do not read on one thread while
    writing on another."""

    def __init__(self, ptr):
        self._ptr = ptr
        self._lock = threading.Lock()
        self.info = SocketInfo.from_ptr(fn.socket_get_info(ptr))

    def _live(self):
        if self._ptr is None:
            raise state_error("the socket is closed")
        return self._ptr

    def read(self, n=_READ_SIZE):
        """Up to `n` bytes, blocking until some arrive; b"" when closed."""
        buf = ctypes.create_string_buffer(n)
        got = ctypes.c_size_t(0)
        with self._lock:
            check(fn.socket_read(self._live(), buf, n, ctypes.byref(got)))
        return buf.raw[:got.value]

    def write(self, data):
        """Writes all of `data` (bytes, or str as UTF-8)."""
        data = body_bytes(data)
        with self._lock:
            check(fn.socket_write(self._live(), data, len(data)))

    def close(self):
        """Sends close_notify, closes and frees the socket. Idempotent."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            fn.socket_free(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ptr", None) is not None:
            self.close()


def _client_error(error_ptr):
    code = fn.error_code(error_ptr)
    return error_for(code, text(fn.error_message(error_ptr)) or "",
                     http_status=fn.error_http_status(error_ptr))


class Server:
    """An HTTPS server (Node's `https.Server`); see ``create_server``.

    Events (``server.on(name, listener)``, Node's names; snake_case aliases
    such as "check_continue" work too):

    - "request" ``(req, res)`` and "checkContinue" ``(req, res)``;
    - "connection" ``(socket_info)`` before the handshake — return False to
      close the connection at once;
    - "secureConnection" ``(socket_info)`` after the handshake;
    - "upgrade" ``(req, socket, head)`` — `socket` is an UpgradedSocket,
      now Python's; `req` cannot be read; return soon (hand long-lived
      sockets to a thread of your own: close() waits for this listener);
    - "clientError" ``(error, socket_info)`` — `error` is an nhttps.Error
      with ``http_status``; "tlsClientError" (same) takes handshake
      failures when it has listeners;
    - "keylog" ``(line: bytes)``; "close" ``()``; "listening" ``()``.

    Listeners run on nhttps's connection threads, several at once: they
    must be thread-safe. An exception in a "request"/"checkContinue"
    listener is logged with its traceback and answered `500` (when nothing
    was sent yet); in other listeners it is logged ("connection" then
    accepts the connection).
    """

    def __init__(self, request_listener=None, **options):
        self._ptr = None
        self._state_lock = threading.RLock()   # guards _ptr and registration
        self._close_lock = threading.Lock()    # serializes close()/free
        self._listeners = {name: () for name in EVENTS}
        self._exchanges = weakref.WeakSet()
        self._exchanges_lock = threading.Lock()
        self._native_handler = None
        self._listening = False
        self._closed = False
        self._free_pending = False
        # The CFUNCTYPE objects live as long as the server: native threads
        # may call them until nhttps_server_free returns.
        self._callbacks = {
            "request": _lib.REQUEST_CALLBACK(self._request_trampoline("request")),
            "checkContinue": _lib.REQUEST_CALLBACK(
                self._request_trampoline("checkContinue")),
            "connection": _lib.CONNECTION_CALLBACK(self._on_connection),
            "upgrade": _lib.UPGRADE_CALLBACK(self._on_upgrade),
            "clientError": _lib.CLIENT_ERROR_CALLBACK(
                self._client_error_trampoline("clientError")),
            "tlsClientError": _lib.CLIENT_ERROR_CALLBACK(
                self._client_error_trampoline("tlsClientError")),
            "secureConnection": _lib.SECURE_CONNECTION_CALLBACK(
                self._info_trampoline("secureConnection")),
            "keylog": _lib.KEYLOG_CALLBACK(self._on_keylog),
            "close": _lib.EVENT_CALLBACK(self._event_trampoline("close")),
            "listening": _lib.EVENT_CALLBACK(self._event_trampoline("listening")),
        }
        self._register = {
            "request": fn.server_on_request,
            "checkContinue": fn.server_on_check_continue,
            "connection": fn.server_on_connection,
            "upgrade": fn.server_on_upgrade,
            "clientError": fn.server_on_client_error,
            "tlsClientError": fn.server_on_tls_client_error,
            "secureConnection": fn.server_on_secure_connection,
            "keylog": fn.server_on_keylog,
            "close": fn.server_on_close,
            "listening": fn.server_on_listening,
        }
        opts = fn.server_options_new()
        try:
            _apply_server_options(opts, **options)
            out = ctypes.c_void_p()
            check(fn.server_new(opts, ctypes.byref(out)))
            self._ptr = out.value
        finally:
            fn.server_options_free(opts)
        check(fn.server_on_thread_exit(self._ptr, _THREAD_EXIT, None))
        if request_listener is not None:
            self.on("request", request_listener)

    # -- events ------------------------------------------------------------
    @staticmethod
    def _event_name(event):
        name = _EVENT_ALIASES.get(event, event)
        if name not in EVENTS:
            raise ValueError("unknown event %r (known: %s)" % (event, ", ".join(EVENTS)))
        return name

    def on(self, event, listener=None):
        """Adds `listener` for `event` (Node's `server.on`); returns the
        server. Usable as a decorator: ``@server.on("request")``."""
        if listener is None:
            def decorator(f):
                self.on(event, f)
                return f
            return decorator
        if not callable(listener):
            raise TypeError("listener must be callable")
        name = self._event_name(event)
        with self._state_lock:
            before = self._listeners[name]
            self._listeners[name] = before + (listener,)
            if not before:
                self._native_register(name, True)
        return self

    add_listener = on

    def off(self, event, listener):
        """Removes one registration of `listener` (Node's `removeListener`)."""
        name = self._event_name(event)
        with self._state_lock:
            current = list(self._listeners[name])
            if listener in current:
                current.remove(listener)
                self._listeners[name] = tuple(current)
                if not current and not (self._native_handler is not None
                                        and name in ("request", "checkContinue")):
                    self._native_register(name, False)
        return self

    remove_listener = off

    def listeners(self, event):
        return list(self._listeners[self._event_name(event)])

    def _handle_natively(self, handler):
        """For nhttps.wsgi: `handler(req_ptr, res_ptr)` answers every
        "request" and "checkContinue" itself, with the native handles, and
        no IncomingMessage or ServerResponse is made (a WSGI server reads
        what its environ needs and nothing else). The handles are valid
        until the response ends; `handler` must end or destroy it before it
        returns, and must not raise."""
        with self._state_lock:
            self._native_handler = handler
            for name in ("request", "checkContinue"):
                if not self._listeners[name]:
                    self._native_register(name, True)

    def _take_natively(self, handler, threads, take=None):
        """For nhttps.wsgi, with `_handle_natively` (which still answers
        "checkContinue"): from now on requests wait in nhttps's queue
        (nhttps_server_queue_requests), and `threads` Python threads take
        them and call `handler(req_ptr, res_ptr)` as `_handle_natively`
        does. nhttps's threads then never wait for the GIL: they do TLS
        and HTTP, a taker runs the application request after request
        (taking the next without giving the GIL up when one is there), and
        a response ended with its last bytes is sent by nhttps's threads.
        `take`, if given (nhttps._speedups.take), takes each request in
        place of `_ctypes_taker`'s function. Call before `listen`; `close`
        ends the takers."""
        with self._state_lock:
            check(fn.server_queue_requests(self._ptr))
            self._takers = [
                threading.Thread(target=self._take_requests, args=(handler, take),
                                 name="nhttps-taker", daemon=True)
                for _ in range(threads)]

    def _start_takers(self):
        for taker in getattr(self, "_takers", ()):
            if not taker.is_alive():
                taker.start()

    def _take_requests(self, handler, take=None):
        ptr = self._ptr
        take = take or _ctypes_taker()
        with _Enter(self):  # a taker only ever runs this server's requests
            while True:
                taken = take(ptr)
                if taken is None:
                    return  # the server has closed and no request is left
                try:
                    handler(*taken)
                except BaseException:  # pragma: no cover - handler must not raise
                    _print_exc()
                    # Not left open (close would wait for it); a response
                    # already ended is refused harmlessly.
                    fn.server_response_destroy(taken[1])

    def _native_register(self, name, on):
        if self._ptr is None:
            return
        callback = self._callbacks[name]
        if not on:  # a NULL function pointer of the same type removes it
            callback = ctypes.cast(None, type(callback))
        check(self._register[name](self._ptr, callback, None))

    # -- trampolines (run on nhttps's threads; never raise into C) ----------
    def _request_trampoline(self, event):
        def trampoline(_userdata, req_ptr, res_ptr):
            _keep_thread_state()
            try:
                with _Enter(self):
                    handler = self._native_handler
                    if handler is not None:
                        handler(req_ptr, res_ptr)
                    else:
                        self._serve(event, req_ptr, res_ptr)
            except BaseException:  # pragma: no cover - last resort
                try:
                    traceback.print_exc()
                except BaseException:
                    pass
        return trampoline

    def _serve(self, event, req_ptr, res_ptr):
        x = _Exchange(res_ptr)
        try:
            req = IncomingMessage(req_ptr, x)
            res = ServerResponse(x, req)
        except BaseException:
            log.exception("nhttps: could not read a request")
            x.handler_returned = True
            x.fail()
            return
        with self._exchanges_lock:
            self._exchanges.add(x)
        try:
            listeners = self._listeners[event]
            if event == "checkContinue" and not listeners:
                # Unregistered meanwhile: Node's default.
                res.write_continue()
                listeners = self._listeners["request"]
            if not listeners:
                x.fail(500, b"No request listener\n")
                return
            for listener in listeners:
                listener(req, res)
        except BaseException as e:
            log.error("nhttps: %s listener for %s %s raised; answering 500",
                      event, req.method, req.url,
                      exc_info=(type(e), e, e.__traceback__))
            x.fail()
        finally:
            x.handler_returned = True
            del res  # a response nobody kept is ended by its __del__ now

    def _on_connection(self, _userdata, info_ptr):
        _keep_thread_state()
        try:
            with _Enter(self):
                info = SocketInfo.from_ptr(info_ptr)
                for listener in self._listeners["connection"]:
                    try:
                        if listener(info) is False:
                            return False
                    except BaseException:
                        log.exception("nhttps: connection listener raised "
                                      "(the connection is accepted)")
        except BaseException:  # pragma: no cover
            _print_exc()
        return True

    def _on_upgrade(self, _userdata, req_ptr, socket_ptr, head_ptr, head_len):
        sock = None
        try:
            with _Enter(self):
                sock = UpgradedSocket(socket_ptr)
                head = ctypes.string_at(head_ptr, head_len) if head_len else b""
                try:
                    req = IncomingMessage(req_ptr, _UpgradeExchange())
                    listeners = self._listeners["upgrade"]
                    if not listeners:
                        sock.close()
                        return
                    for listener in listeners:
                        listener(req, sock, head)
                except BaseException:
                    log.exception("nhttps: upgrade listener raised; closing the socket")
                    sock.close()
        except BaseException:  # pragma: no cover
            _print_exc()
            if sock is not None:
                try:
                    sock.close()
                except BaseException:
                    pass
            else:
                fn.socket_free(socket_ptr)

    def _client_error_trampoline(self, event):
        def trampoline(_userdata, error_ptr, info_ptr):
            try:
                with _Enter(self):
                    error = _client_error(error_ptr)
                    info = SocketInfo.from_ptr(info_ptr)
                    self._emit(event, error, info)
            except BaseException:  # pragma: no cover
                _print_exc()
        return trampoline

    def _info_trampoline(self, event):
        def trampoline(_userdata, info_ptr):
            try:
                with _Enter(self):
                    self._emit(event, SocketInfo.from_ptr(info_ptr))
            except BaseException:  # pragma: no cover
                _print_exc()
        return trampoline

    def _on_keylog(self, _userdata, line):
        try:
            with _Enter(self):
                self._emit("keylog", line)
        except BaseException:  # pragma: no cover
            _print_exc()

    def _event_trampoline(self, event):
        def trampoline(_userdata):
            try:
                with _Enter(self):
                    self._emit(event)
            except BaseException:  # pragma: no cover
                _print_exc()
        return trampoline

    def _emit(self, event, *args):
        for listener in self._listeners[event]:
            try:
                listener(*args)
            except BaseException:
                log.exception("nhttps: %s listener raised", event)

    # -- life cycle ----------------------------------------------------------
    def _live_ptr(self):
        ptr = self._ptr
        if ptr is None:
            raise state_error("the server is closed")
        return ptr

    def listen(self, port=0, host=None, path=None, fd=None):
        """Listens on `host`:`port` (port 0: the system picks, see
        ``port``; host None, the default as in Node: every address, IPv6
        and IPv4), on the unix-domain socket `path`, or on `fd`, a
        listening socket the program already has (systemd's socket
        activation: 3) — the server owns it from then on. Returns the
        server once listening (the "listening" event has run). A server
        listens once."""
        with self._state_lock:
            ptr = self._live_ptr()
            with _live_lock:
                _live_servers.add(self)
            try:
                if fd is not None:
                    check(fn.server_listen_fd(ptr, int(fd)))
                elif path is not None:
                    check(fn.server_listen_unix(ptr, cstr(path, "path")))
                else:
                    check(fn.server_listen(ptr, cstr(host, "host"), int(port)))
            except BaseException:
                if not self._listening:
                    with _live_lock:
                        _live_servers.discard(self)
                raise
            if not self._listening:
                self._start_takers()
            self._listening = True
        return self

    def stats(self):
        """The server's counters (`nhttps_server_stats`) as a dict:
        accepted, open, idle, handshake_failures, requests, bytes_in,
        bytes_out, client_errors."""
        stats = _lib.Stats(size=ctypes.sizeof(_lib.Stats))
        with self._state_lock:
            check(fn.server_stats(self._live_ptr(), ctypes.byref(stats)))
        return {name: getattr(stats, name) for name, _ in _lib.Stats._fields_[1:]}

    @property
    def listening(self):
        return self._listening and not self._closed

    @property
    def port(self):
        """The TCP port listened on (0 before listening or after close)."""
        ptr = self._ptr
        return fn.server_port(ptr) if ptr is not None else 0

    def address(self):
        """Node's `server.address()` (the port only is known natively)."""
        return {"port": self.port}

    @property
    def certificate_pem(self):
        """The certificate the server presents, PEM (str) — e.g. to make a
        client trust the development certificate."""
        with self._state_lock:
            return text(fn.server_certificate_pem(self._live_ptr()), "ascii")

    def close(self):
        """Node's `server.close()`: stops accepting, closes idle
        connections, lets requests in flight finish (it waits for their
        responses to end), emits "close", then frees the server. Returns
        when every connection thread has ended. Idempotent.

        Called from one of this server's own listeners it returns at once,
        and a helper thread finishes the close when the last connection
        ends."""
        if _in_callback_of(self):
            ptr = self._ptr
            if ptr is None or self._closed:
                return
            self._closed = True
            fn.server_close(ptr)  # returns at once on a connection thread
            threading.Thread(target=self._finish_close, name="nhttps-close",
                             daemon=False).start()
            return
        self._finish_close()

    def _finish_close(self):
        with self._close_lock:
            ptr = self._ptr
            if ptr is None:
                return
            self._closed = True
            fn.server_close(ptr)      # blocks, GIL released
            # Takers hear that the server has closed; none may call it
            # once it is freed.
            for taker in getattr(self, "_takers", ()):
                if taker.is_alive() and taker is not threading.current_thread():
                    taker.join()
            with self._state_lock:
                self._ptr = None
            fn.server_free(ptr)       # no callback runs after this
        with _live_lock:
            _live_servers.discard(self)

    def _close_at_exit(self):
        """The atexit path: responses left open by handlers that returned
        are answered (500 when nothing was sent), then the server closes."""
        if self._ptr is None:
            return
        with self._exchanges_lock:
            exchanges = list(self._exchanges)
        for x in exchanges:
            if x.handler_returned and x.alive():
                log.warning("nhttps: interpreter exit: ending a response left open")
                x.fail(503, b"Service Unavailable\n")
        self._finish_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # Only reached when not listening (listening servers are kept alive
        # in _live_servers until closed), so no callback can be running.
        ptr = getattr(self, "_ptr", None)
        if ptr is not None:
            self._ptr = None
            fn.server_free(ptr)

    def __repr__(self):
        state = "closed" if self._ptr is None else (
            "listening on port %d" % self.port if self._listening else "not listening")
        return "<nhttps.Server %s>" % state


class _UpgradeExchange:
    """An upgrade's request is only valid during the listener call; its
    body is not readable (the socket carries the bytes)."""

    lock = threading.RLock()
    ptr = None

    def alive(self):
        return False


def _print_exc():  # pragma: no cover
    try:
        traceback.print_exc()
    except BaseException:
        pass


def _apply_server_options(opts, key=None, cert=None, ca=None, passphrase=None,
                          pfx=None, ocsp_response=None, request_cert=None,
                          reject_unauthorized=None, dev_certificate=False, min_version=None,
                          max_version=None, ciphers=None, ciphersuites=None,
                          ecdh_curve=None, honor_cipher_order=None,
                          alpn_protocols=None, session_id_context=None,
                          session_timeout=None, session_cache_size=None,
                          tickets=None, ticket_keys=None, max_connections=None,
                          keep_alive_timeout=None, max_header_size=None,
                          thread_stack_size=None, headers_timeout=None,
                          request_timeout=None, handshake_timeout=None,
                          max_requests_per_socket=None, max_connections_per_ip=None,
                          reuse_port=None, proxy_protocol=None):
    if dev_certificate:
        check(fn.server_options_use_dev_certificate(opts))
    if key is not None:
        set_pem_or_file(key, "key", fn.server_options_set_key_pem,
                        fn.server_options_set_key_file, opts)
    if cert is not None:
        set_pem_or_file(cert, "cert", fn.server_options_set_cert_pem,
                        fn.server_options_set_cert_file, opts)
    for one in as_list(ca):
        set_pem_or_file(one, "ca", fn.server_options_add_ca_pem,
                        fn.server_options_add_ca_file, opts)
    if pfx is not None:
        # PKCS#12 is binary: bytes are the bundle, a str or path names a file.
        if isinstance(pfx, (bytes, bytearray, memoryview)):
            data = bytes(pfx)
            check(fn.server_options_set_pfx(opts, data, len(data)))
        else:
            check(fn.server_options_set_pfx_file(opts, cstr(pfx, "pfx")))
    if ocsp_response is not None:
        # DER, binary like pfx: bytes are the response, a str or path a file.
        if isinstance(ocsp_response, (bytes, bytearray, memoryview)):
            data = bytes(ocsp_response)
            check(fn.server_options_set_ocsp_response(opts, data, len(data)))
        else:
            check(fn.server_options_set_ocsp_response_file(
                opts, cstr(ocsp_response, "ocsp_response")))
    if passphrase is not None:
        check(fn.server_options_set_passphrase(opts, cstr(passphrase, "passphrase")))
    if request_cert is not None:
        check(fn.server_options_set_request_cert(opts, bool(request_cert)))
    if reject_unauthorized is not None:
        check(fn.server_options_set_reject_unauthorized(opts, bool(reject_unauthorized)))
    for value, setter in ((min_version, fn.server_options_set_min_version),
                          (max_version, fn.server_options_set_max_version),
                          (ciphers, fn.server_options_set_ciphers),
                          (ciphersuites, fn.server_options_set_ciphersuites),
                          (ecdh_curve, fn.server_options_set_ecdh_curve)):
        if value is not None:
            check(setter(opts, cstr(value)))
    if honor_cipher_order is not None:
        check(fn.server_options_set_honor_cipher_order(opts, bool(honor_cipher_order)))
    if alpn_protocols is not None:
        names = [cstr(p, "ALPN protocol") for p in as_list(alpn_protocols)]
        array = (ctypes.c_char_p * len(names))(*names)
        check(fn.server_options_set_alpn_protocols(opts, array, len(names)))
    if session_id_context is not None:
        data = body_bytes(session_id_context)
        check(fn.server_options_set_session_id_context(opts, data, len(data)))
    if session_timeout is not None:
        check(fn.server_options_set_session_timeout(opts, int(session_timeout)))
    if session_cache_size is not None:
        check(fn.server_options_set_session_cache_size(opts, int(session_cache_size)))
    if tickets is not None:
        check(fn.server_options_set_tickets(opts, bool(tickets)))
    if ticket_keys is not None:
        data = bytes(ticket_keys)
        check(fn.server_options_set_ticket_keys(opts, data, len(data)))
    if max_connections is not None:
        check(fn.server_options_set_max_connections(opts, int(max_connections)))
    if keep_alive_timeout is not None:
        check(fn.server_options_set_keep_alive_timeout_ms(
            opts, _ms(keep_alive_timeout, "keep_alive_timeout", 1)))
    if headers_timeout is not None:
        check(fn.server_options_set_headers_timeout_ms(
            opts, _ms(headers_timeout, "headers_timeout", 1)))
    if request_timeout is not None:
        check(fn.server_options_set_request_timeout_ms(
            opts, _ms(request_timeout, "request_timeout", 1)))
    if handshake_timeout is not None:
        check(fn.server_options_set_handshake_timeout_ms(
            opts, _ms(handshake_timeout, "handshake_timeout", 1)))
    if max_requests_per_socket is not None:
        check(fn.server_options_set_max_requests_per_socket(opts, int(max_requests_per_socket)))
    if max_connections_per_ip is not None:
        check(fn.server_options_set_max_connections_per_ip(opts, int(max_connections_per_ip)))
    if reuse_port is not None:
        check(fn.server_options_set_reuse_port(opts, bool(reuse_port)))
    if proxy_protocol is not None:
        check(fn.server_options_set_proxy_protocol(opts, bool(proxy_protocol)))
    if max_header_size is not None:
        check(fn.server_options_set_max_header_size(opts, int(max_header_size)))
    if thread_stack_size is not None:
        check(fn.server_options_set_thread_stack_size(opts, int(thread_stack_size)))


def create_server(request_listener=None, *, key=None, cert=None, ca=None,
                  passphrase=None, pfx=None, request_cert=None,
                  reject_unauthorized=None, dev_certificate=False, **options):
    """Node's `https.createServer(options[, requestListener])`.

    TLS material — `key`, `cert`, `ca` (one or a list), `pfx` — follows one
    rule: **bytes are the content** (PEM; DER for `pfx`); **a str is PEM
    content if it contains "-----BEGIN", else a file path**; a
    ``pathlib.Path`` (any os.PathLike) is a file path. Files are read now.

    Options (Node's names in snake_case; durations in **seconds**):
    passphrase, request_cert (default False), reject_unauthorized (default
    True), dev_certificate (a self-signed certificate for localhost made in
    memory — development only), min_version / max_version ("TLSv1.2",
    "TLSv1.3"), ciphers, ciphersuites, ecdh_curve, honor_cipher_order,
    alpn_protocols (list), ocsp_response (a DER OCSP response, stapled for
    clients that ask: bytes are the response, a str or path names a file),
    session_id_context, session_timeout, session_cache_size, tickets,
    ticket_keys (80 bytes), max_connections,
    keep_alive_timeout (default 5.0), headers_timeout (60.0), request_timeout
    (300.0), handshake_timeout (120.0), max_requests_per_socket (0: no
    limit), max_connections_per_ip (not in Node; 0: no limit),
    max_header_size, thread_stack_size; for a fleet (not in Node):
    reuse_port (SO_REUSEPORT: several processes on one port), proxy_protocol
    (every connection starts with a PROXY protocol header, e.g. from
    HAProxy's send-proxy-v2; the client's address is then the one it
    carries) — see docs/deploy.md.

    A bad key, certificate, passphrase or OCSP response raises now
    (PrivateKeyError, CertificateError, PassphraseError).
    """
    return Server(request_listener, key=key, cert=cert, ca=ca,
                  passphrase=passphrase, pfx=pfx, request_cert=request_cert,
                  reject_unauthorized=reject_unauthorized,
                  dev_certificate=dev_certificate, **options)


def close_all_at_exit():
    """Closes every server still open (the atexit hook)."""
    with _live_lock:
        servers = list(_live_servers)
    for server in servers:
        try:
            server._close_at_exit()
        except BaseException:  # pragma: no cover
            _print_exc()
