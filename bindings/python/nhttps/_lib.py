"""Finding and loading libnhttps, and the C prototypes (ctypes).

Lookup order (the first that exists wins):

1. ``NHTTPS_LIBRARY``: a path to the shared object. When it is set, it is the
   only candidate: a wrong path is an ImportError, not a silent fallback.
2. The package's own directory (``nhttps/libnhttps.so*``), for wheels or
   installs that ship the library beside the Python files.
3. This repository's build output, ``<repo>/build/lib`` — that is
   ``../../build/lib`` relative to ``bindings/python``, where ``make`` puts it.
4. The system loader: ``ctypes.util.find_library("nhttps")``, then
   ``libnhttps.so.0`` (so ``LD_LIBRARY_PATH`` and ``ldconfig`` paths work).

The library is loaded with ``ctypes.CDLL``: a call releases the GIL while it
runs (blocking reads, ``nhttps_server_close``, a client waiting for its
response), so other Python threads — including the connection threads that
call back into Python — keep running; holding it there would deadlock.
The getters that only read what a message, its socket facts, a certificate
or an error already hold (``_KEEPS_GIL``) never wait: they go through a
``ctypes.PyDLL`` handle on the same library and keep the GIL, so that
reading a request does not hand the GIL to another thread some thirty times
(with fifty connection threads, each hand-over is a wait in line).
"""

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, c_bool, c_char_p, c_int, c_size_t,
                    c_uint16, c_uint32, c_void_p)

_NAMES = ("libnhttps.so", "libnhttps.so.0", "libnhttps.dylib", "nhttps.dll")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# bindings/python/nhttps -> bindings/python -> ../../build/lib
_REPO_BUILD_DIR = os.path.normpath(
    os.path.join(_PACKAGE_DIR, os.pardir, os.pardir, os.pardir, "build", "lib"))


def _candidates():
    """(description, path-or-name) pairs in lookup order, lazily (the
    system lookup may run ldconfig: only when the others failed)."""
    env = os.environ.get("NHTTPS_LIBRARY")
    if env:
        yield "NHTTPS_LIBRARY", env
        return
    for directory, what in ((_PACKAGE_DIR, "package directory"),
                            (_REPO_BUILD_DIR, "repository build output")):
        for name in _NAMES:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                yield what, path
    system = ctypes.util.find_library("nhttps")
    if system:
        yield "system loader (find_library)", system
    yield "system loader", "libnhttps.so.0"


def _load():
    errors = []
    for what, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("  %s: %s: %s" % (what, path, e))
    raise ImportError(
        "nhttps: cannot load libnhttps (build it with `make`, or set "
        "NHTTPS_LIBRARY to the path of libnhttps.so). Tried:\n" + "\n".join(errors))


lib, path = _load()
# The same library again (dlopen hands back the same handle), for the calls
# that keep the GIL.
pylib = ctypes.PyDLL(path)


def address(name):
    """The address of the library's function `name`, as an int (for
    nhttps._speedups, which calls it from C)."""
    return ctypes.cast(getattr(lib, name), c_void_p).value

# Functions that read only what their object already holds: no I/O, no
# lock another thread may hold while it waits for I/O or for Python.
_KEEPS_GIL = (
    "nhttps_result_name", "nhttps_version", "nhttps_last_error_message",
    "nhttps_error_code", "nhttps_error_message", "nhttps_error_http_status",
    "nhttps_incoming_message_method", "nhttps_incoming_message_url",
    "nhttps_incoming_message_status_code", "nhttps_incoming_message_status_message",
    "nhttps_incoming_message_http_version", "nhttps_incoming_message_header",
    "nhttps_incoming_message_header_count", "nhttps_incoming_message_header_at",
    "nhttps_incoming_message_header_block", "nhttps_incoming_message_socket",
    "nhttps_incoming_message_cgi_variables",
    # A response's head is only changed in memory (write_head encodes it;
    # it goes out with the first write). They take the response's own lock,
    # which another thread holds only while writing this same response.
    "nhttps_server_response_set_status", "nhttps_server_response_status",
    "nhttps_server_response_set_status_message", "nhttps_server_response_set_header",
    "nhttps_server_response_append_header", "nhttps_server_response_get_header",
    "nhttps_server_response_remove_header", "nhttps_server_response_headers_sent",
    "nhttps_server_response_write_head", "nhttps_server_response_set_head",
)
_KEEPS_GIL_PREFIXES = ("nhttps_socket_info_", "nhttps_certificate_")

