//! The few OpenSSL calls the `openssl` crate has no binding for, made
//! through `openssl-sys`: session-ticket keys, the session timeout, the
//! NPN advertisement, and giving an idle connection's buffers back; and
//! the one it marks unsafe that we need, offering a session for
//! resumption (`ClientSession`); and a name in RFC 2253's form, as
//! Apache's mod_ssl gives it. Each function states what it requires.
//! The crate denies `unsafe` everywhere but in such modules.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long, c_uchar, c_uint, c_void};
use std::sync::OnceLock;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{SslContext, SslContextBuilder, SslContextRef, SslRef, SslSession};
use openssl_sys as ffi;

use crate::error::{Error, Result};

/// The length of session-ticket keys in OpenSSL 1.1.1 and 3: 16 bytes of
/// key name, 32 of HMAC secret, 32 of AES secret. (Node's own `ticketKeys`
/// are 48 bytes because Node encrypts tickets itself; we let OpenSSL do it.)
pub const TICKET_KEYS_LEN: usize = 80;
/// Session-ticket keys, in OpenSSL's layout.
pub type TicketKeys = [u8; TICKET_KEYS_LEN];

const SSL_CTRL_GET_TLSEXT_TICKET_KEYS: c_int = 58;
const SSL_CTRL_SET_TLSEXT_TICKET_KEYS: c_int = 59;
const SSL_TLSEXT_ERR_OK: c_int = 0;

unsafe extern "C" {
    // Part of libssl's public API (ssl.h); openssl-sys does not declare it.
    fn SSL_CTX_set_timeout(ctx: *mut ffi::SSL_CTX, seconds: c_long) -> c_long;
    // Also public (ssl.h, OpenSSL 1.1.0 and later).
    fn SSL_free_buffers(ssl: *mut ffi::SSL) -> c_int;
    fn SSL_has_pending(ssl: *const ffi::SSL) -> c_int;
    // x509.h.
    fn X509_NAME_print_ex(
        out: *mut ffi::BIO,
        name: *const ffi::X509_NAME,
        indent: c_int,
        flags: std::ffi::c_ulong,
    ) -> c_int;
}

/// `XN_FLAG_RFC2253` without `ASN1_STRFLGS_ESC_MSB` (x509.h, asn1.h): the
/// form mod_ssl gives `SSL_CLIENT_S_DN` in — RDNs most specific first,
/// `,` between them, short names, RFC 2253's escapes, UTF-8 kept.
const RFC2253_UTF8: std::ffi::c_ulong = (1 | 2 | 0x10 | 0x100 | 0x200) // ASN1_STRFLGS_RFC2253 - ESC_MSB
    | (1 << 16) // XN_FLAG_SEP_COMMA_PLUS
    | (1 << 20) // XN_FLAG_DN_REV
    | (1 << 24); // XN_FLAG_DUMP_UNKNOWN_FIELDS

/// `name` as mod_ssl writes a DN (`X509_NAME_print_ex` with
/// `XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB`), e.g. "CN=alice,O=Example,C=FR";
/// empty if OpenSSL cannot print it.
pub fn name_rfc2253(name: &openssl::x509::X509NameRef) -> Vec<u8> {
    // SAFETY: a memory BIO, freed below; `name` is valid for the borrow;
    // the BIO's data is copied out before it is freed.
    unsafe {
        let bio = ffi::BIO_new(ffi::BIO_s_mem());
        if bio.is_null() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if X509_NAME_print_ex(bio, name.as_ptr(), 0, RFC2253_UTF8) >= 0 {
            let mut data: *mut std::ffi::c_char = std::ptr::null_mut();
            let len = ffi::BIO_get_mem_data(bio, &mut data);
            if !data.is_null() && len > 0 {
                out = std::slice::from_raw_parts(data.cast::<u8>(), len as usize).to_vec();
            }
        }
        ffi::BIO_free_all(bio);
        out
    }
}

/// Whether `ssl` holds input not yet returned by a read: decrypted bytes,
/// or (with read-ahead, which server connections use) bytes read from the
/// socket and not yet decrypted. When false, and only then, waiting for
/// the socket to be readable cannot miss data.
pub fn has_pending(ssl: &SslRef) -> bool {
    // SAFETY: `ssl` is valid for the borrow; the call only reads its state.
    unsafe { SSL_has_pending(ssl.as_ptr()) == 1 }
}

/// Whether `free_buffers` may be used with the OpenSSL linked at run time:
/// before 3.0.14 (and 3.1.6, 3.2.2, 3.3.1) `SSL_free_buffers` could free
/// a buffer still in use (CVE-2024-4741). Without it, connections use
/// `SSL_MODE_RELEASE_BUFFERS` instead, which frees the buffers after
/// every record.
pub fn can_free_buffers() -> bool {
    free_buffers_is_safe_in(openssl::version::number() as u64)
}

