//! Result codes, the per-thread last error, and the `nhttps_error` object
//! handed to `clientError` listeners. The one place where core errors become
//! C result codes.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};

use super::handle::ref_castable;
use super::macros::{ffi_boundary, try_ref};
use crate::error::Error;

/// The result of every fallible nhttps call. `NHTTPS_OK` is 0; on any other
/// value, `nhttps_last_error_message()` tells the detail.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum nhttps_result {
    NHTTPS_OK = 0,
    /// A required pointer argument was NULL.
    NHTTPS_ERR_NULL_ARGUMENT = 1,
    /// An argument is out of range, malformed, or not valid UTF-8.
    NHTTPS_ERR_INVALID_ARGUMENT = 2,
    /// Not allowed in the object's current state (e.g. headers already sent).
    NHTTPS_ERR_INVALID_STATE = 3,
    /// An operating-system I/O error.
    NHTTPS_ERR_IO = 4,
    /// The address or unix socket path is already in use.
    NHTTPS_ERR_ADDRESS_IN_USE = 5,
    /// The private key could not be read or used.
    NHTTPS_ERR_KEY = 6,
    /// A certificate could not be read, or does not match the key; or an
    /// OCSP response for it is not one that can be stapled.
    NHTTPS_ERR_CERTIFICATE = 7,
    /// The private key's passphrase is missing or wrong.
    NHTTPS_ERR_PASSPHRASE = 8,
    /// Another failure of the TLS library.
    NHTTPS_ERR_TLS = 9,
    /// A TLS handshake with a peer failed.
    NHTTPS_ERR_TLS_HANDSHAKE = 10,
    /// A peer sent malformed or unacceptable HTTP.
    NHTTPS_ERR_HTTP_PARSE = 11,
    /// The connection was closed before the operation finished.
    NHTTPS_ERR_CONNECTION_CLOSED = 12,
    /// A time limit ran out.
    NHTTPS_ERR_TIMEOUT = 13,
    /// Not supported by this build or by the linked OpenSSL.
    NHTTPS_ERR_UNSUPPORTED = 14,
    /// nhttps panicked (a bug): the operation was abandoned safely.
    NHTTPS_ERR_PANIC = 15,
    /// The host name could not be resolved.
    NHTTPS_ERR_DNS = 16,
    /// The server refused the connection (nothing listens there).
    NHTTPS_ERR_CONNECTION_REFUSED = 17,
    /// The server's certificate did not verify; the message starts with
    /// Node's code, e.g. `CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`,
    /// `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, `ERR_TLS_CERT_ALTNAME_INVALID`.
    NHTTPS_ERR_CERTIFICATE_VERIFY = 18,
}

use nhttps_result::*;

const RESULT_NAMES: [(nhttps_result, &str); 19] = [
    (NHTTPS_OK, "NHTTPS_OK\0"),
    (NHTTPS_ERR_NULL_ARGUMENT, "NHTTPS_ERR_NULL_ARGUMENT\0"),
    (NHTTPS_ERR_INVALID_ARGUMENT, "NHTTPS_ERR_INVALID_ARGUMENT\0"),
    (NHTTPS_ERR_INVALID_STATE, "NHTTPS_ERR_INVALID_STATE\0"),
    (NHTTPS_ERR_IO, "NHTTPS_ERR_IO\0"),
    (NHTTPS_ERR_ADDRESS_IN_USE, "NHTTPS_ERR_ADDRESS_IN_USE\0"),
    (NHTTPS_ERR_KEY, "NHTTPS_ERR_KEY\0"),
    (NHTTPS_ERR_CERTIFICATE, "NHTTPS_ERR_CERTIFICATE\0"),
    (NHTTPS_ERR_PASSPHRASE, "NHTTPS_ERR_PASSPHRASE\0"),
    (NHTTPS_ERR_TLS, "NHTTPS_ERR_TLS\0"),
    (NHTTPS_ERR_TLS_HANDSHAKE, "NHTTPS_ERR_TLS_HANDSHAKE\0"),
    (NHTTPS_ERR_HTTP_PARSE, "NHTTPS_ERR_HTTP_PARSE\0"),
    (
        NHTTPS_ERR_CONNECTION_CLOSED,
        "NHTTPS_ERR_CONNECTION_CLOSED\0",
    ),
    (NHTTPS_ERR_TIMEOUT, "NHTTPS_ERR_TIMEOUT\0"),
    (NHTTPS_ERR_UNSUPPORTED, "NHTTPS_ERR_UNSUPPORTED\0"),
    (NHTTPS_ERR_PANIC, "NHTTPS_ERR_PANIC\0"),
    (NHTTPS_ERR_DNS, "NHTTPS_ERR_DNS\0"),
    (
        NHTTPS_ERR_CONNECTION_REFUSED,
        "NHTTPS_ERR_CONNECTION_REFUSED\0",
    ),
    (
        NHTTPS_ERR_CERTIFICATE_VERIFY,
        "NHTTPS_ERR_CERTIFICATE_VERIFY\0",
    ),
];

