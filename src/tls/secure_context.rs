//! Node's `SecureContext` (`tls.createSecureContext`): an identity (key and
//! certificate chain), trusted CAs and a policy, parsed and checked once,
//! shared by reference between servers and threads.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslContextBuilder, SslMethod};
use openssl::x509::X509;

use super::dev_certificate::DevCertificate;
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
    key: PKey<Private>,
    chain: Vec<X509>,
    ca: Vec<X509>,
    policy: Policy,
    certificate_pem: CString,
    /// Shared with the status callback of every OpenSSL context built from this one.
    ocsp_response: Option<Arc<[u8]>>,
}

impl SecureContext {
    pub fn new(options: &ContextOptions) -> Result<Arc<SecureContext>> {
        let (key, chain) = load_identity(options)?;
        let mut ca = Vec::new();
        for pem in &options.ca_pem {
            ca.extend(parse_certificates(pem, "ca")?);
        }
        let certificate_pem =
            CString::new(chain[0].to_pem().map_err(tls)?).map_err(|e| Error::Tls(e.to_string()))?;
        let ocsp_response = match &options.ocsp_response {
            Some(der) => {
                check_ocsp_response(der)?;
                Some(Arc::from(der.as_slice()))
            }
            None => None,
        };
        let context = SecureContext {
            key,
            chain,
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
        builder
            .set_certificate(&self.chain[0])
            .map_err(|e| Error::Certificate(e.to_string()))?;
        for intermediate in &self.chain[1..] {
            builder
                .add_extra_chain_cert(intermediate.clone())
                .map_err(|e| Error::Certificate(e.to_string()))?;
        }
        let mismatch =
            || Error::Certificate("the certificate does not match the private key".into());
        let certificate_key = self.chain[0].public_key().map_err(|_| mismatch())?;
        if !self.key.public_eq(&certificate_key) {
            return Err(mismatch());
        }
        builder
            .set_private_key(&self.key)
            .map_err(|e| Error::Key(e.to_string()))?;
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

fn load_identity(options: &ContextOptions) -> Result<(PKey<Private>, Vec<X509>)> {
    if let Some(pfx) = &options.pfx {
        return load_pkcs12(pfx, options.passphrase.as_deref());
    }
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
        (Some(_), None) => Err(Error::Certificate("a key was given without a certificate".into())),
        (None, Some(_)) => Err(Error::Key("a certificate was given without a private key".into())),
        (None, None) => Err(Error::Certificate(
            "no certificate: set a key and a certificate, a PKCS#12 bundle, or use the development certificate"
                .into(),
        )),
    }
}

fn load_pkcs12(der: &[u8], passphrase: Option<&str>) -> Result<(PKey<Private>, Vec<X509>)> {
    let bundle = Pkcs12::from_der(der)
        .map_err(|e| Error::Certificate(format!("pfx: not a PKCS#12 bundle ({e})")))?;
    let parsed = bundle.parse2(passphrase.unwrap_or("")).map_err(|_| {
        Error::Passphrase("pfx: wrong or missing passphrase for the PKCS#12 bundle".into())
    })?;
    let key = parsed
        .pkey
        .ok_or_else(|| Error::Key("pfx: the bundle holds no private key".into()))?;
    let leaf = parsed
        .cert
        .ok_or_else(|| Error::Certificate("pfx: the bundle holds no certificate".into()))?;
    let mut chain = vec![leaf];
    if let Some(ca) = parsed.ca {
        chain.extend(ca);
    }
    Ok((key, chain))
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

/// Reads a whole file (PEM or PKCS#12), with the path in the error.
pub fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{path}: {e}"))))
}