# Opaque handles are plain void pointers.
P = c_void_p

class Stats(ctypes.Structure):
    """`nhttps_stats`: its size first (set it to sizeof), then the counters."""
    _fields_ = [("size", c_size_t)] + [(name, ctypes.c_uint64) for name in (
        "accepted", "open", "idle", "handshake_failures", "requests",
        "bytes_in", "bytes_out", "client_errors")]


# Callback types (nhttps.h). ctypes acquires the GIL (PyGILState_Ensure) when
# a native thread calls one of these.
REQUEST_CALLBACK = CFUNCTYPE(None, P, P, P)
CONNECTION_CALLBACK = CFUNCTYPE(c_bool, P, P)
UPGRADE_CALLBACK = CFUNCTYPE(None, P, P, P, P, c_size_t)
CLIENT_ERROR_CALLBACK = CFUNCTYPE(None, P, P, P)
SECURE_CONNECTION_CALLBACK = CFUNCTYPE(None, P, P)
KEYLOG_CALLBACK = CFUNCTYPE(None, P, c_char_p)
EVENT_CALLBACK = CFUNCTYPE(None, P)

R = c_int  # nhttps_result
B = c_char_p  # NUL-terminated string in, or a borrowed string out (copied at once)
U8 = c_char_p  # const uint8_t * with a separate length (bytes are passed)

