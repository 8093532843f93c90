//! An in-memory, self-signed certificate for localhost, 127.0.0.1 and ::1, so
//! that a development server needs no certificate files. For development
//! only: no client trusts it unless told to.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

use crate::error::{Error, Result};

/// A freshly generated key and self-signed certificate.
pub struct DevCertificate {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl DevCertificate {
    /// Generates an ECDSA P-256 key and a certificate valid for 30 days.
    pub fn generate() -> Result<DevCertificate> {
        Self::build()
            .map_err(|e| Error::Tls(format!("generating the development certificate: {e}")))
    }

    fn build() -> std::result::Result<DevCertificate, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;

        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "nhttps development certificate")?;
        name.append_entry_by_nid(Nid::COMMONNAME, "localhost")?;
        let name = name.build();

        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;

        let mut cert = X509::builder()?;
        cert.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        let not_before = Asn1Time::days_from_now(0)?;
        let not_after = Asn1Time::days_from_now(30)?;
        cert.set_serial_number(&serial)?;
        cert.set_subject_name(&name)?;
        cert.set_issuer_name(&name)?;
        cert.set_pubkey(&key)?;
        cert.set_not_before(&not_before)?;
        cert.set_not_after(&not_after)?;
        cert.append_extension(BasicConstraints::new().critical().build()?)?;
        cert.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        cert.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .ip("::1")
            .build(&cert.x509v3_context(None, None))?;
        cert.append_extension(san)?;
        cert.sign(&key, MessageDigest::sha256())?;
        Ok(DevCertificate {
            key,
            cert: cert.build(),
        })
    }
}
