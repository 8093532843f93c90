//! `nhttps_secure_context` (Node's `tls.createSecureContext`), SNI and
//! certificate hot swap.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::error::nhttps_result;
use super::handle::{arc_clone, arc_into_raw, arc_release, castable, lend};
use super::macros::{ffi_boundary, try_core, try_mut, try_ref, try_str};
use super::message::nhttps_socket_info;
use super::options::nhttps_server_options;
use super::server::nhttps_server;
use crate::tls::{CertificateInfo, SecureContext};

/// A TLS identity — key and certificate chain — with its trusted CAs and
/// policy (Node's `SecureContext`). Reference-counted and immutable: share
/// it between servers and threads freely. `nhttps_secure_context_new`
/// gives the caller one reference, released by `nhttps_secure_context_free`;
/// a server that uses a context holds its own reference, so the caller may
/// free it right after handing it over.
pub struct nhttps_secure_context {
    _private: [u8; 0],
}
castable!(nhttps_secure_context => SecureContext);

/// Node's `tls.createSecureContext(options)`: builds a context from the
/// key, certificate (or PKCS#12), passphrase, CAs and policy set on
/// `options` (the server-only options — requestCert and the like — are
/// ignored). Fails like `nhttps_server_new` on a bad key, certificate or
/// passphrase. On success `*context_out` is a new reference the caller
/// releases with `nhttps_secure_context_free`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_secure_context_new(
    options: *const nhttps_server_options,
    context_out: *mut *const nhttps_secure_context,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_ref!(options);
        if context_out.is_null() {
            return super::macros::null_argument("context_out");
        }
        let context = try_core!(SecureContext::new(&options.tls.context));
        unsafe { *context_out = arc_into_raw::<nhttps_secure_context>(context) };
        nhttps_result::NHTTPS_OK
    }
}

/// Releases the caller's reference. The context lives on while a server
/// uses it. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_secure_context_free(context: *const nhttps_secure_context) {
    ffi_boundary! { unsafe { arc_release(context) } }
}

/// The context's leaf certificate, PEM. Borrowed: valid while the caller
/// holds its reference.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_secure_context_certificate_pem(
    context: *const nhttps_secure_context,
) -> *const c_char {
    ffi_boundary! { try_ref!(context).certificate_pem().as_ptr() }
}

