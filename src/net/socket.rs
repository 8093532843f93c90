//! What is known about a connection (Node's `socket` properties), and the
//! socket handed over on `upgrade`.

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Mutex;

use openssl::ssl::{NameType, SslRef, SslStream};

use super::transport::Transport;
use crate::error::{Error, Result};
use crate::tls::{CertificateInfo, negotiated_npn, node_verify_error_name};

/// Addresses and TLS facts of one connection. Strings are NUL-terminated so
/// that C can borrow them.
#[derive(Debug, Default, Clone)]
pub struct SocketInfo {
    pub remote_address: Option<CString>,
    pub remote_port: u16,
    pub local_address: Option<CString>,
    pub local_port: u16,
    /// e.g. "TLSv1.3"; `None` before the handshake.
    pub tls_version: Option<CString>,
    pub cipher: Option<CString>,
    /// The SNI name the client asked for.
    pub servername: Option<CString>,
    /// The ALPN protocol agreed on.
    pub alpn_protocol: Option<CString>,
    /// The NPN protocol agreed on (Node's `npnProtocol`).
    pub npn_protocol: Option<CString>,
    /// Whether the session was resumed (Node's `isSessionReused()`).
    pub session_reused: bool,
    /// On a client response: the connection came from the agent's pool.
    pub reused_connection: bool,
    /// Whether a client certificate was asked for.
    pub client_certificate_requested: bool,
    /// Node's `socket.authorized`.
    pub authorized: bool,
    /// Node's `socket.authorizationError`, e.g. `DEPTH_ZERO_SELF_SIGNED_CERT`.
    pub authorization_error: Option<CString>,
    /// The common name of the client certificate's subject.
    pub peer_common_name: Option<CString>,
    /// The client certificate (Node's `getPeerCertificate()`).
    pub peer_certificate: Option<CertificateInfo>,
}

fn cstring(s: &str) -> Option<CString> {
    CString::new(s).ok()
}

impl SocketInfo {
    /// What is known before the handshake: the addresses.
    pub fn from_transport(transport: &Transport) -> SocketInfo {
        let (remote_address, remote_port) = match transport.remote() {
            Some((a, p)) => (cstring(&a), p),
            None => (None, 0),
        };
        let (local_address, local_port) = match transport.local() {
            Some((a, p)) => (cstring(&a), p),
            None => (None, 0),
        };
        SocketInfo {
            remote_address,
            remote_port,
            local_address,
            local_port,
            ..SocketInfo::default()
        }
    }

    /// The addresses a proxy said the connection is between (its PROXY
    /// protocol header), in place of the socket's own.
    pub fn set_addresses(&mut self, remote: std::net::SocketAddr, local: std::net::SocketAddr) {
        self.remote_address = cstring(&remote.ip().to_canonical().to_string());
        self.remote_port = remote.port();
        self.local_address = cstring(&local.ip().to_canonical().to_string());
        self.local_port = local.port();
    }

    /// Adds what the finished handshake tells.
    pub fn add_tls(&mut self, ssl: &SslRef, client_certificate_requested: bool) {
        self.tls_version = cstring(ssl.version_str());
        self.cipher = ssl.current_cipher().and_then(|c| cstring(c.name()));
        self.servername = ssl.servername(NameType::HOST_NAME).and_then(cstring);
        self.alpn_protocol = ssl
            .selected_alpn_protocol()
            .and_then(|p| CString::new(p).ok());
        self.npn_protocol = negotiated_npn(ssl).and_then(|p| CString::new(p).ok());
        self.session_reused = ssl.session_reused();
        self.client_certificate_requested = client_certificate_requested;
        if client_certificate_requested {
            let peer = ssl.peer_certificate();
            self.peer_certificate = peer.as_ref().map(CertificateInfo::new);
            self.peer_common_name = self
                .peer_certificate
                .as_ref()
                .and_then(|c| c.common_name.clone());
            self.authorization_error = match peer {
                None => cstring("UNABLE_TO_GET_ISSUER_CERT"),
                Some(_) => node_verify_error_name(ssl.verify_result()).and_then(cstring),
            };
            self.authorized = self.authorization_error.is_none();
        }
    }

    pub fn remote_address_str(&self) -> Option<&str> {
        self.remote_address
            .as_deref()
            .and_then(|a| CStr::to_str(a).ok())
    }
}

/// The connection after `101 Switching Protocols` (or CONNECT): TLS is still
/// on; HTTP is over. Reads and writes are serialized: do not read on one
/// thread while writing on another.
pub struct UpgradedSocket {
    stream: Mutex<SslStream<Transport>>,
    /// A second handle on the socket: waits for input and shuts the
    /// connection down without the stream's lock, so that a read waiting on
    /// one thread blocks neither a write nor `close` on another.
    waker: Option<Transport>,
    /// Bytes read past the head before the hand-over, returned first.
    pending: Mutex<Vec<u8>>,
    info: SocketInfo,
}

impl UpgradedSocket {
    /// Takes over a connection; `pending` are bytes already read from it
    /// past the HTTP head, which `read` returns before anything new.
    pub(crate) fn new(
        stream: SslStream<Transport>,
        info: SocketInfo,
        pending: Vec<u8>,
    ) -> UpgradedSocket {
        // Its reads wait for ever.
        let _ = stream.get_ref().set_read_timeout(None);
        let waker = stream.get_ref().try_clone().ok();
        UpgradedSocket {
            waker,
            stream: Mutex::new(stream),
            pending: Mutex::new(pending),
            info,
        }
    }

    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    /// Reads what the peer sent next; 0 at the end.
    pub fn read(&self, out: &mut [u8]) -> Result<usize> {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if !pending.is_empty() {
                let n = out.len().min(pending.len());
                out[..n].copy_from_slice(&pending[..n]);
                pending.drain(..n);
                return Ok(n);
            }
        }
        let lock = || {
            self.stream
                .lock()
                .map_err(|_| Error::state("socket poisoned"))
        };
        let Some(waker) = &self.waker else {
            return Ok(lock()?.read(out)?);
        };
        loop {
            {
                let mut stream = lock()?;
                // Input in OpenSSL's buffers (decrypted or not yet), or
                // waiting on the socket: read now.
                if crate::tls::has_pending(stream.ssl()) || waker.is_readable_now() {
                    return Ok(stream.read(out)?);
                }
            }
            // Wait with the lock released: writes and `close` go on meanwhile.
            waker.wait_readable()?;
        }
    }

    /// Writes all of `data`.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        let mut stream = self
            .stream
            .lock()
            .map_err(|_| Error::state("socket poisoned"))?;
        Ok(stream.write_all(data)?)
    }

    /// Sends TLS close_notify and shuts the connection down. Later reads
    /// return 0 and writes fail.
    pub fn close(&self) {
        // Wakes a read waiting for input (it then returns 0), so the lock
        // below is free soon.
        if let Some(waker) = &self.waker {
            let _ = waker.shutdown(Shutdown::Read);
        }
        if let Ok(mut stream) = self.stream.lock() {
            let _ = stream.shutdown();
            let _ = stream.get_ref().shutdown(Shutdown::Both);
        }
    }
}
