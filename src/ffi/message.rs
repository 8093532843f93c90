//! `nhttps_incoming_message` (Node's `IncomingMessage`, a server's request
//! or a client's response) and `nhttps_socket_info` (the socket's addresses
//! and TLS facts).

use std::ffi::{CString, c_char};

use super::error::{fail, nhttps_result};
use super::handle::{box_castable, into_raw, lend, ref_castable, take};
use super::macros::{ffi_boundary, try_core, try_out, try_ref, try_slice, try_str};
use super::socket::nhttps_socket;
use crate::error::Error;
use crate::server::{IncomingMessage, SocketInfo};

/// A server's request or a client's response (Node's `IncomingMessage`).
/// A request belongs to nhttps: it is valid until its response ends
/// (`nhttps_server_response_end`), or during the `upgrade` callback. A
/// client's response belongs to the caller, who frees it with
/// `nhttps_incoming_message_free`. Every string it returns is borrowed
/// from it and valid as long as it is.
pub struct nhttps_incoming_message {
    _private: [u8; 0],
}
box_castable!(nhttps_incoming_message => IncomingMessage);

/// What is known about a connection: addresses and TLS details. It is
/// borrowed from the message, socket or callback that gave it, and
/// valid as long as that is; so is every string it returns.
pub struct nhttps_socket_info {
    _private: [u8; 0],
}
ref_castable!(nhttps_socket_info => SocketInfo);

/// The request method, e.g. "GET" ("" for a response). NULL if `message` is NULL.
/// Borrowed from `message`, valid as long as it is (a request: until its
/// response ends, or during `upgrade`; a client's response: until
/// `nhttps_incoming_message_free`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_method(
    message: *const nhttps_incoming_message,
) -> *const c_char {
    ffi_boundary! { try_ref!(message).method_cstr().as_ptr() }
}

/// The request target as sent, e.g. "/index.html?page=12" ("" for a response).
/// Borrowed from `message`, valid as long as it is (a request: until its
/// response ends, or during `upgrade`; a client's response: until
/// `nhttps_incoming_message_free`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_url(
    message: *const nhttps_incoming_message,
) -> *const c_char {
    ffi_boundary! { try_ref!(message).url_cstr().as_ptr() }
}

/// A response's status code (Node's `statusCode`); 0 for a request.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_status_code(
    message: *const nhttps_incoming_message,
) -> u16 {
    ffi_boundary! { try_ref!(message).status() }
}

/// A response's reason phrase (Node's `statusMessage`); "" for a request.
/// Borrowed from `message`, valid as long as it is (a request: until its
/// response ends, or during `upgrade`; a client's response: until
/// `nhttps_incoming_message_free`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_status_message(
    message: *const nhttps_incoming_message,
) -> *const c_char {
    ffi_boundary! { try_ref!(message).status_message().as_ptr() }
}

/// Node's `httpVersion`: "1.1" or "1.0", a static string (never free it).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_http_version(
    message: *const nhttps_incoming_message,
) -> *const c_char {
    ffi_boundary! {
        match try_ref!(message).version() {
            crate::http::Version::Http10 => c"1.0".as_ptr(),
            crate::http::Version::Http11 => c"1.1".as_ptr(),
        }
    }
}

/// The first value of header `name`, matched in any case, or NULL when the
/// request has no such header. For every value of a repeated header, use
/// `nhttps_incoming_message_header_at`. `name` is read now, not kept; the
/// value is borrowed from `message`, valid as long as it is (a request:
/// until its response ends, or during `upgrade`; a client's response: until
/// `nhttps_incoming_message_free`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_header(
    message: *const nhttps_incoming_message,
    name: *const c_char,
) -> *const c_char {
    ffi_boundary! {
        let message = try_ref!(message);
        message.header(try_str!(name)).map_or(std::ptr::null(), |v| v.as_ptr())
    }
}

/// How many header fields the request has (Node's `rawHeaders.length / 2`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_header_count(
    message: *const nhttps_incoming_message,
) -> usize {
    ffi_boundary! { try_ref!(message).headers().len() }
}

/// The `index`th header field in the order received, duplicates kept,
/// names as the client spelled them. `*name_out` and `*value_out` are
/// borrowed from `message`. `NHTTPS_ERR_INVALID_ARGUMENT` when `index` is
/// out of range.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_header_at(
    message: *const nhttps_incoming_message,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let message = try_ref!(message);
        let (name_out, value_out) = (try_out!(name_out), try_out!(value_out));
        let Some(field) = message.headers().get(index) else {
            return fail(Error::invalid(format!(
                "header index {index} is out of range (the request has {})",
                message.headers().len()
            )));
        };
        *name_out = field.name.as_ptr();
        *value_out = field.value.as_ptr();
        nhttps_result::NHTTPS_OK
    }
}