/// Whether `SSL_free_buffers` is fixed in OpenSSL `version` (OPENSSL_VERSION_NUMBER).
fn free_buffers_is_safe_in(version: u64) -> bool {
    let fixed_in: &[(u64, u64)] = &[
        // (first release of the series, first fixed release in it)
        (0x3000_0000, 0x3000_00e0),
        (0x3010_0000, 0x3010_0060),
        (0x3020_0000, 0x3020_0020),
        (0x3030_0000, 0x3030_0010),
    ];
    if version >= 0x3040_0000 {
        return true;
    }
    fixed_in.iter().any(|&(series, fixed)| {
        version >= series && version < series + 0x0010_0000 && version >= fixed
    })
}

/// Gives `ssl`'s read and write record buffers (about 34 KiB) back to the
/// allocator; OpenSSL makes them again for the next record. Does nothing
/// and returns false when they hold data not yet processed. Only for a
/// connection no other thread is using, and only when `can_free_buffers`.
pub fn free_buffers(ssl: &SslRef) -> bool {
    // SAFETY: `ssl` is valid for the borrow and not used elsewhere meanwhile
    // (the caller holds it); with a fixed OpenSSL, the call refuses to free
    // a buffer that still holds data.
    unsafe { SSL_free_buffers(ssl.as_ptr()) == 1 }
}

/// The keys that encrypt session tickets issued by `context`.
pub fn ticket_keys(context: &SslContextRef) -> Result<TicketKeys> {
    let mut keys = [0u8; TICKET_KEYS_LEN];
    // SAFETY: the context is valid for the borrow; OpenSSL writes exactly
    // the length we pass (it refuses any other) into the buffer.
    let ok = unsafe {
        ffi::SSL_CTX_ctrl(
            context.as_ptr(),
            SSL_CTRL_GET_TLSEXT_TICKET_KEYS,
            TICKET_KEYS_LEN as c_long,
            keys.as_mut_ptr().cast(),
        )
    };
    if ok != 1 {
        return Err(Error::Tls("OpenSSL would not tell the ticket keys".into()));
    }
    Ok(keys)
}

/// Replaces the keys that encrypt and decrypt session tickets of `context`.
pub fn set_ticket_keys(context: &SslContextRef, keys: &TicketKeys) -> Result<()> {
    // SAFETY: the context is valid for the borrow; OpenSSL copies the keys
    // out of the buffer and keeps no pointer to it.
    let ok = unsafe {
        ffi::SSL_CTX_ctrl(
            context.as_ptr(),
            SSL_CTRL_SET_TLSEXT_TICKET_KEYS,
            TICKET_KEYS_LEN as c_long,
            keys.as_ptr() as *mut c_void,
        )
    };
    if ok != 1 {
        return Err(Error::Tls("OpenSSL refused the ticket keys".into()));
    }
    Ok(())
}

/// How long sessions stay resumable, in seconds (OpenSSL's default: 300).
pub fn set_session_timeout(builder: &mut SslContextBuilder, seconds: u32) {
    // SAFETY: the builder's context is valid and exclusively ours.
    unsafe { SSL_CTX_set_timeout(builder.as_ptr(), c_long::from(seconds)) };
}

/// A TLS session a client may offer to resume on its next connection,
/// with the context of the connection it came from: OpenSSL requires that
/// a session be offered only on a connection of that same context
/// (`SSL_set_session`), which `offer` checks.
#[derive(Clone)]
pub(crate) struct ClientSession {
    session: SslSession,
    context: SslContext,
}

impl ClientSession {
    /// The session of a connection, once its handshake has made one.
    pub(crate) fn of(ssl: &SslRef) -> Option<ClientSession> {
        Some(ClientSession {
            session: ssl.session()?.to_owned(),
            context: ssl.ssl_context().to_owned(),
        })
    }

    /// Offers the session on `ssl`, a connection about to shake hands, if
    /// `ssl` is of the context the session came from (else offers nothing,
    /// and the handshake is a full one).
    pub(crate) fn offer(&self, ssl: &mut SslRef) -> std::result::Result<(), ErrorStack> {
        if ssl.ssl_context().as_ptr() != self.context.as_ptr() {
            return Ok(());
        }
        // SAFETY: the session comes from a connection of this same context
        // (checked just above), as `set_session` requires.
        unsafe { ssl.set_session(&self.session) }
    }
}

/// An NPN list, boxed on purpose: OpenSSL gets the address of the `Vec`
/// itself, which must not move when the context's ex_data takes it over.
#[allow(clippy::box_collection)]
type NpnList = Box<Vec<u8>>;

/// Where a context keeps its NPN list (length-prefixed names): on the heap,
/// owned by the context, so the pointer handed to OpenSSL stays valid for
/// the context's life.
fn npn_index() -> Result<Index<SslContext, NpnList>> {
    static INDEX: OnceLock<std::result::Result<Index<SslContext, NpnList>, String>> =
        OnceLock::new();
    INDEX
        .get_or_init(|| SslContext::new_ex_index().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Tls)
}