impl From<&Error> for nhttps_result {
    fn from(error: &Error) -> nhttps_result {
        match error {
            Error::InvalidArgument(_) => NHTTPS_ERR_INVALID_ARGUMENT,
            Error::InvalidState(_) => NHTTPS_ERR_INVALID_STATE,
            Error::Io(_) => NHTTPS_ERR_IO,
            Error::AddressInUse(_) => NHTTPS_ERR_ADDRESS_IN_USE,
            Error::Key(_) => NHTTPS_ERR_KEY,
            Error::Certificate(_) => NHTTPS_ERR_CERTIFICATE,
            Error::Passphrase(_) => NHTTPS_ERR_PASSPHRASE,
            Error::Tls(_) => NHTTPS_ERR_TLS,
            Error::Handshake(_) => NHTTPS_ERR_TLS_HANDSHAKE,
            Error::Http { .. } => NHTTPS_ERR_HTTP_PARSE,
            Error::ConnectionClosed => NHTTPS_ERR_CONNECTION_CLOSED,
            Error::Timeout(_) => NHTTPS_ERR_TIMEOUT,
            Error::Unsupported(_) => NHTTPS_ERR_UNSUPPORTED,
            Error::Panic(_) => NHTTPS_ERR_PANIC,
            Error::Dns(_) => NHTTPS_ERR_DNS,
            Error::ConnectionRefused(_) => NHTTPS_ERR_CONNECTION_REFUSED,
            Error::Verify { .. } => NHTTPS_ERR_CERTIFICATE_VERIFY,
        }
    }
}

/// A failure at the C boundary: a code and its message.
pub(crate) struct FfiError {
    code: nhttps_result,
    message: String,
}

impl FfiError {
    pub(crate) fn null(argument: &str) -> FfiError {
        FfiError {
            code: NHTTPS_ERR_NULL_ARGUMENT,
            message: format!("argument '{argument}' is NULL"),
        }
    }
}

impl From<Error> for FfiError {
    fn from(error: Error) -> FfiError {
        FfiError {
            code: (&error).into(),
            message: error.to_string(),
        }
    }
}

/// What a function returns when it fails, by return type.
pub(crate) trait ErrorReturn {
    fn error_return(code: nhttps_result) -> Self;
}

