//! A server's TLS configuration, built once from Node's options and shared
//! by every connection.

use std::ffi::{CStr, CString};
use std::sync::{Arc, RwLock};

use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::X509;

use super::dev_certificate::DevCertificate;
use super::policy::Policy;
use crate::error::{Error, Result};

/// Node's TLS options of `https.createServer`.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// The private key, PEM.
    pub key_pem: Option<Vec<u8>>,
    /// The certificate chain, PEM: the leaf first, then intermediates.
    pub cert_pem: Option<Vec<u8>>,
    /// The passphrase of an encrypted private key.
    pub passphrase: Option<String>,
    /// Trusted CA certificates for client certificates, PEM (each may hold several).
    pub ca_pem: Vec<Vec<u8>>,
    /// Ask clients for a certificate (Node's `requestCert`, default false).
    pub request_cert: bool,
    /// Refuse clients whose certificate does not verify (Node's
    /// `rejectUnauthorized`). Only has an effect with `request_cert`.
    /// Default true, as in modern Node's `tls.createServer`.
    pub reject_unauthorized: bool,
    /// Use a generated self-signed certificate for localhost (development only).
    pub dev_certificate: bool,
    /// Node's `sessionIdContext`.
    pub session_id_context: Option<Vec<u8>>,
    /// Versions, ciphers, groups, ALPN.
    pub policy: Policy,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            key_pem: None,
            cert_pem: None,
            passphrase: None,
            ca_pem: Vec::new(),
            request_cert: false,
            reject_unauthorized: true,
            dev_certificate: false,
            session_id_context: None,
            policy: Policy::default(),
        }
    }
}

/// Receives NSS key-log lines (Node's `keylog` event), one line without its newline.
pub type KeylogHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// The built configuration: an OpenSSL acceptor and the certificate it presents.
pub struct ServerTls {
    acceptor: SslAcceptor,
    keylog: Arc<RwLock<Option<KeylogHandler>>>,
    certificate_pem: CString,
    request_cert: bool,
}

impl ServerTls {
    pub fn new(options: &TlsOptions) -> Result<ServerTls> {
        let (key, chain) = load_identity(options)?;
        let tls = |e: openssl::error::ErrorStack| Error::Tls(e.to_string());

        let mut builder =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(tls)?;
        options.policy.apply(&mut builder)?;
        let keylog: Arc<RwLock<Option<KeylogHandler>>> = Arc::default();
        let sink = keylog.clone();
        builder.set_keylog_callback(move |_, line| {
            let handler = sink.read().ok().and_then(|h| h.clone());
            if let Some(handler) = handler {
                handler(line);
            }
        });
        let leaf = &chain[0];
        builder
            .set_certificate(leaf)
            .map_err(|e| Error::Certificate(e.to_string()))?;
        for intermediate in &chain[1..] {
            builder
                .add_extra_chain_cert(intermediate.clone())
                .map_err(|e| Error::Certificate(e.to_string()))?;
        }
        builder
            .set_private_key(&key)
            .map_err(|e| Error::Key(e.to_string()))?;
        builder.check_private_key().map_err(|_| {
            Error::Certificate("the private key does not match the certificate".into())
        })?;

        if options.ca_pem.is_empty() {
            if options.request_cert {
                builder.set_default_verify_paths().map_err(tls)?;
            }
        } else {
            for pem in &options.ca_pem {
                for ca in parse_certificates(pem, "ca")? {
                    builder.add_client_ca(&ca).map_err(tls)?;
                    builder.cert_store_mut().add_cert(ca).map_err(tls)?;
                }
            }
        }

        if options.request_cert {
            if options.reject_unauthorized {
                builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
            } else {
                // Continue the handshake whatever the verdict; the verdict is
                // read afterwards and reported as `authorized`.
                builder.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
            }
        }
        let context = match &options.session_id_context {
            Some(context) => Some(context.clone()),
            None if options.request_cert => Some(command_line_digest()),
            None => None,
        };
        if let Some(context) = context {
            builder.set_session_id_context(&context).map_err(tls)?;
        }

        let certificate_pem =
            CString::new(leaf.to_pem().map_err(tls)?).map_err(|e| Error::Tls(e.to_string()))?;
        Ok(ServerTls {
            acceptor: builder.build(),
            keylog,
            certificate_pem,
            request_cert: options.request_cert,
        })
    }

