//! Which TLS a server speaks: versions, cipher suites, key-exchange groups
//! and ALPN. The defaults meet Mozilla's "intermediate" server profile;
//! OpenSSL's own default group list does not (it offers more than
//! X25519, P-256 and P-384), so we set ours.

use openssl::ssl::{AlpnError, SslContextBuilder, SslOptions, SslVersion};

use crate::error::{Error, Result};

/// TLS 1.2 ciphers of Mozilla's intermediate profile (v5.7), in its order.
pub const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:\
ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
/// TLS 1.3 cipher suites of the profile.
pub const INTERMEDIATE_CIPHERSUITES: &str =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
/// Key-exchange groups of the profile (Node's `ecdhCurve`).
pub const INTERMEDIATE_GROUPS: &str = "X25519:P-256:P-384";

/// A TLS protocol version, by Node's names ("TLSv1.2", ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    Tls1_0,
    Tls1_1,
    Tls1_2,
    Tls1_3,
}

impl TlsVersion {
    /// Parses Node's names: "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3".
    pub fn from_node_name(name: &str) -> Result<TlsVersion> {
        match name {
            "TLSv1" | "TLSv1.0" => Ok(TlsVersion::Tls1_0),
            "TLSv1.1" => Ok(TlsVersion::Tls1_1),
            "TLSv1.2" => Ok(TlsVersion::Tls1_2),
            "TLSv1.3" => Ok(TlsVersion::Tls1_3),
            _ => Err(Error::invalid(format!(
                "unknown TLS version {name:?} (expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)"
            ))),
        }
    }

    pub(crate) fn to_openssl(self) -> SslVersion {
        match self {
            TlsVersion::Tls1_0 => SslVersion::TLS1,
            TlsVersion::Tls1_1 => SslVersion::TLS1_1,
            TlsVersion::Tls1_2 => SslVersion::TLS1_2,
            TlsVersion::Tls1_3 => SslVersion::TLS1_3,
        }
    }
}

/// The policy options of Node's `tls.createSecureContext`.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Node's `minVersion`; default TLS 1.2 (Node's own default, and the
    /// profile's). TLS 1.0 and 1.1 also need `ciphers` with `@SECLEVEL=0`
    /// on OpenSSL 3.
    pub min_version: TlsVersion,
    /// Node's `maxVersion`; default the newest (TLS 1.3).
    pub max_version: TlsVersion,
    /// Node's `ciphers`: the TLS 1.2 cipher list, OpenSSL syntax.
    pub ciphers: String,
    /// The TLS 1.3 cipher suites, OpenSSL syntax.
    pub ciphersuites: String,
    /// Node's `ecdhCurve`: the key-exchange groups, colon-separated.
    pub groups: String,
    /// Node's `honorCipherOrder`: pick by our cipher order, not the client's.
    pub honor_cipher_order: bool,
    /// Node's `ALPNProtocols`, in our order of preference.
    pub alpn_protocols: Vec<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            min_version: TlsVersion::Tls1_2,
            max_version: TlsVersion::Tls1_3,
            ciphers: INTERMEDIATE_CIPHERS.to_string(),
            ciphersuites: INTERMEDIATE_CIPHERSUITES.to_string(),
            groups: INTERMEDIATE_GROUPS.to_string(),
            honor_cipher_order: false,
            alpn_protocols: Vec::new(),
        }
    }
}

impl Policy {
    pub(crate) fn apply(&self, builder: &mut SslContextBuilder) -> Result<()> {
        if self.min_version > self.max_version {
            return Err(Error::invalid(
                "the minimum TLS version is above the maximum",
            ));
        }
        // The versions alone decide: the Mozilla preset's NO_TLSv1 and
        // NO_TLSv1_1 flags would otherwise override a lower minVersion.
        builder.clear_options(SslOptions::NO_TLSV1 | SslOptions::NO_TLSV1_1);
        builder
            .set_min_proto_version(Some(self.min_version.to_openssl()))
            .map_err(|e| Error::Tls(e.to_string()))?;
        builder
            .set_max_proto_version(Some(self.max_version.to_openssl()))
            .map_err(|e| Error::Tls(e.to_string()))?;
        builder
            .set_cipher_list(&self.ciphers)
            .map_err(|e| rejected("cipher list", &self.ciphers, e))?;
        builder
            .set_ciphersuites(&self.ciphersuites)
            .map_err(|e| rejected("TLS 1.3 cipher suite list", &self.ciphersuites, e))?;
        builder
            .set_groups_list(&self.groups)
            .map_err(|e| rejected("group list", &self.groups, e))?;
        if self.honor_cipher_order {
            builder.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
        } else {
            builder.clear_options(SslOptions::CIPHER_SERVER_PREFERENCE);
        }
        if !self.alpn_protocols.is_empty() {
            let wire = alpn_wire_format(&self.alpn_protocols)?;
            // Our first protocol the client also offers; none in common is
            // a fatal `no_application_protocol` alert (RFC 7301 section 3.2).
            builder.set_alpn_select_callback(move |_, client| {
                select_protocol(&wire, client).ok_or(AlpnError::ALERT_FATAL)
            });
        }
        Ok(())
    }
}

fn rejected(what: &str, value: &str, e: openssl::error::ErrorStack) -> Error {
    Error::invalid(format!("{what} {value:?} is not accepted by OpenSSL: {e}"))
}

/// Splits a length-prefixed protocol list into names.
fn protocols(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = wire;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let name = tail.get(..len as usize)?;
        rest = &tail[len as usize..];
        Some(name)
    })
}

/// Our most preferred protocol that the client offers, as a slice of the
/// client's list (what OpenSSL's callback must return).
fn select_protocol<'c>(ours: &[u8], client: &'c [u8]) -> Option<&'c [u8]> {
    protocols(ours).find_map(|wanted| protocols(client).find(|offered| *offered == wanted))
}

/// Protocol names as length-prefixed bytes, the format of the wire (and of
/// Node's Buffer form).
pub fn alpn_wire_format(protocols: &[String]) -> Result<Vec<u8>> {
    let mut wire = Vec::new();
    for protocol in protocols {
        if protocol.is_empty() || protocol.len() > 255 {
            return Err(Error::invalid(format!(
                "protocol name {protocol:?} must be 1 to 255 bytes"
            )));
        }
        wire.push(protocol.len() as u8);
        wire.extend_from_slice(protocol.as_bytes());
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lists_are_length_prefixed() {
        let wire = alpn_wire_format(&["h2".into(), "http/1.1".into()]).unwrap();
        assert_eq!(wire, b"\x02h2\x08http/1.1");
        assert!(alpn_wire_format(&["".into()]).is_err());
    }

    #[test]
    fn our_preference_wins_among_offered_protocols() {
        let ours = alpn_wire_format(&["h2".into(), "http/1.1".into()]).unwrap();
        assert_eq!(
            select_protocol(&ours, b"\x08http/1.1\x02h2"),
            Some(&b"h2"[..])
        );
        assert_eq!(
            select_protocol(&ours, b"\x08http/1.1"),
            Some(&b"http/1.1"[..])
        );
        assert_eq!(select_protocol(&ours, b"\x03foo"), None);
    }

    #[test]
    fn node_version_names_parse() {
        assert_eq!(
            TlsVersion::from_node_name("TLSv1.3").unwrap(),
            TlsVersion::Tls1_3
        );
        assert!(TlsVersion::from_node_name("SSLv3").is_err());
    }
}
