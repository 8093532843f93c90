//! What a peer certificate says, in the forms Node's `getPeerCertificate()`
//! gives, as NUL-terminated strings C can borrow.

use std::ffi::CString;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509, X509NameRef};

use super::openssl_ext;

/// The facts of one certificate.
#[derive(Clone, Debug)]
pub struct CertificateInfo {
    /// The subject, e.g. "CN=client, O=Example".
    pub subject: CString,
    /// The issuer, in the same form.
    pub issuer: CString,
    /// The subject's common name, if it has one.
    pub common_name: Option<CString>,
    /// The serial number in upper-case hex, as Node's `serialNumber`.
    pub serial_number: CString,
    /// Node's `valid_from` / `valid_to`, e.g. "Nov 25 07:12:36 2026 GMT".
    pub valid_from: CString,
    pub valid_to: CString,
    /// Node's `fingerprint256`: the SHA-256 of the DER, "AB:CD:...".
    pub fingerprint256: CString,
    /// Node's `subjectaltname`, e.g. "DNS:localhost, IP Address:127.0.0.1".
    pub subject_alt_names: Option<CString>,
    /// The certificate, PEM.
    pub pem: CString,
    /// The subject and the issuer as mod_ssl gives them (RFC 2253: most
    /// specific first, e.g. "CN=client,O=Example"), for the CGI variables.
    pub subject_rfc2253: Vec<u8>,
    pub issuer_rfc2253: Vec<u8>,
}

fn text(s: String) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn one_line(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl CertificateInfo {
    pub fn new(cert: &X509) -> CertificateInfo {
        let serial = cert
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
            .unwrap_or_default();
        let fingerprint = cert
            .digest(MessageDigest::sha256())
            .map(|d| {
                d.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default();
        let alt_names = cert.subject_alt_names().map(|names| {
            names
                .iter()
                .filter_map(|name| {
                    if let Some(dns) = name.dnsname() {
                        Some(format!("DNS:{dns}"))
                    } else if let Some(ip) = name.ipaddress() {
                        let ip = match ip.len() {
                            4 => <[u8; 4]>::try_from(ip)
                                .ok()
                                .map(|a| std::net::IpAddr::from(a).to_string()),
                            16 => <[u8; 16]>::try_from(ip)
                                .ok()
                                .map(|a| std::net::IpAddr::from(a).to_string()),
                            _ => None,
                        }?;
                        Some(format!("IP Address:{ip}"))
                    } else {
                        name.email().map(|email| format!("email:{email}"))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        });
        CertificateInfo {
            subject: text(one_line(cert.subject_name())),
            issuer: text(one_line(cert.issuer_name())),
            common_name: cert
                .subject_name()
                .entries_by_nid(Nid::COMMONNAME)
                .next()
                .and_then(|e| e.data().to_string().ok())
                .map(text),
            serial_number: text(serial),
            valid_from: text(cert.not_before().to_string()),
            valid_to: text(cert.not_after().to_string()),
            fingerprint256: text(fingerprint),
            subject_alt_names: alt_names.map(text),
            pem: cert
                .to_pem()
                .map(|p| text(String::from_utf8_lossy(&p).into_owned()))
                .unwrap_or_default(),
            subject_rfc2253: openssl_ext::name_rfc2253(cert.subject_name()),
            issuer_rfc2253: openssl_ext::name_rfc2253(cert.issuer_name()),
        }
    }
}
