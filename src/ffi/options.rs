//! `nhttps_server_options`: the builder for Node's `https.createServer`
//! options — every `nhttps_server_options_*` function, TLS ones included.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::error::nhttps_result;
use super::handle::{arc_clone, box_castable, into_raw, take};
use super::macros::{ffi_boundary, slice_arg, try_core, try_mut, try_slice, try_str};
use super::tls::nhttps_secure_context;
use super::userdata::Userdata;
use crate::server::{ServerOptions, ServerTimeout};
use crate::tls::{ContextOptions, TlsVersion, read_file};

/// Options for `nhttps_server_new` (Node's `https.createServer(options)`).
/// Made by `nhttps_server_options_new`, freed by `nhttps_server_options_free`.
/// `nhttps_server_new` copies what it needs, so the options may be freed
/// (or reused) right after. Not for concurrent use from several threads.
/// Every setter takes a value in its documented range or refuses it with
/// `NHTTPS_ERR_INVALID_ARGUMENT`, leaving the option as it was: nothing is
/// clamped or replaced. 0 means "no limit" only where a setter says so;
/// a timeout is at least 1 ms (nhttps never waits without a deadline).
pub struct nhttps_server_options {
    _private: [u8; 0],
}
box_castable!(nhttps_server_options => ServerOptions);

/// Creates options with Node's defaults: no certificate yet, `requestCert`
/// false, `rejectUnauthorized` true. The caller owns the result and frees it
/// with `nhttps_server_options_free`. Never NULL (aborts only on out-of-memory).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_new() -> *mut nhttps_server_options {
    ffi_boundary! { into_raw::<nhttps_server_options>(ServerOptions::default()) }
}

/// Frees options made by `nhttps_server_options_new`. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_free(options: *mut nhttps_server_options) {
    ffi_boundary! { drop(unsafe { take(options) }) }
}

/// Sets one of the identity's byte options (key, certificate, PKCS#12) to
/// a copy of the `len` bytes at `data`; `name` is the C argument's name,
/// for the message when `data` is NULL.
fn set_identity_bytes(
    options: *mut nhttps_server_options,
    data: *const u8,
    len: usize,
    name: &str,
    field: fn(&mut ContextOptions) -> &mut Option<Vec<u8>>,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        // SAFETY: `data` is NULL or points to `len` bytes, as the caller promised.
        let bytes = try_core!(unsafe { slice_arg(data, len, name) });
        *field(&mut options.tls.context) = Some(bytes.to_vec());
        nhttps_result::NHTTPS_OK
    }
}

/// Sets one of the identity's byte options from the file at `path`, read now.
fn read_identity_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
    field: fn(&mut ContextOptions) -> &mut Option<Vec<u8>>,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        *field(&mut options.tls.context) = Some(try_core!(read_file(try_str!(path))));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `key`: the server's private key, PEM, `len` bytes (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_key_pem(
    options: *mut nhttps_server_options,
    pem: *const u8,
    len: usize,
) -> nhttps_result {
    set_identity_bytes(options, pem, len, "pem", |c| &mut c.key_pem)
}

/// Reads the private key from the PEM file at `path` now (the path is not
/// kept). `NHTTPS_ERR_IO` if it cannot be read.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_key_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
) -> nhttps_result {
    read_identity_file(options, path, |c| &mut c.key_pem)
}

/// Node's `cert`: the certificate chain, PEM (the server's certificate
/// first, then intermediates), `len` bytes (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_cert_pem(
    options: *mut nhttps_server_options,
    pem: *const u8,
    len: usize,
) -> nhttps_result {
    set_identity_bytes(options, pem, len, "pem", |c| &mut c.cert_pem)
}

/// Reads the certificate chain from the PEM file at `path` now (the path
/// is not kept).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_cert_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
) -> nhttps_result {
    read_identity_file(options, path, |c| &mut c.cert_pem)
}

