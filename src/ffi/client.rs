//! `nhttps_request_options`, `nhttps_client_request` and `nhttps_get`:
//! Node's `https.request` and `https.get` (and `http.request` / `http.get`
//! through the `protocol` option or an `http://` URL).

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::agent::nhttps_agent;
use super::error::{ClientError, fail, nhttps_error, nhttps_result};
use super::handle::{arc_clone, box_castable, into_raw, lend, take};
use super::macros::{
    ffi_boundary, null_argument, str_arg, try_core, try_handle, try_mut, try_out, try_ref,
    try_slice, try_str,
};
use super::message::nhttps_incoming_message;
use super::userdata::Userdata;
use crate::client::{AgentChoice, ClientRequest, Protocol, RequestOptions};
use crate::tls::{TlsVersion, read_file};

/// Options for `nhttps_client_request_new` (Node's `https.request(options)`).
/// Made by `nhttps_request_options_new` or `_from_url`, freed by
/// `nhttps_request_options_free`; copied by `nhttps_client_request_new`.
/// Every setter takes a value in its documented range or refuses it with
/// `NHTTPS_ERR_INVALID_ARGUMENT`, leaving the option as it was: nothing is
/// clamped or replaced.
pub struct nhttps_request_options {
    _private: [u8; 0],
}
box_castable!(nhttps_request_options => RequestOptions);

/// A request being sent (Node's `ClientRequest`). Made by
/// `nhttps_client_request_new`; consumed by `_end` or `_end_async`, or
/// abandoned with `nhttps_client_request_free`. One thread at a time.
pub struct nhttps_client_request {
    _private: [u8; 0],
}
box_castable!(nhttps_client_request => ClientRequest);

/// Options with Node's defaults: protocol "https:", host "localhost", port
/// 443, GET "/", the global agent, certificate and host name verification
/// on. The caller owns them and frees them with
/// `nhttps_request_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_new() -> *mut nhttps_request_options {
    ffi_boundary! { into_raw::<nhttps_request_options>(RequestOptions::default()) }
}

/// Options from a URL, `https://[user:password@]host[:port][/path][?query]`
/// — or `http://...` for plain HTTP without TLS (protocol "http:", default
/// port 80). `url` is read now, not kept. On success `*options_out` is new
/// options the caller owns and frees with `nhttps_request_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_from_url(
    url: *const c_char,
    options_out: *mut *mut nhttps_request_options,
) -> nhttps_result {
    ffi_boundary! {
        let url = try_str!(url);
        let options_out = try_out!(options_out);
        *options_out = into_raw::<nhttps_request_options>(try_core!(RequestOptions::from_url(url)));
        nhttps_result::NHTTPS_OK
    }
}

/// Frees request options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_free(options: *mut nhttps_request_options) {
    ffi_boundary! { drop(unsafe { take(options) }) }
}

/// Sets a string option of the request options (copied). `name` is the C
/// argument's name, for the error message when `value` is NULL.
fn set_text(
    options: *mut nhttps_request_options,
    value: *const c_char,
    name: &str,
    apply: impl FnOnce(&mut RequestOptions, &str) -> crate::Result<()>,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        // SAFETY: `value` is NULL or a NUL-terminated string, as the caller promised.
        let value = match unsafe { str_arg(value, name) } {
            Ok(value) => value,
            Err(error) => return fail(error),
        };
        try_core!(apply(options, value));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `host` (default "localhost"), copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_host(
    options: *mut nhttps_request_options,
    host: *const c_char,
) -> nhttps_result {
    set_text(options, host, "host", |o, v| {
        o.host = v.to_string();
        Ok(())
    })
}

/// Node's `hostname`, preferred over `host` (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_hostname(
    options: *mut nhttps_request_options,
    hostname: *const c_char,
) -> nhttps_result {
    set_text(options, hostname, "hostname", |o, v| {
        o.hostname = Some(v.to_string());
        Ok(())
    })
}