/// Every header field at once, for a binding that would otherwise cross
/// into the library once per field (Python's ctypes, Ruby's ffi):
/// `*fields_out` points to `*len_out` bytes holding each field's name and
/// value in the order received, each followed by a NUL (name, NUL, value,
/// NUL, name, ...); names and values never contain NUL. Nothing is
/// copied: the bytes are borrowed from `message` and valid as long as it is
/// (a request: until its response ends; a client response: until
/// `nhttps_incoming_message_free`). Not in Node.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_header_block(
    message: *const nhttps_incoming_message,
    fields_out: *mut *const u8,
    len_out: *mut usize,
) -> nhttps_result {
    ffi_boundary! {
        let message = try_ref!(message);
        let (fields_out, len_out) = (try_out!(fields_out), try_out!(len_out));
        let block = message.headers().as_bytes();
        *fields_out = block.as_ptr();
        *len_out = block.len();
        nhttps_result::NHTTPS_OK
    }
}

/// Not in Node: the request as CGI/1.1 meta-variables (RFC 3875) and
/// Apache mod_ssl's TLS variables, for a gateway (WSGI, Rack, a CGI host)
/// to read in one call: `*block_out` points at `*len_out` bytes of pairs,
/// each name and each value followed by a NUL — `REQUEST_METHOD`,
/// `REQUEST_URI` (the target as sent), `QUERY_STRING`, `SERVER_PROTOCOL`,
/// `REMOTE_ADDR`, `REMOTE_PORT`, `SERVER_NAME` and `SERVER_PORT` (from the
/// first Host header, else the connection's local address and port), one
/// variable per header name (`CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTP_*`;
/// repeated fields joined with ", "; names with `_` left out), `HTTPS`
/// ("on"), `SSL_PROTOCOL`, `SSL_CIPHER`, `SSL_TLS_SNI` (when sent),
/// `SSL_CLIENT_VERIFY` ("NONE", "SUCCESS", "FAILED:reason") and, with a
/// client certificate, `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN` (RFC 2253, as
/// mod_ssl: "CN=alice,O=Example"),
/// `SSL_CLIENT_M_SERIAL`, `SSL_CLIENT_CERT` (PEM). Header values are the
/// bytes received; PATH_INFO is the gateway's to derive from REQUEST_URI
/// (decoded for WSGI, as sent for Rack). The block is made at the first
/// call and is borrowed from `message`: nothing is copied, and the bytes
/// stay valid and unchanged as long as `message` is (a request: until its
/// response ends; a client response: until `nhttps_incoming_message_free`). For a client's response the
/// request's variables are empty.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_cgi_variables(
    message: *const nhttps_incoming_message,
    block_out: *mut *const u8,
    len_out: *mut usize,
) -> nhttps_result {
    ffi_boundary! {
        let message = try_ref!(message);
        let (block_out, len_out) = (try_out!(block_out), try_out!(len_out));
        let block = message.cgi_variables();
        *block_out = block.as_ptr();
        *len_out = block.len();
        nhttps_result::NHTTPS_OK
    }
}

/// Reads up to `capacity` bytes of the request body into `buffer`, blocking
/// until some arrive; `*read_out` tells how many, and 0 means the body has
/// ended. Chunked framing is undone. `buffer` is written, not kept. With
/// `Expect: 100-continue`, the first read sends `100 Continue` if the
/// handler has not. May be called from any thread while `message` is valid
/// (a request: until its response ends; a client's response: until
/// `nhttps_incoming_message_free`), but not from two at once.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_read(
    message: *const nhttps_incoming_message,
    buffer: *mut u8,
    capacity: usize,
    read_out: *mut usize,
) -> nhttps_result {
    ffi_boundary! {
        let message = try_ref!(message);
        let read_out = try_out!(read_out);
        let buffer = try_slice!(mut buffer, capacity);
        *read_out = 0;
        if buffer.is_empty() {
            return nhttps_result::NHTTPS_OK;
        }
        *read_out = try_core!(message.read(buffer));
        nhttps_result::NHTTPS_OK
    }
}

/// The connection the message came on. Borrowed from `message`, valid as
/// long as it is (a request: until its response ends, or during `upgrade`;
/// a client's response: until `nhttps_incoming_message_free`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_socket(
    message: *const nhttps_incoming_message,
) -> *const nhttps_socket_info {
    ffi_boundary! { lend::<nhttps_socket_info>(try_ref!(message).socket()) }
}