/// Node's `passphrase` for an encrypted private key (copied). A missing or
/// wrong passphrase makes `nhttps_server_new` fail with
/// `NHTTPS_ERR_PASSPHRASE`; nhttps never prompts on a terminal.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_passphrase(
    options: *mut nhttps_server_options,
    passphrase: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.passphrase = Some(try_str!(passphrase).to_string());
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `ca`: adds trusted CA certificates (PEM, one or more) for
/// verifying client certificates, `len` bytes (copied). Without any, the
/// system's roots are used.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_add_ca_pem(
    options: *mut nhttps_server_options,
    pem: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.ca_pem.push(try_slice!(pem, len).to_vec());
        nhttps_result::NHTTPS_OK
    }
}

/// Reads CA certificates from the PEM file at `path` now and adds them
/// (the path is not kept).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_add_ca_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        options.tls.context.ca_pem.push(try_core!(read_file(try_str!(path))));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `requestCert` (default false): ask clients for a certificate.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_request_cert(
    options: *mut nhttps_server_options,
    request_cert: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.request_cert = request_cert;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `rejectUnauthorized`: with `requestCert`, fail the handshake of a
/// client without a certificate the CAs verify. Default **true** (modern
/// Node's default; the old manual's `false` is unsafe). When false, such
/// clients get through and `nhttps_socket_info_authorized` says false.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_reject_unauthorized(
    options: *mut nhttps_server_options,
    reject_unauthorized: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.reject_unauthorized = reject_unauthorized;
        nhttps_result::NHTTPS_OK
    }
}

/// **For development only.** When no key and certificate are set,
/// `nhttps_server_new` generates a self-signed ECDSA certificate for
/// localhost, 127.0.0.1 and ::1, valid 30 days, held in memory. No client
/// trusts it unless told to (`nhttps_server_certificate_pem` gives it).
/// Never use it on a server that others reach.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_use_dev_certificate(
    options: *mut nhttps_server_options,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.dev_certificate = true;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.maxConnections`: past this many open connections, new
/// ones are accepted and closed at once, before the TLS handshake (no
/// callback is called for them). 0 (the default) means no limit.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_max_connections(
    options: *mut nhttps_server_options,
    max_connections: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).max_connections = max_connections as usize;
        nhttps_result::NHTTPS_OK
    }
}

/// Not in Node: at most this many open connections from one IP address;
/// past it, new ones from that address are accepted and closed at once,
/// before the TLS handshake (no callback is called for them). IPv4-mapped
/// IPv6 addresses count as their IPv4 address; unix-socket peers are not
/// counted. 0 (the default) means no limit. Behind a proxy or NAT, many
/// clients share one address: set it with that in mind.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_max_connections_per_ip(
    options: *mut nhttps_server_options,
    max_connections: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).max_connections_per_ip = max_connections;
        nhttps_result::NHTTPS_OK
    }
}

/// Not in Node: bind with `SO_REUSEPORT` (default false), so that several
/// processes (or servers) that all set it listen on one port and the
/// kernel spreads new connections among them. A rolling restart starts
/// the new process, then closes the old one: no connection is refused
/// meanwhile. Applies to `nhttps_server_listen`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_reuse_port(
    options: *mut nhttps_server_options,
    reuse_port: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).reuse_port = reuse_port;
        nhttps_result::NHTTPS_OK
    }
}

/// Not in Node: expect a PROXY protocol header (v1 or v2, HAProxy's) at
/// the start of every connection (default false: off). Turn it on only
/// behind a proxy that sends one (HAProxy's `send-proxy`/`send-proxy-v2`):
/// the header says who the client is, and the server believes it. It is
/// read before the TLS handshake, within the handshake timeout; the
/// addresses it carries are what `nhttps_socket_info_remote_address`
/// and `_port` (and `_local_*`) report from the `connection` event on.
/// A `LOCAL` (v2) or `UNKNOWN` (v1) header keeps the socket's own
/// addresses. A connection without a valid header is closed, before any
/// TLS, and reported to `clientError`: `NHTTPS_ERR_HTTP_PARSE` for a
/// malformed or missing header (a TLS hello where the header should be),
/// `NHTTPS_ERR_CONNECTION_CLOSED` when the peer closed inside it, and
/// `NHTTPS_ERR_TIMEOUT` when it did not come within the handshake
/// timeout. `max_connections_per_ip` still counts the proxy's address.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_proxy_protocol(
    options: *mut nhttps_server_options,
    proxy_protocol: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).proxy_protocol = proxy_protocol;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.maxRequestsPerSocket`: a connection carries at most