/// Node's `server.addContext(hostname, context)`: a client that asks by
/// SNI for `hostname` gets `context`. `hostname` may be a pattern like
/// `*.example.test`, where `*` stands for exactly one label. Later entries
/// win; adding a pattern again replaces its context (the server lets go of
/// the earlier one: how a reload swaps certificates). Unknown names get the
/// default certificate. Not consulted when an SNI callback is set. The
/// server takes its own reference to `context`; `hostname` is copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_add_context(
    server: *mut nhttps_server,
    hostname: *const c_char,
    context: *const nhttps_secure_context,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let hostname = try_str!(hostname);
        let Some(context) = (unsafe { arc_clone(context) }) else {
            return super::macros::null_argument("context");
        };
        try_core!(server.add_context(hostname, &context));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.setSecureContext`: new connections present `context`
/// from now on; connections already open keep their certificate.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_set_secure_context(
    server: *mut nhttps_server,
    context: *const nhttps_secure_context,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let Some(context) = (unsafe { arc_clone(context) }) else {
            return super::macros::null_argument("context");
        };
        try_core!(server.set_secure_context(&context));
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
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_sni_callback(
    options: *mut nhttps_server_options,
    callback: nhttps_sni_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        let userdata = super::server::Userdata(userdata);
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
    ffi_boundary! {
        let options = try_mut!(options);
        options.tls.context.pfx = Some(super::macros::try_slice!(der, len).to_vec());
        nhttps_result::NHTTPS_OK
    }
}

/// Reads a PKCS#12 bundle from a file now.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_pfx_file(
    options: *mut nhttps_server_options,
    path: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        options.tls.context.pfx = Some(try_core!(crate::tls::read_file(try_str!(path))));
        nhttps_result::NHTTPS_OK
    }
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
        let options = try_mut!(options);
        let der = super::macros::try_slice!(der, len);
        if der.is_empty() {
            options.tls.context.ocsp_response = None;
            return nhttps_result::NHTTPS_OK;
        }
        try_core!(crate::tls::check_ocsp_response(der));
        options.tls.context.ocsp_response = Some(der.to_vec());
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
        let options = try_mut!(options);
        let der = try_core!(crate::tls::read_file(try_str!(path)));
        try_core!(crate::tls::check_ocsp_response(&der));
        options.tls.context.ocsp_response = Some(der);
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `NPNProtocols`: `count` names advertised by NPN, the obsolete
/// predecessor of ALPN, for old clients only — prefer ALPN. The agreed
/// protocol is in `nhttps_socket_info_npn_protocol`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_npn_protocols(
    options: *mut nhttps_server_options,
    protocols: *const *const c_char,
    count: usize,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        let pointers = super::macros::try_slice!(protocols, count);
        let mut names = Vec::with_capacity(count);
        for &protocol in pointers {
            names.push(try_str!(protocol).to_string());
        }
        try_core!(crate::tls::alpn_wire_format(&names));
        options.tls.npn_protocols = names;
        nhttps_result::NHTTPS_OK
    }
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

/// Node's `sessionTimeout`: seconds a session stays resumable (default 300).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_session_timeout(
    options: *mut nhttps_server_options,
    seconds: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).tls.session_timeout = seconds;
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
/// bytes). Servers given the same keys resume each other's sessions.
/// Default: random at start. Keep them secret.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_options_set_ticket_keys(
    options: *mut nhttps_server_options,
    keys: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        let keys = super::macros::try_slice!(keys, len);
        let Ok(keys) = <crate::tls::TicketKeys>::try_from(keys) else {
            return super::error::fail(crate::Error::invalid("ticket keys must be exactly NHTTPS_TICKET_KEYS_LEN (80) bytes"));
        };
        options.tls.ticket_keys = Some(keys);
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.getTicketKeys()`: copies the current ticket keys
/// (`NHTTPS_TICKET_KEYS_LEN` bytes) into `keys_out`, of `capacity` bytes.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_get_ticket_keys(
    server: *const nhttps_server,
    keys_out: *mut u8,
    capacity: usize,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        if keys_out.is_null() {
            return super::macros::null_argument("keys_out");
        }
        let keys = server.ticket_keys();
        if capacity < keys.len() {
            return super::error::fail(crate::Error::invalid("the buffer must hold NHTTPS_TICKET_KEYS_LEN (80) bytes"));
        }
        unsafe { std::ptr::copy_nonoverlapping(keys.as_ptr(), keys_out, keys.len()) };
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.setTicketKeys(keys)`: `len` must be `NHTTPS_TICKET_KEYS_LEN`. Tickets issued
/// from now on use these keys, and tickets under other keys are no longer
/// accepted (those clients do a full handshake).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_set_ticket_keys(
    server: *mut nhttps_server,
    keys: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let keys = super::macros::try_slice!(keys, len);
        let Ok(keys) = <crate::tls::TicketKeys>::try_from(keys) else {
            return super::error::fail(crate::Error::invalid("ticket keys must be exactly NHTTPS_TICKET_KEYS_LEN (80) bytes"));
        };
        try_core!(server.set_ticket_keys(&keys));
        nhttps_result::NHTTPS_OK
    }
}

/// The length of session-ticket keys (OpenSSL's layout).
pub const NHTTPS_TICKET_KEYS_LEN: usize = 80;
const _: () = assert!(NHTTPS_TICKET_KEYS_LEN == crate::tls::TICKET_KEYS_LEN);

/// A certificate's facts (Node's `getPeerCertificate()`), borrowed from the
/// `nhttps_socket_info` that gave it and valid as long as it is; so are the
/// strings it returns.
pub struct nhttps_certificate {
    _private: [u8; 0],
}
castable!(nhttps_certificate => CertificateInfo);

/// The client certificate, when one was asked for (`requestCert`) and sent;
/// NULL otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_peer_certificate(
    info: *const nhttps_socket_info,
) -> *const nhttps_certificate {
    ffi_boundary! {
        try_ref!(info).peer_certificate.as_ref().map_or(std::ptr::null(), lend::<nhttps_certificate>)
    }
}

/// The subject, e.g. "CN=client, O=Example".
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_subject(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).subject.as_ptr() }
}

/// The issuer, in the same form as the subject.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_issuer(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).issuer.as_ptr() }
}

/// The serial number in upper-case hex (Node's `serialNumber`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_serial_number(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).serial_number.as_ptr() }
}

/// Node's `valid_from`, e.g. "Nov 25 07:12:36 2026 GMT".
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_valid_from(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).valid_from.as_ptr() }
}

/// Node's `valid_to`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_valid_to(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).valid_to.as_ptr() }
}

/// Node's `fingerprint256`: SHA-256 of the DER as "AB:CD:...".
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_fingerprint256(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).fingerprint256.as_ptr() }
}

/// Node's `subjectaltname`, e.g. "DNS:localhost, IP Address:127.0.0.1", or
/// NULL when the certificate has none.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_subject_alt_names(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! {
        try_ref!(certificate).subject_alt_names.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
    }
}

/// The certificate, PEM.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_pem(certificate: *const nhttps_certificate) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).pem.as_ptr() }
}
