//! One client connection: connect (TCP or unix socket), then — for
//! `https:` — the TLS handshake with verification; and the checks a pooled
//! connection passes before reuse. A `http:` connection is the bare socket.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslRef, SslStream, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;

use super::options::{ClientTlsOptions, RequestOptions};
use crate::error::{Error, Result};
use crate::http::BufferedStream;
use crate::net::{SocketInfo, Transport};
use crate::tls::{ClientSession, Identity, node_verify_error_name, parse_certificates};

/// The byte stream of a client connection: TLS over the socket, or the
/// plain socket for `http:`.
pub(crate) enum ClientSocket {
    Tls(SslStream<Transport>),
    Plain(Transport),
}

impl ClientSocket {
    /// The socket underneath.
    pub fn transport(&self) -> &Transport {
        match self {
            ClientSocket::Tls(ssl) => ssl.get_ref(),
            ClientSocket::Plain(transport) => transport,
        }
    }

    /// The TLS state; `None` on a plain connection.
    pub fn ssl(&self) -> Option<&SslRef> {
        match self {
            ClientSocket::Tls(ssl) => Some(ssl.ssl()),
            ClientSocket::Plain(_) => None,
        }
    }
}

impl Read for ClientSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientSocket::Tls(ssl) => ssl.read(buf),
            ClientSocket::Plain(transport) => transport.read(buf),
        }
    }
}

impl Write for ClientSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientSocket::Tls(ssl) => ssl.write(buf),
            ClientSocket::Plain(transport) => transport.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientSocket::Tls(ssl) => ssl.flush(),
            ClientSocket::Plain(transport) => transport.flush(),
        }
    }
}

pub(crate) type ClientStream = BufferedStream<ClientSocket>;

/// How to secure a new connection: the agent's TLS configuration for its
/// pool and a session to offer for resumption.
pub(crate) struct TlsStart<'a> {
    pub connector: &'a SslConnector,
    pub session: Option<&'a ClientSession>,
}

/// A connected connection to a server, TLS established for `https:`.
pub(crate) struct ClientConnection {
    pub stream: ClientStream,
    pub info: Arc<SocketInfo>,
    /// Taken from the pool rather than freshly made.
    pub reused: bool,
    /// When it went back to the pool.
    pub idle_since: Instant,
}

impl ClientConnection {
    /// Connects to the server of `options`; with `tls`, does the handshake
    /// (offering its session for resumption), without it speaks plain HTTP.
    pub fn open(options: &RequestOptions, tls: Option<TlsStart<'_>>) -> Result<ClientConnection> {
        let transport = connect_transport(options)?;
        let _ = transport.set_read_timeout(Some(options.timeout));
        let _ = transport.set_write_timeout(Some(options.timeout));
        let mut info = SocketInfo::from_transport(&transport);
        let socket = match tls {
            // Plain HTTP: the TLS facts of `info` stay `None`.
            None => ClientSocket::Plain(transport),
            Some(tls) => {
                let ssl = handshake(options, tls, transport)?;
                info.add_tls(ssl.ssl(), false);
                ClientSocket::Tls(ssl)
            }
        };
        Ok(ClientConnection {
            stream: BufferedStream::new(socket),
            info: Arc::new(info),
            reused: false,
            idle_since: Instant::now(),
        })
    }

    /// A session to offer on the next connection to the same server.
    pub fn session(&self) -> Option<ClientSession> {
        self.stream.get_ref().ssl().and_then(ClientSession::of)
    }

    /// Whether an idle connection can no longer be used: the server closed
    /// it, or sent something unasked.
    pub fn is_stale(&self) -> bool {
        let socket = self.stream.get_ref();
        !self.stream.buffered().is_empty()
            || socket.ssl().is_some_and(|ssl| ssl.pending() > 0)
            || socket.transport().is_readable_now()
    }

    /// Sends close_notify (over TLS) and closes the socket.
    pub fn close(self) {
        let (socket, _) = self.stream.into_parts();
        match socket {
            ClientSocket::Tls(mut ssl) => {
                let _ = ssl.shutdown();
                let _ = ssl.get_ref().shutdown(Shutdown::Both);
            }
            ClientSocket::Plain(transport) => {
                let _ = transport.shutdown(Shutdown::Both);
            }
        }
    }
}

/// The TLS handshake over a connected socket, verifying the server as the
/// options say.
fn handshake(
    options: &RequestOptions,
    tls: TlsStart<'_>,
    transport: Transport,
) -> Result<SslStream<Transport>> {
    let mut config = tls
        .connector
        .configure()
        .map_err(|e| Error::Tls(e.to_string()))?;
    if !options.tls.reject_unauthorized {
        config.set_verify_hostname(false);
        config.set_verify(SslVerifyMode::NONE);
    }
    if let Some(session) = tls.session {
        // Sessions are kept per pool, as connectors are: it is of the
        // same context.
        session
            .offer(&mut config)
            .map_err(|e| Error::Tls(e.to_string()))?;
    }
    let name = options
        .tls
        .servername
        .clone()
        .unwrap_or_else(|| options.target_host().to_string());
    config
        .connect(&name, transport)
        .map_err(describe_handshake_failure)
}

