//! Node's `SecureContext` (`tls.createSecureContext`): an identity (key and
//! certificate chain), trusted CAs and a policy, parsed and checked once,
//! shared by reference between servers and threads.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use openssl::ssl::{SslAcceptor, SslContextBuilder, SslMethod};
use openssl::x509::X509;

use super::dev_certificate::DevCertificate;
use super::identity::{Identity, parse_certificates};
use super::ocsp::{check_ocsp_response, staple};
use super::policy::Policy;
use crate::error::{Error, Result};

/// The options of `tls.createSecureContext` that describe one identity.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// The private key, PEM.
    pub key_pem: Option<Vec<u8>>,
    /// The certificate chain, PEM: the leaf first, then intermediates.
    pub cert_pem: Option<Vec<u8>>,
    /// Node's `pfx`: key and chain in one PKCS#12 bundle (DER).
    pub pfx: Option<Vec<u8>>,
    /// The passphrase of an encrypted private key or of the PKCS#12 bundle.
    pub passphrase: Option<String>,
    /// Trusted CA certificates, PEM (each may hold several).
    pub ca_pem: Vec<Vec<u8>>,
    /// Use a generated self-signed certificate for localhost (development only).
    pub dev_certificate: bool,
    /// A DER-encoded OCSP response for the certificate, stapled to the
    /// handshake of every client that asks (status_request).
    pub ocsp_response: Option<Vec<u8>>,
    /// Versions, ciphers, groups, ALPN.
    pub policy: Policy,
}

/// A parsed, checked identity with its CAs and policy.
pub struct SecureContext {
    identity: Identity,
    ca: Vec<X509>,
    policy: Policy,
    certificate_pem: CString,
    /// Shared with the status callback of every OpenSSL context built from this one.
    ocsp_response: Option<Arc<[u8]>>,
}

impl SecureContext {
    pub fn new(options: &ContextOptions) -> Result<Arc<SecureContext>> {
        let identity = load_identity(options)?;
        let mut ca = Vec::new();
        for pem in &options.ca_pem {
            ca.extend(parse_certificates(pem, "ca")?);
        }
        let certificate_pem = CString::new(identity.leaf().to_pem().map_err(tls)?)
            .map_err(|e| Error::Tls(e.to_string()))?;
        let ocsp_response = match &options.ocsp_response {
            Some(der) => {
                check_ocsp_response(der)?;
                Some(Arc::from(der.as_slice()))
            }
            None => None,
        };
        let context = SecureContext {
            identity,
            ca,
            policy: options.policy.clone(),
            certificate_pem,
            ocsp_response,
        };
        // Check now that OpenSSL takes it all (the key matches, the policy parses).
        let mut trial =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(tls)?;
        context.install(&mut trial)?;
        Ok(Arc::new(context))
    }

    /// Puts the policy, identity, CAs and OCSP response into a context being built.
    pub(crate) fn install(&self, builder: &mut SslContextBuilder) -> Result<()> {
        self.policy.apply(builder)?;
        self.identity.install(builder)?;
        for ca in &self.ca {
            builder.add_client_ca(ca).map_err(tls)?;
            builder.cert_store_mut().add_cert(ca.clone()).map_err(tls)?;
        }
        if let Some(response) = &self.ocsp_response {
            staple(builder, response.clone())?;
        }
        Ok(())
    }

    pub(crate) fn has_ca(&self) -> bool {
        !self.ca.is_empty()
    }

    /// The leaf certificate, PEM.
    pub fn certificate_pem(&self) -> &CStr {
        &self.certificate_pem
    }
}

fn tls(e: openssl::error::ErrorStack) -> Error {
    Error::Tls(e.to_string())
}

/// The identity the options give: a PKCS#12 bundle, else a key and a
/// certificate, else the development certificate if asked for.
fn load_identity(options: &ContextOptions) -> Result<Identity> {
    let passphrase = options.passphrase.as_deref();
    if let Some(pfx) = &options.pfx {
        return Identity::from_pkcs12(pfx, passphrase);
    }
    match (&options.key_pem, &options.cert_pem) {
        (Some(key), Some(cert)) => Identity::from_pem(key, cert, passphrase),
        (None, None) if options.dev_certificate => {
            let dev = DevCertificate::generate()?;
            Ok(Identity::new(dev.key, dev.cert))
        }
        (Some(_), None) => Err(Error::Certificate("a key was given without a certificate".into())),
        (None, Some(_)) => Err(Error::Key("a certificate was given without a private key".into())),
        (None, None) => Err(Error::Certificate(
            "no certificate: set a key and a certificate, a PKCS#12 bundle, or use the development certificate"
                .into(),
        )),
    }
}

/// Reads a whole file (PEM or PKCS#12), with the path in the error.
pub fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{path}: {e}"))))
}