impl ErrorReturn for nhttps_result {
    fn error_return(code: nhttps_result) -> Self {
        code
    }
}
impl<T> ErrorReturn for *const T {
    fn error_return(_: nhttps_result) -> Self {
        std::ptr::null()
    }
}
impl<T> ErrorReturn for *mut T {
    fn error_return(_: nhttps_result) -> Self {
        std::ptr::null_mut()
    }
}
impl ErrorReturn for bool {
    fn error_return(_: nhttps_result) -> Self {
        false
    }
}
impl ErrorReturn for u16 {
    fn error_return(_: nhttps_result) -> Self {
        0
    }
}
impl ErrorReturn for usize {
    fn error_return(_: nhttps_result) -> Self {
        0
    }
}
impl ErrorReturn for () {
    fn error_return(_: nhttps_result) -> Self {}
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `error` as this thread's last error and returns the failure value.
pub(crate) fn fail<T: ErrorReturn>(error: impl Into<FfiError>) -> T {
    let error = error.into();
    let message = CString::new(error.message.replace('\0', " ")).unwrap_or_default();
    // Not `with`/`borrow_mut`: they panic when the thread is being torn
    // down or the message is being read, and this runs outside the
    // boundary's `catch_unwind` when a panic is being reported.
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = message;
        }
    });
    T::error_return(error.code)
}

/// The static name of a result code, e.g. `"NHTTPS_ERR_KEY"`;
/// `"NHTTPS_UNKNOWN"` for a value that is not a result code. Never NULL;
/// the string lives for the whole program.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_result_name(result: c_int) -> *const c_char {
    static_string_boundary(c"NHTTPS_UNKNOWN", || {
        let name = RESULT_NAMES
            .iter()
            .find(|(code, _)| *code as c_int == result)
            .map_or("NHTTPS_UNKNOWN\0", |(_, n)| n);
        name.as_ptr().cast()
    })
}

/// The detail of the last failed nhttps call on the calling thread ("" if
/// none failed yet). Never NULL. The string belongs to nhttps and stays
/// valid until the next failing nhttps call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_last_error_message() -> *const c_char {
    // "" also while the thread is being torn down (its thread-local is
    // gone: a `thread_exit` listener may still ask).
    static_string_boundary(c"", || {
        LAST_ERROR
            .try_with(|last| last.try_borrow().map(|m| m.as_ptr()).ok())
            .ok()
            .flatten()
            .unwrap_or(c"".as_ptr())
    })
}

/// The library version, e.g. "0.1.0": a static string, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_version() -> *const c_char {
    static_string_boundary(c"", || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// The panic boundary of the functions that return a string and promise
/// never to return NULL (so `ffi_boundary!`'s NULL will not do): a panic
/// gives `fallback`.
fn static_string_boundary(
    fallback: &'static CStr,
    f: impl FnOnce() -> *const c_char,
) -> *const c_char {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(fallback.as_ptr())
}

/// What a client did wrong, as handed to `clientError` listeners.
pub(crate) struct ClientError {
    code: nhttps_result,
    message: CString,
    status: u16,
}

impl ClientError {
    pub(crate) fn new(error: &Error) -> ClientError {
        ClientError {
            code: error.into(),
            message: CString::new(error.to_string().replace('\0', " ")).unwrap_or_default(),
            status: error.http_status().unwrap_or(0),
        }
    }
}

/// An error on a connection, lent to a `clientError` listener: a result
/// code, a message and the HTTP status the server answers with (0 when
/// it answers nothing, e.g. for a failed TLS handshake). It lives only
/// for the duration of the callback.
pub struct nhttps_error {
    _private: [u8; 0],
}
ref_castable!(nhttps_error => ClientError);

/// The error's code. `NHTTPS_ERR_NULL_ARGUMENT` if `error` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_error_code(error: *const nhttps_error) -> nhttps_result {
    ffi_boundary! { try_ref!(error).code }
}

/// The error's message. Borrowed from `error`: valid as long as `error` is.
/// NULL if `error` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_error_message(error: *const nhttps_error) -> *const c_char {
    ffi_boundary! { try_ref!(error).message.as_ptr() }
}

/// The HTTP status code the server answers this error with (400, 431, 505,
/// ...), or 0 when it answers nothing.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_error_http_status(error: *const nhttps_error) -> u16 {
    ffi_boundary! { try_ref!(error).status }
}
