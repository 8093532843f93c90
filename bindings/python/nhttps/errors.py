"""nhttps.Error and its subclasses, one per ``nhttps_result`` code.

Every error carries what the C library said:

- ``result``: the numeric ``nhttps_result`` (e.g. 17),
- ``code`` (alias ``result_name``): its name from ``nhttps_result_name``
  (e.g. ``"NHTTPS_ERR_CONNECTION_REFUSED"``),
- ``message``: the detail from ``nhttps_last_error_message`` (or from
  ``nhttps_error_message`` for errors handed to ``clientError`` listeners),
- ``reason``: Node's code when the message holds one
  (``"DEPTH_ZERO_SELF_SIGNED_CERT"``, ``"CERT_HAS_EXPIRED"``...), else None,
- ``http_status``: for errors given to ``clientError`` listeners, the status
  the server answers with (400, 431, 505...; 0 for none), else None.

Where a builtin exception means the same thing the class also derives from
it, so ``except ConnectionRefusedError`` or ``except TimeoutError`` catch
nhttps's as well.
"""

import builtins
import re

from . import _lib

__all__ = [
    "Error", "NullArgumentError", "InvalidArgumentError", "InvalidStateError",
    "IoError", "AddressInUseError", "PrivateKeyError", "CertificateError",
    "PassphraseError", "TLSError", "TLSHandshakeError", "HTTPParseError",
    "ConnectionClosedError", "TimeoutError", "UnsupportedError", "PanicError",
    "DNSError", "ConnectionRefusedError", "CertificateVerifyError",
]


class Error(Exception):
    """Base class of every error nhttps raises."""

    def __init__(self, message, result=None, code=None, http_status=None):
        super().__init__(message)
        self.message = message
        self.result = result
        if code is None and result is not None:
            code = result_name(result)
        self.code = code
        self.http_status = http_status
        # Node's code, e.g. "DEPTH_ZERO_SELF_SIGNED_CERT: certificate
        # verification failed: self-signed certificate".
        m = re.search(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", message or "")
        self.reason = m.group(1) if m else None

    @property
    def result_name(self):
        return self.code

    def __str__(self):
        if self.code:
            return "%s: %s" % (self.code, self.message)
        return str(self.message)

    def __repr__(self):
        return "%s(%r, code=%r)" % (type(self).__name__, self.message, self.code)


class NullArgumentError(Error, ValueError):
    """NHTTPS_ERR_NULL_ARGUMENT: a required argument was missing."""


class InvalidArgumentError(Error, ValueError):
    """NHTTPS_ERR_INVALID_ARGUMENT: out of range, malformed or not UTF-8."""


class InvalidStateError(Error):
    """NHTTPS_ERR_INVALID_STATE: not allowed now (e.g. headers already sent,
    a response already ended, a closed server or agent)."""


class IoError(Error, OSError):
    """NHTTPS_ERR_IO: an operating-system I/O error."""


class AddressInUseError(Error, OSError):
    """NHTTPS_ERR_ADDRESS_IN_USE."""


class PrivateKeyError(Error):
    """NHTTPS_ERR_KEY: the private key could not be read or used."""


class CertificateError(Error):
    """NHTTPS_ERR_CERTIFICATE: a certificate could not be read or does not
    match the key."""


class PassphraseError(Error):
    """NHTTPS_ERR_PASSPHRASE: the key's passphrase is missing or wrong."""


class TLSError(Error):
    """NHTTPS_ERR_TLS: another failure of the TLS library."""


class TLSHandshakeError(TLSError):
    """NHTTPS_ERR_TLS_HANDSHAKE: a TLS handshake with a peer failed."""


class HTTPParseError(Error):
    """NHTTPS_ERR_HTTP_PARSE: the peer sent malformed HTTP."""


class ConnectionClosedError(Error, builtins.ConnectionError):
    """NHTTPS_ERR_CONNECTION_CLOSED: the connection closed too early."""


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - deliberate
    """NHTTPS_ERR_TIMEOUT (also a builtin TimeoutError)."""


class UnsupportedError(Error):
    """NHTTPS_ERR_UNSUPPORTED."""


class PanicError(Error):
    """NHTTPS_ERR_PANIC: a bug in nhttps, contained."""


class DNSError(Error, OSError):
    """NHTTPS_ERR_DNS: the host name could not be resolved."""


class ConnectionRefusedError(Error, builtins.ConnectionRefusedError):  # noqa: A001
    """NHTTPS_ERR_CONNECTION_REFUSED (also a builtin ConnectionRefusedError)."""


class CertificateVerifyError(TLSError):
    """NHTTPS_ERR_CERTIFICATE_VERIFY: the server's certificate did not
    verify; ``reason`` holds Node's code (DEPTH_ZERO_SELF_SIGNED_CERT...)."""


_BY_RESULT = {
    1: NullArgumentError, 2: InvalidArgumentError, 3: InvalidStateError,
    4: IoError, 5: AddressInUseError, 6: PrivateKeyError, 7: CertificateError,
    8: PassphraseError, 9: TLSError, 10: TLSHandshakeError, 11: HTTPParseError,
    12: ConnectionClosedError, 13: TimeoutError, 14: UnsupportedError,
    15: PanicError, 16: DNSError, 17: ConnectionRefusedError,
    18: CertificateVerifyError,
}


def result_name(result):
    """``nhttps_result_name``: e.g. 17 -> "NHTTPS_ERR_CONNECTION_REFUSED"."""
    return _lib.fn.result_name(int(result)).decode("ascii", "replace")


def error_for(result, message, http_status=None):
    """The exception for a result code and a message."""
    cls = _BY_RESULT.get(result, Error)
    return cls(message, result=result, http_status=http_status)


def last_error(result):
    """The exception for a failed call, with this thread's last message.

    Must be called on the thread that made the failing call, right after it
    (the message is per thread, and ctypes runs the call on this thread)."""
    message = _lib.fn.last_error_message()
    return error_for(result, message.decode("utf-8", "replace") if message else "")


def check(result):
    """Raises the matching Error unless ``result`` is NHTTPS_OK."""
    if result != 0:
        raise last_error(result)


def state_error(message):
    """A Python-side InvalidStateError (e.g. use after end/close)."""
    return InvalidStateError(message, result=3)