fn connect_transport(options: &RequestOptions) -> Result<Transport> {
    if let Some(path) = &options.socket_path {
        return UnixStream::connect(path)
            .map(Transport::from)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    Error::ConnectionRefused(format!("{}: {e}", path.display()))
                }
                _ => Error::Io(e),
            });
    }
    let host = options.target_host();
    let addresses: Vec<_> = (host, options.port())
        .to_socket_addrs()
        .map_err(|e| Error::Dns(format!("{host}: {e}")))?
        .collect();
    let mut last = Error::Dns(format!("{host}: no address"));
    for address in addresses {
        match TcpStream::connect_timeout(&address, options.connect_timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Transport::from(stream));
            }
            Err(e) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        Error::ConnectionRefused(format!("{address}"))
                    }
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Error::Timeout(format!("connecting to {address}"))
                    }
                    _ => Error::Io(e),
                }
            }
        }
    }
    Err(last)
}

fn describe_handshake_failure(e: HandshakeError<Transport>) -> Error {
    match e {
        HandshakeError::SetupFailure(stack) => Error::Tls(stack.to_string()),
        HandshakeError::Failure(mid) | HandshakeError::WouldBlock(mid) => {
            let verdict = mid.ssl().verify_result();
            if let Some(code) = node_verify_error_name(verdict) {
                return Error::Verify {
                    code,
                    message: verdict.error_string().to_string(),
                };
            }
            let error = mid.error();
            match error.io_error() {
                Some(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    Error::Timeout("TLS handshake".into())
                }
                Some(io) => Error::Handshake(io.to_string()),
                None => Error::Handshake(
                    error
                        .ssl_error()
                        .map_or("the server closed the connection".into(), |s| s.to_string()),
                ),
            }
        }
    }
}

/// An OpenSSL client configuration for these TLS options. Costly (it may
/// read the system's CA bundle): agents keep one per set of options, and
/// build it without holding their lock. CAs, the client certificate and
/// its key are read by the server's loaders (`tls::Identity`,
/// `tls::parse_certificates`): the same inputs are taken, and refused with
/// the same errors, on both sides.
pub(crate) fn build_connector(tls: &ClientTlsOptions) -> Result<SslConnector> {
    let err = |e: openssl::error::ErrorStack| Error::Tls(e.to_string());
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(err)?;
    builder
        .set_min_proto_version(Some(tls.min_version.to_openssl()))
        .map_err(err)?;
    if !tls.ca_pem.is_empty() {
        // Given CAs replace the system's roots, as in Node.
        let mut store = X509StoreBuilder::new().map_err(err)?;
        for pem in &tls.ca_pem {
            for ca in parse_certificates(pem, "ca")? {
                store.add_cert(ca).map_err(err)?;
            }
        }
        builder.set_verify_cert_store(store.build()).map_err(err)?;
        builder.set_cert_store(X509StoreBuilder::new().map_err(err)?.build());
    }
    // A client certificate is sent when both it and its key are given.
    if let (Some(cert), Some(key)) = (&tls.cert_pem, &tls.key_pem) {
        Identity::from_pem(key, cert, tls.passphrase.as_deref())?.install(&mut builder)?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{ContextOptions, DevCertificate, SecureContext};
    use openssl::symm::Cipher;

    /// What the client and the server make of the same key, certificate
    /// and CAs: `None` when accepted, else the error.
    fn client_and_server(
        key: &[u8],
        cert: &[u8],
        passphrase: Option<&str>,
        ca: &[u8],
    ) -> (Option<String>, Option<String>) {
        let ca_pem: Vec<Vec<u8>> = if ca.is_empty() {
            Vec::new()
        } else {
            vec![ca.to_vec()]
        };
        let client = build_connector(&ClientTlsOptions {
            key_pem: Some(key.to_vec()),
            cert_pem: Some(cert.to_vec()),
            passphrase: passphrase.map(str::to_string),
            ca_pem: ca_pem.clone(),
            ..ClientTlsOptions::default()
        });
        let server = SecureContext::new(&ContextOptions {
            key_pem: Some(key.to_vec()),
            cert_pem: Some(cert.to_vec()),
            passphrase: passphrase.map(str::to_string),
            ca_pem,
            ..ContextOptions::default()
        });
        (
            client.err().map(|e| format!("{e:?}")),
            server.err().map(|e| format!("{e:?}")),
        )
    }

    #[test]
    fn a_client_certificate_is_read_by_the_servers_loaders_with_their_errors() {
        let dev = DevCertificate::generate().unwrap();
        let cert = dev.cert.to_pem().unwrap();
        let key = dev.key.private_key_to_pem_pkcs8().unwrap();
        let encrypted = dev
            .key
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"s3cret")
            .unwrap();
        let other_key = DevCertificate::generate()
            .unwrap()
            .key
            .private_key_to_pem_pkcs8()
            .unwrap();

        assert_eq!(
            client_and_server(&key, &cert, None, b""),
            (None, None),
            "a key and its certificate"
        );
        assert_eq!(
            client_and_server(&encrypted, &cert, Some("s3cret"), &cert),
            (None, None),
            "an encrypted key with its passphrase"
        );
        for (what, key, cert, passphrase, ca) in [
            ("no passphrase", &encrypted, &cert, None, &b""[..]),
            ("a wrong passphrase", &encrypted, &cert, Some("wrong"), b""),
            ("another certificate's key", &other_key, &cert, None, b""),
            ("a key that is not one", &cert, &cert, None, b""),
            ("a certificate that is not one", &key, &key, None, b""),
            ("CAs that are none", &key, &cert, None, b"not a certificate"),
        ] {
            let (client, server) = client_and_server(key, cert, passphrase, ca);
            assert!(client.is_some(), "{what}: the client took it");
            assert_eq!(client, server, "{what}");
        }
        let (client, _) = client_and_server(&encrypted, &cert, Some("wrong"), b"");
        assert!(client.unwrap().starts_with("Passphrase"));
    }
}