_PROTOTYPES = {
    # results and errors
    "nhttps_result_name": (c_char_p, [c_int]),
    "nhttps_last_error_message": (c_char_p, []),
    "nhttps_version": (c_char_p, []),
    "nhttps_error_code": (R, [P]),
    "nhttps_error_message": (c_char_p, [P]),
    "nhttps_error_http_status": (c_uint16, [P]),
    # agent
    "nhttps_agent_options_new": (P, []),
    "nhttps_agent_options_free": (None, [P]),
    "nhttps_agent_options_set_max_sockets": (R, [P, c_uint32]),
    "nhttps_agent_options_set_max_total_sockets": (R, [P, c_uint32]),
    "nhttps_agent_options_set_max_free_sockets": (R, [P, c_uint32]),
    "nhttps_agent_options_set_keep_alive": (R, [P, c_bool]),
    "nhttps_agent_options_set_free_socket_timeout_ms": (R, [P, c_uint32]),
    "nhttps_agent_options_set_scheduling": (R, [P, B]),
    "nhttps_agent_new": (R, [P, POINTER(P)]),
    "nhttps_agent_free": (None, [P]),
    "nhttps_global_agent": (P, []),
    "nhttps_agent_stats": (R, [P, B, POINTER(c_size_t), POINTER(c_size_t),
                               POINTER(c_size_t)]),
    # request options
    "nhttps_request_options_new": (P, []),
    "nhttps_request_options_from_url": (R, [B, POINTER(P)]),
    "nhttps_request_options_free": (None, [P]),
    "nhttps_request_options_set_host": (R, [P, B]),
    "nhttps_request_options_set_hostname": (R, [P, B]),
    "nhttps_request_options_set_port": (R, [P, c_uint16]),
    "nhttps_request_options_set_socket_path": (R, [P, B]),
    "nhttps_request_options_set_method": (R, [P, B]),
    "nhttps_request_options_set_path": (R, [P, B]),
    "nhttps_request_options_add_header": (R, [P, B, B]),
    "nhttps_request_options_set_auth": (R, [P, B]),
    "nhttps_request_options_add_ca_pem": (R, [P, U8, c_size_t]),
    "nhttps_request_options_add_ca_file": (R, [P, B]),
    "nhttps_request_options_set_cert_file": (R, [P, B]),
    "nhttps_request_options_set_key_file": (R, [P, B]),
    "nhttps_request_options_set_cert_pem": (R, [P, U8, c_size_t]),
    "nhttps_request_options_set_key_pem": (R, [P, U8, c_size_t]),
    "nhttps_request_options_set_passphrase": (R, [P, B]),
    "nhttps_request_options_set_reject_unauthorized": (R, [P, c_bool]),
    "nhttps_request_options_set_servername": (R, [P, B]),
    "nhttps_request_options_set_min_version": (R, [P, B]),
    "nhttps_request_options_set_agent": (R, [P, P]),
    "nhttps_request_options_set_no_agent": (R, [P]),
    "nhttps_request_options_set_connect_timeout_ms": (R, [P, c_uint32]),
    "nhttps_request_options_set_timeout_ms": (R, [P, c_uint32]),
    # client request / response
    "nhttps_client_request_new": (R, [P, POINTER(P)]),
    "nhttps_client_request_write": (R, [P, U8, c_size_t]),
    "nhttps_client_request_free": (None, [P]),
    "nhttps_client_request_end": (R, [P, POINTER(P)]),
    "nhttps_incoming_message_free": (None, [P]),
    "nhttps_incoming_message_upgrade": (R, [P, POINTER(P)]),
    # incoming message
    "nhttps_incoming_message_method": (c_char_p, [P]),
    "nhttps_incoming_message_url": (c_char_p, [P]),
    "nhttps_incoming_message_status_code": (c_uint16, [P]),
    "nhttps_incoming_message_status_message": (c_char_p, [P]),
    "nhttps_incoming_message_http_version": (c_char_p, [P]),
    "nhttps_incoming_message_header": (c_char_p, [P, B]),
    "nhttps_incoming_message_header_count": (c_size_t, [P]),
    "nhttps_incoming_message_header_at": (R, [P, c_size_t, POINTER(c_char_p),
                                              POINTER(c_char_p)]),
    "nhttps_incoming_message_header_block": (R, [P, POINTER(c_void_p), POINTER(c_size_t)]),
    "nhttps_incoming_message_cgi_variables": (R, [P, POINTER(c_void_p), POINTER(c_size_t)]),
    "nhttps_incoming_message_read": (R, [P, c_void_p, c_size_t, POINTER(c_size_t)]),
    "nhttps_incoming_message_socket": (P, [P]),
    # socket info
    "nhttps_socket_info_remote_address": (c_char_p, [P]),
    "nhttps_socket_info_remote_port": (c_uint16, [P]),
    "nhttps_socket_info_local_address": (c_char_p, [P]),
    "nhttps_socket_info_local_port": (c_uint16, [P]),
    "nhttps_socket_info_tls_version": (c_char_p, [P]),
    "nhttps_socket_info_cipher": (c_char_p, [P]),
    "nhttps_socket_info_servername": (c_char_p, [P]),
    "nhttps_socket_info_alpn_protocol": (c_char_p, [P]),
    "nhttps_socket_info_authorized": (c_bool, [P]),
    "nhttps_socket_info_authorization_error": (c_char_p, [P]),
    "nhttps_socket_info_peer_common_name": (c_char_p, [P]),
    "nhttps_socket_info_npn_protocol": (c_char_p, [P]),
    "nhttps_socket_info_session_reused": (c_bool, [P]),
    "nhttps_socket_info_reused_connection": (c_bool, [P]),
    "nhttps_socket_info_peer_certificate": (P, [P]),
    "nhttps_certificate_subject": (c_char_p, [P]),
    "nhttps_certificate_issuer": (c_char_p, [P]),
    "nhttps_certificate_serial_number": (c_char_p, [P]),
    "nhttps_certificate_valid_from": (c_char_p, [P]),
    "nhttps_certificate_valid_to": (c_char_p, [P]),
    "nhttps_certificate_fingerprint256": (c_char_p, [P]),
    "nhttps_certificate_subject_alt_names": (c_char_p, [P]),
    "nhttps_certificate_pem": (c_char_p, [P]),
    # server options
    "nhttps_server_options_new": (P, []),
    "nhttps_server_options_free": (None, [P]),
    "nhttps_server_options_set_key_pem": (R, [P, U8, c_size_t]),
    "nhttps_server_options_set_key_file": (R, [P, B]),
    "nhttps_server_options_set_cert_pem": (R, [P, U8, c_size_t]),
    "nhttps_server_options_set_cert_file": (R, [P, B]),
    "nhttps_server_options_set_passphrase": (R, [P, B]),
    "nhttps_server_options_add_ca_pem": (R, [P, U8, c_size_t]),
    "nhttps_server_options_add_ca_file": (R, [P, B]),
    "nhttps_server_options_set_request_cert": (R, [P, c_bool]),
    "nhttps_server_options_set_reject_unauthorized": (R, [P, c_bool]),
    "nhttps_server_options_use_dev_certificate": (R, [P]),
    "nhttps_server_options_set_max_connections": (R, [P, c_uint32]),
    "nhttps_server_options_set_keep_alive_timeout_ms": (R, [P, c_uint32]),
    "nhttps_server_options_set_headers_timeout_ms": (R, [P, c_uint32]),
    "nhttps_server_options_set_request_timeout_ms": (R, [P, c_uint32]),
    "nhttps_server_options_set_handshake_timeout_ms": (R, [P, c_uint32]),
    "nhttps_server_options_set_max_requests_per_socket": (R, [P, c_uint32]),
    "nhttps_server_options_set_max_connections_per_ip": (R, [P, c_uint32]),
    "nhttps_server_options_set_thread_stack_size": (R, [P, c_size_t]),
    "nhttps_server_options_set_max_header_size": (R, [P, c_size_t]),
    "nhttps_server_options_set_min_version": (R, [P, B]),
    "nhttps_server_options_set_max_version": (R, [P, B]),
    "nhttps_server_options_set_ciphers": (R, [P, B]),
    "nhttps_server_options_set_ciphersuites": (R, [P, B]),
    "nhttps_server_options_set_ecdh_curve": (R, [P, B]),
    "nhttps_server_options_set_honor_cipher_order": (R, [P, c_bool]),
    "nhttps_server_options_set_alpn_protocols": (R, [P, POINTER(c_char_p), c_size_t]),
    "nhttps_server_options_set_session_id_context": (R, [P, U8, c_size_t]),
    "nhttps_server_options_set_pfx": (R, [P, U8, c_size_t]),
    "nhttps_server_options_set_pfx_file": (R, [P, B]),
    "nhttps_server_options_set_ocsp_response": (R, [P, U8, c_size_t]),
    "nhttps_server_options_set_ocsp_response_file": (R, [P, B]),
    "nhttps_server_options_set_session_cache_size": (R, [P, c_uint32]),
    "nhttps_server_options_set_session_timeout": (R, [P, c_uint32]),
    "nhttps_server_options_set_tickets": (R, [P, c_bool]),
    "nhttps_server_options_set_ticket_keys": (R, [P, U8, c_size_t]),
    # server response
    "nhttps_server_response_set_status": (R, [P, c_uint16]),
    "nhttps_server_response_set_status_message": (R, [P, B]),
    "nhttps_server_response_set_header": (R, [P, B, B]),
    "nhttps_server_response_append_header": (R, [P, B, B]),
    "nhttps_server_response_get_header": (c_char_p, [P, B]),
    "nhttps_server_response_remove_header": (R, [P, B]),
    "nhttps_server_response_headers_sent": (c_bool, [P]),
    "nhttps_server_response_write_head": (R, [P, c_uint16, B]),
    "nhttps_server_response_set_head": (R, [P, c_uint16, B, B, c_size_t]),
    "nhttps_server_response_write": (R, [P, U8, c_size_t]),
    "nhttps_server_response_write_continue": (R, [P]),
    "nhttps_server_response_end": (R, [P, U8, c_size_t]),
    "nhttps_server_response_destroy": (R, [P]),
    # server
    "nhttps_server_new": (R, [P, POINTER(P)]),
    "nhttps_server_free": (None, [P]),
    "nhttps_server_on_request": (R, [P, REQUEST_CALLBACK, P]),
    "nhttps_server_on_check_continue": (R, [P, REQUEST_CALLBACK, P]),
    "nhttps_server_on_connection": (R, [P, CONNECTION_CALLBACK, P]),
    "nhttps_server_on_upgrade": (R, [P, UPGRADE_CALLBACK, P]),
    "nhttps_server_on_client_error": (R, [P, CLIENT_ERROR_CALLBACK, P]),
    "nhttps_server_on_tls_client_error": (R, [P, CLIENT_ERROR_CALLBACK, P]),
    "nhttps_server_on_secure_connection": (R, [P, SECURE_CONNECTION_CALLBACK, P]),
    "nhttps_server_on_keylog": (R, [P, KEYLOG_CALLBACK, P]),
    "nhttps_server_on_close": (R, [P, EVENT_CALLBACK, P]),
    "nhttps_server_on_listening": (R, [P, EVENT_CALLBACK, P]),
    "nhttps_server_on_thread_exit": (R, [P, EVENT_CALLBACK, P]),
    "nhttps_server_listen": (R, [P, B, c_uint16]),
    "nhttps_server_listen_unix": (R, [P, B]),
    "nhttps_server_port": (c_uint16, [P]),
    "nhttps_server_certificate_pem": (c_char_p, [P]),
    "nhttps_server_close": (R, [P]),
    "nhttps_server_listen_fd": (R, [P, c_int]),
    "nhttps_server_stats": (R, [P, c_void_p]),
    "nhttps_server_options_set_reuse_port": (R, [P, c_bool]),
    "nhttps_server_options_set_proxy_protocol": (R, [P, c_bool]),
    "nhttps_server_queue_requests": (R, [P]),
    "nhttps_server_take_request": (R, [P, c_int, POINTER(P), POINTER(P)]),
    # upgraded sockets
    "nhttps_socket_read": (R, [P, c_void_p, c_size_t, POINTER(c_size_t)]),
    "nhttps_socket_write": (R, [P, U8, c_size_t]),
    "nhttps_socket_close": (R, [P]),
    "nhttps_socket_free": (None, [P]),
    "nhttps_socket_get_info": (P, [P]),
}


