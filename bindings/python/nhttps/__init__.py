"""nhttps — Node's https module (server and client) for Python.

A binding of libnhttps, the C library of this repository, written with
**ctypes from the standard library only**: installing it (``pip install
bindings/python``) needs no compiler and compiles nothing; it only needs
``libnhttps.so`` at run time (``make`` builds it).

    import nhttps

    def hello(req, res):
        res.write_head(200, {"Content-Type": "text/plain"})
        res.end(b"hello world\\n")

    with nhttps.create_server(hello, dev_certificate=True) as server:
        server.listen(0, "127.0.0.1")
        r = nhttps.get("https://127.0.0.1:%d/" % server.port,
                       ca=server.certificate_pem)
        print(r.status, r.headers["content-type"], r.read())

Finding the library — the first that works, in this order:

1. the ``NHTTPS_LIBRARY`` environment variable: the path of the shared
   object (when set, nothing else is tried);
2. the package's own directory (``nhttps/libnhttps.so`` or ``.so.0``);
3. this repository's build output, ``build/lib`` at the repository root
   (``../../build/lib`` from ``bindings/python``), where ``make`` puts it —
   so ``PYTHONPATH=bindings/python python3 -c 'import nhttps'`` works in a
   built checkout;
4. the system loader: ``ctypes.util.find_library("nhttps")``, then
   ``libnhttps.so.0`` (``LD_LIBRARY_PATH``, ldconfig paths).

``nhttps.library_path`` tells which file was loaded, ``nhttps.library_version``
its version.

Threads and the GIL. The library is loaded with ``ctypes.CDLL``, so every
blocking call (server close, body reads and writes, a client waiting for its
response) releases the GIL. Listeners are called on nhttps's connection
threads — one per connection, several at once — through ctypes callbacks,
which take the GIL; listeners must be thread-safe. The callback objects are
kept referenced by their server for as long as native code may call them.

Handlers. ``handler(req, res)`` must end the response with ``res.end()``,
exactly once, from any thread, possibly after returning (Node's semantics:
**a handler that returns without ending leaves the response open** and the
connection waits). A response that nothing references any more without
having been ended is answered ``500`` with a logged warning. An exception in
a handler is logged with its traceback (logger ``"nhttps"``; printed on
stderr when logging is not configured) and answered ``500`` if nothing was
sent yet (if the head was already sent, the response is ended as it is) —
never a crash or a hung connection; the server keeps serving.

Interpreter exit. A native thread that calls into Python while the
interpreter finalizes aborts the process, so an ``atexit`` hook closes every
server still listening (first answering ``503`` to responses whose handler
returned without ending them; handlers still running are waited for) and
every Agent. Exiting without ``server.close()`` is therefore safe. A daemon
thread still inside a call into libnhttps is waited for, at most a second,
before OpenSSL's cleanup at ``exit()``.

Options use Node's names in snake_case (``request_cert``,
``reject_unauthorized``, ``max_sockets``...). Durations are in **seconds**
(``keep_alive_timeout``, ``timeout``, ``free_socket_timeout``), as
elsewhere in Python. TLS material (``key``, ``cert``, ``ca``): bytes are the
PEM content; a str is PEM content if it contains ``-----BEGIN``, otherwise a
file path; a ``pathlib.Path`` is a file path.

Errors raise subclasses of ``nhttps.Error`` carrying ``code`` (the
``nhttps_result_name``, e.g. ``"NHTTPS_ERR_CONNECTION_REFUSED"``),
``result`` (its number) and ``message`` (``nhttps_last_error_message``).
"""

import atexit as _atexit
import logging as _logging

from . import _lib
from .errors import (AddressInUseError, CertificateError,  # noqa: F401
                     CertificateVerifyError, ConnectionClosedError,
                     ConnectionRefusedError, DNSError, Error, HTTPParseError,
                     InvalidArgumentError, InvalidStateError, IoError,
                     NullArgumentError, PanicError, PassphraseError,
                     PrivateKeyError, TimeoutError, TLSError,
                     TLSHandshakeError, UnsupportedError, result_name)
from ._common import PeerCertificate, SocketInfo  # noqa: F401
from .server import (IncomingMessage, Server, ServerResponse,  # noqa: F401
                     UpgradedSocket, create_server)
from .client import (Agent, ClientRequest, Response, get,  # noqa: F401
                     global_agent, request)
from . import server as _server
from . import client as _client

__version__ = "0.1.0"
library_path = _lib.path
library_version = _lib.version

__all__ = [
    "create_server", "Server", "IncomingMessage", "ServerResponse",
    "UpgradedSocket", "SocketInfo", "PeerCertificate",
    "request", "get", "ClientRequest", "Response", "Agent", "global_agent",
    "Error", "NullArgumentError", "InvalidArgumentError", "InvalidStateError",
    "IoError", "AddressInUseError", "PrivateKeyError", "CertificateError",
    "PassphraseError", "TLSError", "TLSHandshakeError", "HTTPParseError",
    "ConnectionClosedError", "TimeoutError", "UnsupportedError", "PanicError",
    "DNSError", "ConnectionRefusedError", "CertificateVerifyError",
    "result_name", "library_path", "library_version",
]

# No handler is added to the "nhttps" logger: unless the application
# configures logging, logging's last-resort handler prints to stderr.
_logging.getLogger("nhttps")


def _at_exit():
    _server.close_all_at_exit()
    _client.close_all_agents()


# Registered after `logging` was imported, so it runs before logging's own
# atexit shutdown (atexit runs hooks in reverse order).
_atexit.register(_at_exit)