/// this many requests; the response to the last one says
/// `Connection: close` and the connection is closed after it (requests
/// the client pipelined behind it are not answered). 0 (the default) means
/// no limit.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_max_requests_per_socket(
    options: *mut nhttps_server_options,
    max_requests: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).max_requests_per_socket = max_requests;
        nhttps_result::NHTTPS_OK
    }
}

/// Sets one of the server's timeouts from milliseconds.
fn set_timeout(
    options: *mut nhttps_server_options,
    milliseconds: u32,
    which: ServerTimeout,
) -> nhttps_result {
    ffi_boundary! {
        let timeout = Duration::from_millis(u64::from(milliseconds));
        try_core!(try_mut!(options).set_timeout(which, timeout));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `keepAliveTimeout`: how long an idle kept-alive connection waits
/// for the next request before it is closed. Default 5000 ms. At least 1
/// ms: 0 (Node's "no timeout") is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_keep_alive_timeout_ms(
    options: *mut nhttps_server_options,
    milliseconds: u32,
) -> nhttps_result {
    set_timeout(options, milliseconds, ServerTimeout::KeepAlive)
}

/// Node's `handshakeTimeout`: how long a TLS handshake may take, as a
/// whole, before the connection is closed and `tlsClientError` (or
/// `clientError`) reports `NHTTPS_ERR_TIMEOUT` — so a peer that connects and
/// says nothing, or trickles its hello, does not hold a thread. Default
/// 120000 ms. At least 1 ms: 0 is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_handshake_timeout_ms(
    options: *mut nhttps_server_options,
    milliseconds: u32,
) -> nhttps_result {
    set_timeout(options, milliseconds, ServerTimeout::Handshake)
}

/// Node's `headersTimeout`: how long a request's head may take to arrive,
/// as a whole — a client trickling header bytes (slowloris) is answered
/// `408` and `clientError` reports `NHTTPS_ERR_TIMEOUT`. The clock starts
/// at the head's first byte (for a new connection's first request, at the
/// end of the handshake), as in Node. Default 60000 ms. At least 1 ms: 0
/// (Node's "no timeout") is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_headers_timeout_ms(
    options: *mut nhttps_server_options,
    milliseconds: u32,
) -> nhttps_result {
    set_timeout(options, milliseconds, ServerTimeout::Headers)
}

/// Node's `requestTimeout`: how long one read or write of a request being
/// served may block. Default 300000 ms. At least 1 ms: 0 (Node's "no
/// timeout") is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_request_timeout_ms(
    options: *mut nhttps_server_options,
    milliseconds: u32,
) -> nhttps_result {
    set_timeout(options, milliseconds, ServerTimeout::Request)
}

/// The stack size of each connection thread, where every callback runs.
/// Default 1 MiB (only touched pages cost memory); at least 64 KiB
/// (65536): a smaller value is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
/// Raise it for callbacks that need deep stacks.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_thread_stack_size(
    options: *mut nhttps_server_options,
    bytes: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_thread_stack_size(bytes));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `maxHeaderSize`: the most bytes a request head may take (request
/// line and headers). Default 16 KiB; a larger head is answered `431` and
/// reported to `clientError`. At least 64: a smaller value (0 included) is
/// refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_max_header_size(
    options: *mut nhttps_server_options,
    bytes: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_max_header_size(bytes));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `minVersion`: "TLSv1.3", "TLSv1.2" (the default), "TLSv1.1" or
/// "TLSv1" (read now, not kept). Versions below 1.2 are insecure and also
/// need `ciphers` with "@SECLEVEL=0" on OpenSSL 3.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_min_version(
    options: *mut nhttps_server_options,
    version: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        options.tls.context.policy.min_version = try_core!(TlsVersion::from_node_name(try_str!(version)));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `maxVersion` (default "TLSv1.3"; read now, not kept).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_max_version(
    options: *mut nhttps_server_options,
    version: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        options.tls.context.policy.max_version = try_core!(TlsVersion::from_node_name(try_str!(version)));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `ciphers`: the TLS 1.2 cipher list in OpenSSL's syntax (copied).
/// The default is Mozilla's "intermediate" list. Checked by `nhttps_server_new`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ciphers(
    options: *mut nhttps_server_options,
    ciphers: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.policy.ciphers = try_str!(ciphers).to_string();
        nhttps_result::NHTTPS_OK
    }
}