/// Node's `port` (default 443 — or 80 when the protocol is "http:" — as
/// long as none is set).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_port(
    options: *mut nhttps_request_options,
    port: u16,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).port = Some(port);
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `protocol`: "https:" (the default) or "http:". With "http:" the
/// request speaks plain HTTP without TLS — for a legacy backend on loopback
/// or a trusted network, e.g. behind a TLS-terminating proxy: the TLS
/// options are ignored, the default port is 80, and on the response's
/// socket info the TLS facts (`nhttps_socket_info_tls_version`, cipher,
/// ALPN, servername) are NULL. Works with `_set_socket_path` too. Plain
/// and TLS connections never share an agent's pool. Anything else is
/// `NHTTPS_ERR_INVALID_ARGUMENT`. `protocol` is read now, not kept.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_protocol(
    options: *mut nhttps_request_options,
    protocol: *const c_char,
) -> nhttps_result {
    set_text(options, protocol, "protocol", |o, v| {
        o.protocol = Protocol::from_node_name(v)?;
        Ok(())
    })
}

/// Node's `socketPath`: connect to a unix socket instead (TLS still runs
/// over it, unless the protocol is "http:"). The path is copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_socket_path(
    options: *mut nhttps_request_options,
    path: *const c_char,
) -> nhttps_result {
    set_text(options, path, "path", |o, v| {
        o.socket_path = Some(v.into());
        Ok(())
    })
}

/// Node's `method` (default "GET"), copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_method(
    options: *mut nhttps_request_options,
    method: *const c_char,
) -> nhttps_result {
    set_text(options, method, "method", |o, v| {
        o.method = v.to_string();
        Ok(())
    })
}

/// Node's `path`: path and query (default "/"), copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_path(
    options: *mut nhttps_request_options,
    path: *const c_char,
) -> nhttps_result {
    set_text(options, path, "path", |o, v| {
        o.path = v.to_string();
        Ok(())
    })
}

/// Adds a header field (copied); repeated names are all sent, in order.
/// A name that is not a token, or a value with control characters (CR,
/// LF, NUL, ...), is refused now with `NHTTPS_ERR_INVALID_ARGUMENT`.
/// A Content-Length header makes the body length-delimited; without one,
/// a body written with `_write` is chunked. Its value must be plain
/// decimal digits (RFC 9110: "+5" or "0x5" is not), or
/// `nhttps_client_request_new` fails with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_add_header(
    options: *mut nhttps_request_options,
    name: *const c_char,
    value: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        try_core!(options.add_header(try_str!(name), try_str!(value)));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `auth`: "user:password" (copied), sent as `Authorization: Basic`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_auth(
    options: *mut nhttps_request_options,
    auth: *const c_char,
) -> nhttps_result {
    set_text(options, auth, "auth", |o, v| {
        o.auth = Some(v.to_string());
        Ok(())
    })
}

/// Node's `ca`: adds trusted CAs (PEM, `len` bytes, copied). Once any is
/// given, they replace the system's roots for this request.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_add_ca_pem(
    options: *mut nhttps_request_options,
    pem: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.ca_pem.push(try_slice!(pem, len).to_vec());
        nhttps_result::NHTTPS_OK
    }
}

/// Reads trusted CAs from the PEM file at `path` now and adds them (the
/// path is not kept).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_add_ca_file(
    options: *mut nhttps_request_options,
    path: *const c_char,
) -> nhttps_result {
    set_text(options, path, "path", |o, v| {
        o.tls.ca_pem.push(read_file(v)?);
        Ok(())
    })
}

/// The client certificate chain, PEM, from a file read now (Node's `cert`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_cert_file(
    options: *mut nhttps_request_options,
    path: *const c_char,
) -> nhttps_result {
    set_text(options, path, "path", |o, v| {
        o.tls.cert_pem = Some(read_file(v)?);
        Ok(())
    })
}

