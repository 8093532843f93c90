//! `nhttps_secure_context` (Node's `tls.createSecureContext`), a server's
//! SNI contexts, certificate hot swap and ticket keys, and
//! `nhttps_certificate` (a peer's certificate). The TLS options of the
//! server's builder are in `options.rs` with its other options.

use std::ffi::c_char;

use super::error::{fail, nhttps_result};
use super::handle::{arc_castable, arc_into_raw, arc_release, lend, ref_castable};
use super::macros::{ffi_boundary, try_core, try_handle, try_out, try_ref, try_slice, try_str};
use super::message::nhttps_socket_info;
use super::options::nhttps_server_options;
use super::server::nhttps_server;
use crate::error::Error;
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
arc_castable!(nhttps_secure_context => SecureContext);

/// Node's `tls.createSecureContext(options)`: builds a context from the
/// key, certificate (or PKCS#12), passphrase, CAs and policy set on
/// `options` (the server-only options — requestCert and the like — are
/// ignored). Fails like `nhttps_server_new` on a bad key, certificate or
/// passphrase. What the context needs is copied: `options` stay the
/// caller's and may be freed right after. On success the caller owns
/// `*context_out`, a new reference it releases with
/// `nhttps_secure_context_free`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_secure_context_new(
    options: *const nhttps_server_options,
    context_out: *mut *const nhttps_secure_context,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_ref!(options);
        let context_out = try_out!(context_out);
        *context_out = arc_into_raw::<nhttps_secure_context>(try_core!(SecureContext::new(&options.tls.context)));
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
        let context = try_handle!(arc_clone, context);
        try_core!(server.add_context(hostname, &context));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.setSecureContext`: new connections present `context`
/// from now on; connections already open keep their certificate. The
/// server takes its own reference to `context` (and lets go of the one it
/// replaces), so the caller may free its own right after.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_set_secure_context(
    server: *mut nhttps_server,
    context: *const nhttps_secure_context,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let context = try_handle!(arc_clone, context);
        try_core!(server.set_secure_context(&context));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.getTicketKeys()`: copies the current ticket keys
/// (`NHTTPS_TICKET_KEYS_LEN` bytes) into `keys_out`, of `capacity` bytes;
/// a smaller `capacity` is `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_get_ticket_keys(
    server: *const nhttps_server,
    keys_out: *mut u8,
    capacity: usize,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let keys_out = try_slice!(mut keys_out, capacity);
        let keys = server.ticket_keys();
        let Some(keys_out) = keys_out.get_mut(..keys.len()) else {
            return fail(Error::invalid("the buffer must hold NHTTPS_TICKET_KEYS_LEN (80) bytes"));
        };
        keys_out.copy_from_slice(&keys);
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `server.setTicketKeys(keys)`: `keys` are copied; `len` must be
/// `NHTTPS_TICKET_KEYS_LEN` (another length is refused with
/// `NHTTPS_ERR_INVALID_ARGUMENT`). Tickets issued from now on use these
/// keys, and tickets under other keys are no longer accepted (those
/// clients do a full handshake).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_set_ticket_keys(
    server: *mut nhttps_server,
    keys: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        try_core!(server.set_ticket_keys(try_slice!(keys, len)));
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
ref_castable!(nhttps_certificate => CertificateInfo);

/// The client certificate, when one was asked for (`requestCert`) and sent;
/// NULL otherwise. Borrowed from `info`, valid as long as it is (during the
/// callback that gave it, as long as the message it came from, or until
/// `nhttps_socket_free` of its socket); so are the certificate's strings.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_info_peer_certificate(
    info: *const nhttps_socket_info,
) -> *const nhttps_certificate {
    ffi_boundary! {
        try_ref!(info).peer_certificate.as_ref().map_or(std::ptr::null(), lend::<nhttps_certificate>)
    }
}

/// The subject, e.g. "CN=client, O=Example".
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_subject(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).subject.as_ptr() }
}

/// The issuer, in the same form as the subject.
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_issuer(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).issuer.as_ptr() }
}

/// The serial number in upper-case hex (Node's `serialNumber`).
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_serial_number(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).serial_number.as_ptr() }
}

/// Node's `valid_from`, e.g. "Nov 25 07:12:36 2026 GMT".
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_valid_from(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).valid_from.as_ptr() }
}

/// Node's `valid_to`.
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_valid_to(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).valid_to.as_ptr() }
}

/// Node's `fingerprint256`: SHA-256 of the DER as "AB:CD:...".
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_fingerprint256(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).fingerprint256.as_ptr() }
}

/// Node's `subjectaltname`, e.g. "DNS:localhost, IP Address:127.0.0.1", or
/// NULL when the certificate has none.
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_subject_alt_names(
    certificate: *const nhttps_certificate,
) -> *const c_char {
    ffi_boundary! {
        try_ref!(certificate).subject_alt_names.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
    }
}

/// The certificate, PEM.
/// Borrowed from `certificate`, which is borrowed from its socket info:
/// valid as long as that is.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_certificate_pem(certificate: *const nhttps_certificate) -> *const c_char {
    ffi_boundary! { try_ref!(certificate).pem.as_ptr() }
}