/// The TLS 1.3 cipher suites, colon-separated, e.g.
/// "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256" (copied).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ciphersuites(
    options: *mut nhttps_server_options,
    ciphersuites: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.policy.ciphersuites = try_str!(ciphersuites).to_string();
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `ecdhCurve`: key-exchange groups, colon-separated (copied).
/// Default "X25519:P-256:P-384", Mozilla's intermediate profile.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ecdh_curve(
    options: *mut nhttps_server_options,
    groups: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.policy.groups = try_str!(groups).to_string();
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `honorCipherOrder` (default false: the client's order, as the
/// intermediate profile says).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_honor_cipher_order(
    options: *mut nhttps_server_options,
    honor: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.context.policy.honor_cipher_order = honor;
        nhttps_result::NHTTPS_OK
    }
}

/// Sets a list of protocol names (ALPN or NPN) with its core setter.
fn set_protocols(
    options: *mut nhttps_server_options,
    protocols: *const *const c_char,
    count: usize,
    set: fn(&mut ServerOptions, Vec<String>) -> crate::Result<()>,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        let pointers = try_slice!(protocols, count);
        let mut names = Vec::with_capacity(count);
        for &protocol in pointers {
            names.push(try_str!(protocol).to_string());
        }
        try_core!(set(options, names));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `ALPNProtocols`: `count` protocol names (e.g. "http/1.1"), most
/// preferred first (copied). The server picks its most preferred protocol
/// that the client offers; a client that offers ALPN but none of these
/// fails the handshake (`no_application_protocol`). The result is in
/// `nhttps_socket_info_alpn_protocol`. Each name is 1 to 255 bytes; an
/// empty or longer one is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_alpn_protocols(
    options: *mut nhttps_server_options,
    protocols: *const *const c_char,
    count: usize,
) -> nhttps_result {
    set_protocols(options, protocols, count, ServerOptions::set_alpn_protocols)
}

/// Node's `sessionIdContext`: an opaque identifier (1 to 32 bytes, copied)
/// that sessions are resumed under; another length (0 included) is refused
/// with `NHTTPS_ERR_INVALID_ARGUMENT`. When a client certificate is asked
/// for and none is set, the default is an MD5 of the command line, as in
/// Node.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_session_id_context(
    options: *mut nhttps_server_options,
    context: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_session_id_context(try_slice!(context, len)));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `SNICallback`: called on the connection's thread during the
/// handshake with the server name the client asked for (valid during the
/// call). Return the context to present, or NULL for the default. The
/// returned context is borrowed: nhttps takes its own reference, so the
/// caller keeps (and later frees) its own.
pub type nhttps_sni_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        servername: *const c_char,
    ) -> *const nhttps_secure_context,
>;

/// Sets the SNI callback (NULL removes it). Like every callback it must be
/// thread-safe. When set, `nhttps_server_add_context` entries are not used.
/// Every server built from these options keeps its own copy of `callback`
/// and `userdata` (a later change to the options does not reach it):
/// `userdata` is passed to every call and must stay valid until each such
/// server's `nhttps_server_free` returns.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_sni_callback(
    options: *mut nhttps_server_options,
    callback: nhttps_sni_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        let userdata = Userdata(userdata);
        options.sni_callback = callback.map(|cb| -> crate::tls::SniCallback {
            Arc::new(move |name| {
                let userdata = userdata;
                let name = std::ffi::CString::new(name).ok()?;
                // SAFETY: user callback; `name` outlives the call, and the
                // returned pointer is a context the caller holds a reference to.
                unsafe { arc_clone(cb(userdata.0, name.as_ptr())) }
            })
        });
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `pfx`: the key and certificate chain as a PKCS#12 bundle (DER,
/// `len` bytes, copied), decrypted with the passphrase. Takes precedence
/// over key and cert.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_pfx(
    options: *mut nhttps_server_options,
    der: *const u8,
    len: usize,
) -> nhttps_result {
    set_identity_bytes(options, der, len, "der", |c| &mut c.pfx)
}

