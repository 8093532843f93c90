//! A private key and its certificate chain — the identity a server shows,
//! or a client when the server asks for a certificate — and the trusted CA
//! certificates: parsed from PEM or PKCS#12 and installed into an OpenSSL
//! context. The one home of key, certificate and passphrase handling:
//! `SecureContext` (servers) and `build_connector` (clients) both call it,
//! so both accept the same inputs and refuse the same ones with the same
//! errors.

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::ssl::SslContextBuilder;
use openssl::x509::X509;

use crate::error::{Error, Result};

/// A private key and the certificate chain it signs for: the leaf first,
/// then intermediates.
pub(crate) struct Identity {
    key: PKey<Private>,
    chain: Vec<X509>,
}

impl Identity {
    /// Node's `key` and `cert` (PEM), with `passphrase` for an encrypted key.
    pub(crate) fn from_pem(key: &[u8], cert: &[u8], passphrase: Option<&str>) -> Result<Identity> {
        let key = load_private_key(key, passphrase)?;
        let chain = parse_certificates(cert, "cert")?;
        Ok(Identity { key, chain })
    }

    /// Node's `pfx`: key and chain in one PKCS#12 bundle (DER), opened with
    /// `passphrase` (none: the empty one).
    pub(crate) fn from_pkcs12(der: &[u8], passphrase: Option<&str>) -> Result<Identity> {
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
        Ok(Identity { key, chain })
    }

    /// A key and a certificate made elsewhere (the development certificate).
    pub(crate) fn new(key: PKey<Private>, leaf: X509) -> Identity {
        Identity {
            key,
            chain: vec![leaf],
        }
    }

    /// The leaf certificate.
    pub(crate) fn leaf(&self) -> &X509 {
        &self.chain[0]
    }

    /// Makes a context being built present this identity: its chain and
    /// its key, which must be the leaf's.
    pub(crate) fn install(&self, builder: &mut SslContextBuilder) -> Result<()> {
        builder
            .set_certificate(self.leaf())
            .map_err(|e| Error::Certificate(e.to_string()))?;
        for intermediate in &self.chain[1..] {
            builder
                .add_extra_chain_cert(intermediate.clone())
                .map_err(|e| Error::Certificate(e.to_string()))?;
        }
        let mismatch =
            || Error::Certificate("the certificate does not match the private key".into());
        let certificate_key = self.leaf().public_key().map_err(|_| mismatch())?;
        if !self.key.public_eq(&certificate_key) {
            return Err(mismatch());
        }
        builder
            .set_private_key(&self.key)
            .map_err(|e| Error::Key(e.to_string()))
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

/// The certificates of a PEM text (at least one); `what` names the option
/// in the error ("cert", "ca").
pub(crate) fn parse_certificates(pem: &[u8], what: &str) -> Result<Vec<X509>> {
    let certs = X509::stack_from_pem(pem)
        .map_err(|e| Error::Certificate(format!("{what}: not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(Error::Certificate(format!(
            "{what}: no certificate found in the PEM data"
        )));
    }
    Ok(certs)
}