    /// Sets (or with `None` removes) the receiver of key-log lines.
    pub fn set_keylog_handler(&self, handler: Option<KeylogHandler>) {
        *self.keylog.write().unwrap_or_else(|p| p.into_inner()) = handler;
    }

    pub fn acceptor(&self) -> &SslAcceptor {
        &self.acceptor
    }

    /// The leaf certificate the server presents, PEM.
    pub fn certificate_pem(&self) -> &CStr {
        &self.certificate_pem
    }

    pub fn requests_client_certificate(&self) -> bool {
        self.request_cert
    }
}

fn load_identity(options: &TlsOptions) -> Result<(PKey<Private>, Vec<X509>)> {
    match (&options.key_pem, &options.cert_pem) {
        (Some(key), Some(cert)) => {
            let key = load_private_key(key, options.passphrase.as_deref())?;
            let chain = parse_certificates(cert, "cert")?;
            Ok((key, chain))
        }
        (None, None) if options.dev_certificate => {
            let dev = DevCertificate::generate()?;
            Ok((dev.key, vec![dev.cert]))
        }
        (Some(_), None) => Err(Error::Certificate(
            "a key was given without a certificate".into(),
        )),
        (None, Some(_)) => Err(Error::Key(
            "a certificate was given without a private key".into(),
        )),
        (None, None) => Err(Error::Certificate(
            "no certificate: set a key and a certificate, or use the development certificate"
                .into(),
        )),
    }
}

/// Reads a PEM private key without ever letting OpenSSL prompt on the terminal.
fn load_private_key(pem: &[u8], passphrase: Option<&str>) -> Result<PKey<Private>> {
    let encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
    let mut asked = false;
    let result = PKey::private_key_from_pem_callback(pem, |buf| {
        asked = true;
        let pass = passphrase.unwrap_or("").as_bytes();
        if pass.len() > buf.len() {
            return Ok(0);
        }
        buf[..pass.len()].copy_from_slice(pass);
        Ok(pass.len())
    });
    match result {
        Ok(key) => Ok(key),
        Err(_) if (encrypted || asked) && passphrase.is_none() => Err(Error::Passphrase(
            "the private key is encrypted and no passphrase was given".into(),
        )),
        Err(_) if encrypted || asked => Err(Error::Passphrase(
            "wrong passphrase for the private key".into(),
        )),
        Err(e) => Err(Error::Key(format!("not a usable PEM private key ({e})"))),
    }
}

fn parse_certificates(pem: &[u8], what: &str) -> Result<Vec<X509>> {
    let certs = X509::stack_from_pem(pem)
        .map_err(|e| Error::Certificate(format!("{what}: not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(Error::Certificate(format!(
            "{what}: no certificate found in the PEM data"
        )));
    }
    Ok(certs)
}

/// Node's default `sessionIdContext` when `requestCert` is on: an MD5 of the
/// process's command line (SHA-256, cut to 16 bytes, where MD5 is unavailable).
fn command_line_digest() -> Vec<u8> {
    let line = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    hash(MessageDigest::md5(), line.as_bytes())
        .or_else(|_| hash(MessageDigest::sha256(), line.as_bytes()))
        .map(|d| d[..16].to_vec())
        .unwrap_or_else(|_| b"nhttps".to_vec())
}

/// Reads a whole PEM file, with the path in the error.
pub fn read_pem_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{path}: {e}"))))
}
