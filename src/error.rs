//! The core's error type: one variant per cause a user can act on.
//! `src/ffi/error.rs` maps each variant to an `nhttps_result` code, once.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why an operation failed.
#[derive(Debug)]
pub enum Error {
    /// An argument was out of range, malformed or not allowed here.
    InvalidArgument(String),
    /// The operation is not allowed in the object's current state
    /// (headers already sent, server already listening, ...).
    InvalidState(String),
    /// An operating-system I/O error.
    Io(io::Error),
    /// The address is already taken by another socket.
    AddressInUse(String),
    /// The private key could not be read or used.
    Key(String),
    /// A certificate could not be read, or does not match the key; or an
    /// OCSP response for it is not one that can be stapled.
    Certificate(String),
    /// The passphrase of an encrypted private key is missing or wrong.
    Passphrase(String),
    /// Any other failure of the TLS library while configuring.
    Tls(String),
    /// The TLS handshake with a peer failed.
    Handshake(String),
    /// A peer sent HTTP we reject; `status` is what we answer (400, 431, ...).
    Http { status: u16, message: String },
    /// The connection was closed (by the peer or by us) before the operation finished.
    ConnectionClosed,
    /// A time limit ran out.
    Timeout(String),
    /// The feature is not available in this build or with this OpenSSL.
    Unsupported(String),
    /// The host name could not be resolved.
    Dns(String),
    /// Nobody listens at the address (or a firewall refused).
    ConnectionRefused(String),
    /// The server's certificate did not verify; `code` is Node's name,
    /// e.g. `DEPTH_ZERO_SELF_SIGNED_CERT` or `ERR_TLS_CERT_ALTNAME_INVALID`.
    Verify { code: &'static str, message: String },
    /// Code panicked; the message is the panic's.
    Panic(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidArgument(message.into())
    }

    pub fn state(message: impl Into<String>) -> Error {
        Error::InvalidState(message.into())
    }

    pub fn http(status: u16, message: impl Into<String>) -> Error {
        Error::Http {
            status,
            message: message.into(),
        }
    }

    /// The HTTP status code the server answers this error with, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Builds an error from a panic payload.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Error::Panic(message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::InvalidState(m) => write!(f, "invalid state: {m}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::AddressInUse(m) => write!(f, "address in use: {m}"),
            Error::Key(m) => write!(f, "private key: {m}"),
            Error::Certificate(m) => write!(f, "certificate: {m}"),
            Error::Passphrase(m) => write!(f, "passphrase: {m}"),
            Error::Tls(m) => write!(f, "TLS: {m}"),
            Error::Handshake(m) => write!(f, "TLS handshake failed: {m}"),
            Error::Http { status, message } => write!(f, "bad HTTP ({status}): {message}"),
            Error::ConnectionClosed => write!(f, "connection closed"),
            Error::Timeout(m) => write!(f, "timed out: {m}"),
            Error::Unsupported(m) => write!(f, "not supported: {m}"),
            Error::Dns(m) => write!(f, "DNS lookup failed: {m}"),
            Error::ConnectionRefused(m) => write!(f, "connection refused: {m}"),
            Error::Verify { code, message } => {
                write!(f, "{code}: certificate verification failed: {message}")
            }
            Error::Panic(m) => write!(f, "panic: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::AddrInUse => Error::AddressInUse(e.to_string()),
            io::ErrorKind::ConnectionRefused => Error::ConnectionRefused(e.to_string()),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout(e.to_string()),
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Error::ConnectionClosed,
            _ => Error::Io(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The one rule for every timeout an option sets (the server's, a
/// request's, an agent's): at least 1 ms, else `InvalidArgument` — never
/// rounded up. nhttps never waits without a deadline (a connection's
/// thread, or its parked keep-alive slot, would be held forever), so 0 —
/// "no timeout" in Node for some of these — is out of range.
pub fn check_timeout(what: &str, timeout: Duration) -> Result<Duration> {
    if timeout < Duration::from_millis(1) {
        return Err(Error::invalid(format!("the {what} must be at least 1 ms")));
    }
    Ok(timeout)
}