/// Reads a PKCS#12 bundle from the file at `path` now (the path is not
/// kept).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_pfx_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
) -> nhttps_result {
    read_identity_file(options, path, |c| &mut c.pfx)
}

/// OCSP stapling: `der` is a DER-encoded OCSP response for the
/// certificate, `len` bytes, copied (the caller may free them at once).
/// It is sent in the TLS handshake to every client that asks for one (the
/// status_request extension, e.g. `openssl s_client -status`); a client
/// that does not ask gets none. It belongs to the identity, like the key
/// and certificate: `nhttps_server_new` staples it for the default
/// context, and a context made from these options with
/// `nhttps_secure_context_new` staples its own wherever it is used
/// (`nhttps_server_add_context`, the SNI callback,
/// `nhttps_server_set_secure_context`).
///
/// Checked now: bytes that are not an OCSP response, PEM text, or a
/// response whose status is not "successful" give `NHTTPS_ERR_CERTIFICATE`
/// and leave the option as it was. nhttps does not check the response's
/// signature, dates or that it names the certificate, and never fetches or
/// refreshes it: give a fresh one before the old one's nextUpdate, in a new
/// context swapped in with `nhttps_server_set_secure_context`. `len` 0
/// (with `der` NULL or not) removes the response.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ocsp_response(
    options: *mut nhttps_server_options,
    der: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_ocsp_response(try_slice!(der, len)));
        nhttps_result::NHTTPS_OK
    }
}

/// Reads a DER-encoded OCSP response from the file at `path` now (the path
/// is not kept: a later change to the file is not seen until this is called
/// again) and sets it as `nhttps_server_options_set_ocsp_response` does.
/// `NHTTPS_ERR_IO` when the file cannot be read, `NHTTPS_ERR_CERTIFICATE`
/// when it does not hold a successful OCSP response (an empty file
/// included); either way the option is left as it was.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ocsp_response_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_ocsp_response_file(try_str!(path)));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `NPNProtocols`: `count` names advertised by NPN, the obsolete
/// predecessor of ALPN, for old clients only — prefer ALPN. The agreed
/// protocol is in `nhttps_socket_info_npn_protocol`. The names are copied.
/// Each name is 1 to 255 bytes; an empty or longer one is refused with
/// `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_npn_protocols(
    options: *mut nhttps_server_options,
    protocols: *const *const c_char,
    count: usize,
) -> nhttps_result {
    set_protocols(options, protocols, count, ServerOptions::set_npn_protocols)
}

/// How many sessions the server remembers for resumption by session id
/// (default 20,480; 0 means no limit).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_session_cache_size(
    options: *mut nhttps_server_options,
    size: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.session_cache_size = Some(size);
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `sessionTimeout`: seconds a session stays resumable (default
/// 300). At least 1: 0 is refused with `NHTTPS_ERR_INVALID_ARGUMENT`
/// (OpenSSL would silently take it as 300).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_session_timeout(
    options: *mut nhttps_server_options,
    seconds: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_session_timeout(seconds));
        nhttps_result::NHTTPS_OK
    }
}

/// Whether to issue session tickets (default true). Without them, clients
/// resume by session id from the server's cache only.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_tickets(
    options: *mut nhttps_server_options,
    enabled: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.tickets = enabled;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `ticketKeys`: the keys that encrypt session tickets, copied;
/// `len` must be `NHTTPS_TICKET_KEYS_LEN` (80: 16 bytes of key name, 32 of
/// HMAC secret, 32 of AES secret — OpenSSL's layout, unlike Node's 48
/// bytes); another length is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
/// Servers given the same keys resume each other's sessions. Default:
/// random at start. Keep them secret.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ticket_keys(
    options: *mut nhttps_server_options,
    keys: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_ticket_keys(try_slice!(keys, len)));
        nhttps_result::NHTTPS_OK
    }
}