/// The client certificate's private key, PEM, from a file read now (Node's `key`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_key_file(
    options: *mut nhttps_request_options,
    path: *const c_char,
) -> nhttps_result {
    set_text(options, path, "path", |o, v| {
        o.tls.key_pem = Some(read_file(v)?);
        Ok(())
    })
}

/// The client certificate chain, PEM, `len` bytes (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_cert_pem(
    options: *mut nhttps_request_options,
    pem: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.cert_pem = Some(try_slice!(pem, len).to_vec());
        nhttps_result::NHTTPS_OK
    }
}

/// The client certificate's private key, PEM, `len` bytes (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_key_pem(
    options: *mut nhttps_request_options,
    pem: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.key_pem = Some(try_slice!(pem, len).to_vec());
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `passphrase` for an encrypted client key (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_passphrase(
    options: *mut nhttps_request_options,
    passphrase: *const c_char,
) -> nhttps_result {
    set_text(options, passphrase, "passphrase", |o, v| {
        o.tls.passphrase = Some(v.to_string());
        Ok(())
    })
}

/// Node's `rejectUnauthorized` (default **true**): verify the server's
/// certificate chain and that it names the host. False is for tests only.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_reject_unauthorized(
    options: *mut nhttps_request_options,
    reject: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.reject_unauthorized = reject;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `servername`: the SNI name, and the name the certificate must
/// match (default the host; no SNI is sent for an IP address). Copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_servername(
    options: *mut nhttps_request_options,
    servername: *const c_char,
) -> nhttps_result {
    set_text(options, servername, "servername", |o, v| {
        o.tls.servername = Some(v.to_string());
        Ok(())
    })
}

/// Node's `minVersion` ("TLSv1.2" by default, or "TLSv1.3"; read now, not
/// kept).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_min_version(
    options: *mut nhttps_request_options,
    version: *const c_char,
) -> nhttps_result {
    set_text(options, version, "version", |o, v| {
        o.tls.min_version = TlsVersion::from_node_name(v)?;
        Ok(())
    })
}

/// Node's `agent`: send through `agent` (NULL: the global agent). The
/// options take their own reference to the agent, and so does each request
/// made from them, so its memory outlives the caller's `nhttps_agent_free`;
/// but that call destroys the agent: a request through it that has no
/// connection yet then fails with `NHTTPS_ERR_INVALID_STATE`. Free the
/// agent when its requests are done.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_agent(
    options: *mut nhttps_request_options,
    agent: *const nhttps_agent,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        options.agent = match unsafe { arc_clone(agent) } {
            Some(agent) => AgentChoice::Agent(agent),
            None => AgentChoice::Global,
        };
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `agent: false`: a fresh connection for this request alone, sent
/// with `Connection: close` and closed after the response.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_no_agent(
    options: *mut nhttps_request_options,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).agent = AgentChoice::None;
        nhttps_result::NHTTPS_OK
    }
}

/// How long connecting may take (default 30000 ms). At least 1 ms: 0 is
/// refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_connect_timeout_ms(
    options: *mut nhttps_request_options,
    milliseconds: u32,
) -> nhttps_result {
    ffi_boundary! {
        let timeout = Duration::from_millis(u64::from(milliseconds));
        try_core!(try_mut!(options).set_connect_timeout(timeout));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `timeout`: how long the socket may stay idle while sending or
/// waiting for the response (default 120000 ms). At least 1 ms: 0 (Node's
/// "no timeout") is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_request_options_set_timeout_ms(
    options: *mut nhttps_request_options,
    milliseconds: u32,
) -> nhttps_result {
    ffi_boundary! {
        let timeout = Duration::from_millis(u64::from(milliseconds));
        try_core!(try_mut!(options).set_timeout(timeout));
        nhttps_result::NHTTPS_OK
    }
}

/// Starts a request (nothing is sent until the first write or end).
/// `options` are copied: they stay the caller's and may be freed or reused
/// right after. On success `*request_out` is the caller's: finish it with
/// `_end` or `_end_async`, or abandon it with `nhttps_client_request_free`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_client_request_new(
    options: *const nhttps_request_options,
    request_out: *mut *mut nhttps_client_request,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_ref!(options);
        let request_out = try_out!(request_out);
        *request_out = into_raw::<nhttps_client_request>(try_core!(ClientRequest::new(options.clone())));
        nhttps_result::NHTTPS_OK
    }
}