/// Advertises `wire` (length-prefixed protocol names) by NPN, the
/// predecessor of ALPN (Node's `NPNProtocols`).
pub fn set_npn_protocols(builder: &mut SslContextBuilder, wire: Vec<u8>) -> Result<()> {
    let list = Box::new(wire);
    let arg = &*list as *const Vec<u8> as *mut c_void;
    builder.set_ex_data(npn_index()?, list);
    // SAFETY: `arg` points to the Vec now owned by the context's ex_data; it
    // neither moves nor is freed before the context is.
    unsafe { ffi::SSL_CTX_set_next_protos_advertised_cb(builder.as_ptr(), advertise_npn, arg) };
    Ok(())
}

extern "C" fn advertise_npn(
    _ssl: *mut ffi::SSL,
    out: *mut *const c_uchar,
    out_len: *mut c_uint,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: `arg` is the Vec registered by `set_npn_protocols`, alive as
    // long as the context that calls us; `out` and `out_len` are OpenSSL's.
    unsafe {
        let list = &*(arg as *const Vec<u8>);
        *out = list.as_ptr();
        *out_len = list.len() as c_uint;
    }
    SSL_TLSEXT_ERR_OK
}

/// The protocol agreed on by NPN, if any.
pub fn negotiated_npn(ssl: &openssl::ssl::SslRef) -> Option<Vec<u8>> {
    let mut data: *const c_uchar = std::ptr::null();
    let mut len: c_uint = 0;
    // SAFETY: the session is valid for the borrow; OpenSSL points `data` at
    // `len` bytes it owns, which we copy before the borrow ends.
    unsafe {
        ffi::SSL_get0_next_proto_negotiated(ssl.as_ptr(), &mut data, &mut len);
        (!data.is_null() && len > 0)
            .then(|| std::slice::from_raw_parts(data, len as usize).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientSession, free_buffers_is_safe_in, name_rfc2253};
    use crate::tls::DevCertificate;
    use openssl::ssl::{Ssl, SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
    use std::os::unix::net::UnixStream;

    /// A client TLS configuration that trusts any server.
    fn connector() -> SslConnector {
        let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
        builder.set_verify(SslVerifyMode::NONE);
        // TLS 1.2: its session exists when the handshake returns.
        builder
            .set_max_proto_version(Some(openssl::ssl::SslVersion::TLS1_2))
            .unwrap();
        builder.build()
    }

    /// The session of one handshake made with `connector`.
    fn session_of(connector: &SslConnector) -> ClientSession {
        let dev = DevCertificate::generate().unwrap();
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor.set_certificate(&dev.cert).unwrap();
        acceptor.set_private_key(&dev.key).unwrap();
        let acceptor = acceptor.build();
        let (client, server) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || acceptor.accept(server).map(drop).is_ok());
        let ssl = connector.connect("localhost", client).unwrap();
        assert!(server.join().unwrap());
        ClientSession::of(ssl.ssl()).expect("a session")
    }

    #[test]
    fn a_session_is_offered_only_on_a_connection_of_its_own_context() {
        let first = connector();
        let session = session_of(&first);
        let mut same = Ssl::new(first.context()).unwrap();
        session.offer(&mut same).unwrap();
        assert!(same.session().is_some(), "not offered on its own context");
        let mut other = Ssl::new(connector().context()).unwrap();
        session.offer(&mut other).unwrap();
        assert!(other.session().is_none(), "offered on another context");
    }

    #[test]
    fn ssl_free_buffers_is_used_only_where_cve_2024_4741_is_fixed() {
        assert!(!free_buffers_is_safe_in(0x1010_117f)); // 1.1.1w
        assert!(!free_buffers_is_safe_in(0x3000_00d0)); // 3.0.13
        assert!(free_buffers_is_safe_in(0x3000_00e0)); // 3.0.14
        assert!(free_buffers_is_safe_in(0x3000_0130)); // 3.0.19
        assert!(!free_buffers_is_safe_in(0x3010_0050)); // 3.1.5
        assert!(free_buffers_is_safe_in(0x3010_0060)); // 3.1.6
        assert!(!free_buffers_is_safe_in(0x3030_0000)); // 3.3.0
        assert!(free_buffers_is_safe_in(0x3040_0000)); // 3.4.0
        assert!(free_buffers_is_safe_in(0x3050_0010)); // 3.5.1
    }

    #[test]
    fn a_name_prints_as_mod_ssl_prints_a_dn() {
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("C", "FR").unwrap();
        name.append_entry_by_text("O", "Acme, Inc.").unwrap();
        name.append_entry_by_text("CN", "caf\u{e9} #1").unwrap();
        let name = name.build();
        // Most specific first, "," between, RFC 2253's escapes, UTF-8 kept.
        assert_eq!(
            String::from_utf8(name_rfc2253(&name)).unwrap(),
            "CN=caf\u{e9} #1,O=Acme\\, Inc.,C=FR"
        );
    }
}
