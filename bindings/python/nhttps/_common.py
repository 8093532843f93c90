"""Helpers shared by the server and the client: text encoding, the
"PEM or path" rule, Node's header folding, connection facts."""

import ctypes
import os

from . import _lib
from .errors import check

fn = _lib.fn

# Node's IncomingMessage drops duplicates of these (the first value wins).
_DROP_DUPLICATES = frozenset((
    "age", "authorization", "content-length", "content-type", "etag",
    "expires", "from", "host", "if-modified-since", "if-unmodified-since",
    "last-modified", "location", "max-forwards", "proxy-authorization",
    "referer", "retry-after", "server", "user-agent",
))


def cstr(value, what="value"):
    """A str/bytes/PathLike argument as NUL-free bytes for a `const char *`."""
    if value is None:
        return None
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, os.PathLike):
        data = os.fsencode(value)
    else:
        data = str(value).encode("utf-8")
    if b"\0" in data:
        raise ValueError("%s contains a NUL character" % what)
    return data


def header_bytes(value, what="header"):
    """A header name or value as bytes: Latin-1 when it fits (HTTP's
    historical charset, what Node writes), else UTF-8."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    else:
        text = value if isinstance(value, str) else str(value)
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            data = text.encode("utf-8")
    if b"\0" in data:
        raise ValueError("%s contains a NUL character" % what)
    return data


def body_bytes(data):
    """Body data (bytes-like or str, which is UTF-8 encoded) as bytes."""
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(memoryview(data))


def text(value, encoding="utf-8"):
    """A copied C string (bytes or None) as str (or None)."""
    if value is None:
        return None
    return value.decode(encoding, "replace")


def pem_or_path(value, what):
    """The rule for key/cert/ca/pfx options: returns ("pem", bytes) or
    ("file", bytes path).

    - bytes, bytearray or memoryview: the content itself (PEM; DER for pfx);
    - a str containing "-----BEGIN": PEM content;
    - any other str, or an os.PathLike (pathlib.Path): a file path, read
      when the server or request is created.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "pem", bytes(value)
    if isinstance(value, str):
        if "-----BEGIN" in value:
            return "pem", value.encode("utf-8")
        return "file", cstr(value, what)
    if isinstance(value, os.PathLike):
        return "file", cstr(value, what)
    raise TypeError("%s must be bytes, str (PEM or a path) or a path, not %s"
                    % (what, type(value).__name__))


def as_list(value):
    """None -> [], a list/tuple -> list, anything else -> [value]."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def set_pem_or_file(value, what, set_pem, set_file, obj):
    kind, data = pem_or_path(value, what)
    if kind == "pem":
        check(set_pem(obj, data, len(data)))
    else:
        check(set_file(obj, data))


def fold_headers(raw):
    """Node's `message.headers` from [(name, value), ...]: lowercase names;
    duplicates joined with ", " (`cookie` with "; "); `set-cookie` always a
    list; duplicates of single-valued fields (content-type, host, ...)
    dropped, the first kept."""
    headers = {}
    for name, value in raw:
        key = name.lower()
        if key == "set-cookie":
            headers.setdefault(key, []).append(value)
        elif key not in headers:
            headers[key] = value
        elif key in _DROP_DUPLICATES:
            continue
        elif key == "cookie":
            headers[key] += "; " + value
        else:
            headers[key] += ", " + value
    return headers


def read_body(message, n):
    """Up to `n` bytes of an incoming message's body, blocking until some
    arrive (the GIL is released meanwhile); b"" at its end."""
    buf = ctypes.create_string_buffer(n)
    got = ctypes.c_size_t(0)
    check(fn.incoming_message_read(message, buf, n, ctypes.byref(got)))
    return buf.raw[:got.value]


def read_raw_headers(message):
    """[(name, value), ...] of an incoming message, in order, duplicates
    kept, names as sent; values decoded as Latin-1 (as Node and http.client
    do: lossless for any byte). One call into the library for them all."""
    block = ctypes.c_void_p()
    size = ctypes.c_size_t()
    check(fn.incoming_message_header_block(message, ctypes.byref(block), ctypes.byref(size)))
    if not size.value:
        return []
    parts = ctypes.string_at(block.value, size.value).decode("latin-1").split("\0")
    return list(zip(parts[0:-1:2], parts[1:-1:2]))


class PeerCertificate:
    """Node's `getPeerCertificate()` facts, copied from the connection."""

    __slots__ = ("subject", "issuer", "serial_number", "valid_from", "valid_to",
                 "fingerprint256", "subjectaltname", "pem")

    def __init__(self, cert):
        self.subject = text(fn.certificate_subject(cert))
        self.issuer = text(fn.certificate_issuer(cert))
        self.serial_number = text(fn.certificate_serial_number(cert))
        self.valid_from = text(fn.certificate_valid_from(cert))
        self.valid_to = text(fn.certificate_valid_to(cert))
        self.fingerprint256 = text(fn.certificate_fingerprint256(cert))
        self.subjectaltname = text(fn.certificate_subject_alt_names(cert))
        self.pem = text(fn.certificate_pem(cert))

    def __repr__(self):
        return "<PeerCertificate subject=%r issuer=%r>" % (self.subject, self.issuer)


class SocketInfo:
    """What is known about a connection (Node's `req.socket` facts), copied
    when the message or event arrives, so it stays usable afterwards.

    Attributes: remote_address, remote_port, local_address, local_port,
    tls_version ("TLSv1.3"), cipher, servername (SNI), alpn (alias
    alpn_protocol), npn_protocol, authorized, authorization_error,
    peer_common_name, peer_certificate (PeerCertificate or None),
    session_reused, reused_connection (client responses: the connection
    came from the agent's pool).
    """

    __slots__ = ("remote_address", "remote_port", "local_address", "local_port",
                 "tls_version", "cipher", "servername", "alpn", "npn_protocol",
                 "authorized", "authorization_error", "peer_common_name",
                 "peer_certificate", "session_reused", "reused_connection")

    def __init__(self, info):
        self.remote_address = text(fn.socket_info_remote_address(info))
        self.remote_port = fn.socket_info_remote_port(info)
        self.local_address = text(fn.socket_info_local_address(info))
        self.local_port = fn.socket_info_local_port(info)
        self.tls_version = text(fn.socket_info_tls_version(info))
        self.cipher = text(fn.socket_info_cipher(info))
        self.servername = text(fn.socket_info_servername(info))
        self.alpn = text(fn.socket_info_alpn_protocol(info))
        self.npn_protocol = text(fn.socket_info_npn_protocol(info))
        self.authorized = bool(fn.socket_info_authorized(info))
        self.authorization_error = text(fn.socket_info_authorization_error(info))
        self.peer_common_name = text(fn.socket_info_peer_common_name(info))
        cert = fn.socket_info_peer_certificate(info)
        self.peer_certificate = PeerCertificate(cert) if cert else None
        self.session_reused = bool(fn.socket_info_session_reused(info))
        self.reused_connection = bool(fn.socket_info_reused_connection(info))

    @classmethod
    def from_ptr(cls, info):
        return cls(info) if info else None

    @property
    def alpn_protocol(self):
        return self.alpn

    @property
    def encrypted(self):
        return self.tls_version is not None

    def get_peer_certificate(self):
        """Node's `socket.getPeerCertificate()`: a PeerCertificate, or None."""
        return self.peer_certificate

    def get_protocol(self):
        """Node's `socket.getProtocol()`: e.g. "TLSv1.3"."""
        return self.tls_version

    def __repr__(self):
        return "<SocketInfo %s:%s %s>" % (self.remote_address, self.remote_port,
                                          self.tls_version)