/// Sends `len` bytes of body (connecting first if needed), blocking until
/// written; `data` is not kept.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_client_request_write(
    request: *mut nhttps_client_request,
    data: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(request).write(try_slice!(data, len)));
        nhttps_result::NHTTPS_OK
    }
}

/// Abandons a request that was not ended: its connection is closed. NULL
/// is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_client_request_free(request: *mut nhttps_client_request) {
    ffi_boundary! { drop(unsafe { take(request) }) }
}

/// Finishes the request and blocks until the response head has arrived
/// (interim 1xx responses are skipped). **Consumes `request`** whatever the
/// result. On success `*response_out` is the caller's: read its body with
/// `nhttps_incoming_message_read` and free it with
/// `nhttps_incoming_message_free`, which returns the connection to the
/// agent when the body was read to the end. Redirects are not followed.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_client_request_end(
    request: *mut nhttps_client_request,
    response_out: *mut *mut nhttps_incoming_message,
) -> nhttps_result {
    ffi_boundary! {
        let request = try_handle!(take, request);
        let response_out = try_out!(response_out);
        *response_out = into_raw::<nhttps_incoming_message>(try_core!(request.end()));
        nhttps_result::NHTTPS_OK
    }
}

/// Called with the response (`error` NULL) or the failure (`response`
/// NULL), on a thread of nhttps's. `response` is the callee's to free with
/// `nhttps_incoming_message_free`; `error` is valid during the call.
pub type nhttps_response_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        response: *mut nhttps_incoming_message,
        error: *const nhttps_error,
    ),
>;

/// Finishes the request without blocking. **Consumes `request`** and
/// returns `NHTTPS_OK` unless an argument is NULL (then `callback` is
/// never called). The request takes its place in its agent's queue now:
/// the requests ended by one thread go out in the order they were ended
/// (with the agent's `max_sockets`, one after another), and a request
/// waiting for a connection holds no thread. `callback` is then called
/// exactly once, with the response or the error, on a thread of nhttps's
/// pool — never the caller's, even when a connection is free at once —
/// so `callback` and `userdata` must be usable from another thread, and
/// `userdata` must live until the callback has run. A callback that
/// blocks holds its connection (and delays the requests queued behind
/// it) until it returns or frees the response.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_client_request_end_async(
    request: *mut nhttps_client_request,
    callback: nhttps_response_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    ffi_boundary! {
        let request = try_handle!(take, request);
        let Some(callback) = callback else {
            return null_argument("callback");
        };
        let userdata = Userdata(userdata);
        request.end_async(move |result| {
            let userdata = userdata;
            match result {
                // SAFETY: user callback; the response is handed over.
                Ok(response) => unsafe { callback(userdata.0, into_raw::<nhttps_incoming_message>(response), std::ptr::null()) },
                Err(error) => {
                    let error = ClientError::new(&error);
                    // SAFETY: user callback; `error` outlives the call.
                    unsafe { callback(userdata.0, std::ptr::null_mut(), lend::<nhttps_error>(&error)) }
                }
            }
        });
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `https.get(url)`: a GET through the global agent, with the
/// system's trusted roots (an `http://` URL is fetched over plain HTTP).
/// `url` is read now, not kept. On success `*response_out` is the caller's,
/// as with `nhttps_client_request_end`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_get(
    url: *const c_char,
    response_out: *mut *mut nhttps_incoming_message,
) -> nhttps_result {
    ffi_boundary! {
        let url = try_str!(url);
        let response_out = try_out!(response_out);
        *response_out = into_raw::<nhttps_incoming_message>(try_core!(crate::client::get(url)));
        nhttps_result::NHTTPS_OK
    }
}