/// Frees a response received by the client (`_end`, `_end_async`,
/// `nhttps_get`). Its connection goes back to the agent if the body was
/// read to the end and the connection can be reused; otherwise it is
/// closed. NULL is a no-op. Never call it on a request given to a server
/// callback — those belong to nhttps.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_free(message: *mut nhttps_incoming_message) {
    ffi_boundary! { drop(unsafe { take(message) }) }
}

/// For a `101 Switching Protocols` response received by the client (e.g. a
/// WebSocket handshake): takes over its connection. `*socket_out` is the
/// caller's, to free with `nhttps_socket_free`; bytes the server sent
/// right after its head come out of the socket's first reads. The response
/// may be freed before or after. `NHTTPS_ERR_INVALID_STATE` for any other
/// response, when taken already, or on a plain "http:" connection (only
/// TLS connections can be taken over).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_incoming_message_upgrade(
    message: *mut nhttps_incoming_message,
    socket_out: *mut *mut nhttps_socket,
) -> nhttps_result {
    ffi_boundary! {
        let message = try_ref!(message);
        let socket_out = try_out!(socket_out);
        let Some(socket) = message.upgrade() else {
            if message.status() == 101 && message.socket().tls_version.is_none() {
                return fail(Error::state("a plain http: connection cannot be taken over (only TLS connections can)"));
            }
            return fail(Error::state("not a 101 response received by the client, or already taken"));
        };
        *socket_out = into_raw::<nhttps_socket>(socket);
        nhttps_result::NHTTPS_OK
    }
}

fn opt_ptr(value: &Option<CString>) -> *const c_char {
    value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())
}

/// The peer's IP address as text, or NULL on a unix socket.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_remote_address(
    info: *const nhttps_socket_info,
) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).remote_address) }
}

/// The peer's port (0 on a unix socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_remote_port(info: *const nhttps_socket_info) -> u16 {
    ffi_boundary! { try_ref!(info).remote_port }
}

/// Our IP address as text, or the socket's path on a unix socket.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_local_address(
    info: *const nhttps_socket_info,
) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).local_address) }
}

/// Our port (0 on a unix socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_local_port(info: *const nhttps_socket_info) -> u16 {
    ffi_boundary! { try_ref!(info).local_port }
}

/// The TLS version, e.g. "TLSv1.3"; NULL before the handshake, and on a
/// plain "http:" client connection.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_tls_version(info: *const nhttps_socket_info) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).tls_version) }
}

/// The cipher suite's OpenSSL name; NULL before the handshake, and on a
/// plain "http:" client connection.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_cipher(info: *const nhttps_socket_info) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).cipher) }
}

/// The server name the client sent (SNI), or NULL.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_servername(info: *const nhttps_socket_info) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).servername) }
}

/// The ALPN protocol agreed on, or NULL.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_alpn_protocol(
    info: *const nhttps_socket_info,
) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).alpn_protocol) }
}

/// Node's `socket.authorized`: true when a client certificate was asked
/// for (`requestCert`) and it verified against the CAs. False otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_authorized(info: *const nhttps_socket_info) -> bool {
    ffi_boundary! { try_ref!(info).authorized }
}

/// Node's `socket.authorizationError` when a client certificate was asked
/// for and did not verify, e.g. "DEPTH_ZERO_SELF_SIGNED_CERT", or
/// "UNABLE_TO_GET_ISSUER_CERT" when the client sent none. NULL otherwise.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_authorization_error(
    info: *const nhttps_socket_info,
) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).authorization_error) }
}

/// The common name (CN) of the client certificate's subject, or NULL when
/// there is none.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_peer_common_name(
    info: *const nhttps_socket_info,
) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).peer_common_name) }
}

/// The NPN protocol agreed on, or NULL.
/// Borrowed from `info`, valid as long as it is (during the callback that
/// gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_npn_protocol(
    info: *const nhttps_socket_info,
) -> *const c_char {
    ffi_boundary! { opt_ptr(&try_ref!(info).npn_protocol) }
}

/// Node's `isSessionReused()`: whether the TLS session was resumed (by
/// session id or ticket) rather than fully negotiated.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_session_reused(info: *const nhttps_socket_info) -> bool {
    ffi_boundary! { try_ref!(info).session_reused }
}

/// On a response received by the client: whether its connection came from
/// the agent's pool (reused) rather than being opened for it.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_reused_connection(info: *const nhttps_socket_info) -> bool {
    ffi_boundary! { try_ref!(info).reused_connection }
}