class _Functions:
    """The prototyped C functions as attributes, named without `nhttps_`."""


fn = _Functions()
for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _keeps_gil = _name in _KEEPS_GIL or _name.startswith(_KEEPS_GIL_PREFIXES)
    try:
        _f = getattr(pylib if _keeps_gil else lib, _name)
    except AttributeError:
        raise ImportError("nhttps: %s lacks %s: the library is older than this "
                          "binding (rebuild it with `make`)" % (path, _name)) from None
    _f.restype = _restype
    _f.argtypes = _argtypes
    setattr(fn, _name[len("nhttps_"):], _f)
del _name, _restype, _argtypes, _f, _keeps_gil

# Two calls that do not wait in these uses, through the GIL-keeping handle:
# nhttps_server_take_request with a timeout of 0 (a taker that finds the
# next request there goes on without handing the GIL to another thread),
# and nhttps_server_response_end of a taken request with at most
# FRAMED_END_MAX bytes (nhttps's threads send them).
fn.server_poll_request = pylib.nhttps_server_take_request
fn.server_poll_request.restype = R
fn.server_poll_request.argtypes = fn.server_take_request.argtypes
fn.server_response_end_framed = pylib.nhttps_server_response_end
fn.server_response_end_framed.restype = R
fn.server_response_end_framed.argtypes = fn.server_response_end.argtypes
FRAMED_END_MAX = 16 * 1024

version = fn.version().decode("ascii")
