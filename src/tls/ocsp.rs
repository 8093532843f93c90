//! OCSP stapling: a DER-encoded OCSP response for a context's certificate,
//! checked once, then sent in the handshake to every client that asks for
//! it with the status_request extension (`openssl s_client -status`,
//! browsers). A client that does not ask gets none.
//!
//! nhttps neither fetches nor refreshes the response, and does not check
//! its signature, its dates or that it names the certificate: the program
//! gets a fresh one from its CA's responder (e.g. `openssl ocsp
//! -respout`) and swaps it in with a new context before the old one's
//! nextUpdate.

use std::sync::Arc;

use openssl::ocsp::{OcspResponse, OcspResponseStatus};
use openssl::ssl::SslContextBuilder;

use crate::error::{Error, Result};

/// Checks that `der` is a DER-encoded OCSP response that a client can use:
/// it parses, its status is "successful" and it holds a basic response.
/// The error is `Error::Certificate`, saying which of these failed.
pub fn check_ocsp_response(der: &[u8]) -> Result<()> {
    let refuse = |why: String| Err(Error::Certificate(format!("OCSP response: {why}")));
    if der.starts_with(b"-----BEGIN") {
        return refuse(
            "this is PEM text; give the DER bytes (`openssl ocsp -respout` writes DER)".into(),
        );
    }
    let response = match OcspResponse::from_der(der) {
        Ok(response) => response,
        Err(e) => return refuse(format!("not a DER-encoded OCSP response ({e})")),
    };
    let status = response.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        return refuse(format!(
            "its status is {}, not successful: there is nothing to staple",
            status_name(status)
        ));
    }
    if let Err(e) = response.basic() {
        return refuse(format!("holds no basic OCSP response ({e})"));
    }
    Ok(())
}

/// RFC 6960's name for an OCSPResponseStatus.
fn status_name(status: OcspResponseStatus) -> String {
    match status.as_raw() {
        0 => "successful".into(),
        1 => "malformedRequest".into(),
        2 => "internalError".into(),
        3 => "tryLater".into(),
        5 => "sigRequired".into(),
        6 => "unauthorized".into(),
        other => format!("unknown ({other})"),
    }
}

/// Staples `response` (already checked) to the handshakes of the context
/// being built, for clients that ask. OpenSSL asks the context that the
/// SNI callback switched to, so each context staples its own.
pub(crate) fn staple(builder: &mut SslContextBuilder, response: Arc<[u8]>) -> Result<()> {
    builder
        .set_status_callback(move |ssl| {
            ssl.set_ocsp_status(&response)?;
            Ok(true)
        })
        .map_err(|e| Error::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::check_ocsp_response;
    use crate::error::Error;

    fn refusal(der: &[u8]) -> String {
        match check_ocsp_response(der) {
            Err(Error::Certificate(message)) => message,
            other => panic!("expected a certificate error, got {other:?}"),
        }
    }

    #[test]
    fn bytes_that_are_not_an_ocsp_response_are_refused() {
        assert!(refusal(b"not DER at all").contains("not a DER-encoded OCSP response"));
        assert!(refusal(b"").contains("not a DER-encoded OCSP response"));
    }

    #[test]
    fn pem_text_is_refused_with_a_hint_for_der() {
        let message = refusal(b"-----BEGIN OCSP RESPONSE-----\n");
        assert!(message.contains("DER"), "{message}");
    }

    #[test]
    fn a_response_that_is_not_successful_is_refused() {
        // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED tryLater(3) }
        let message = refusal(&[0x30, 0x03, 0x0a, 0x01, 0x03]);
        assert!(message.contains("tryLater"), "{message}");
    }

    #[test]
    fn a_successful_response_without_a_basic_response_is_refused() {
        // successful(0), but no responseBytes.
        let message = refusal(&[0x30, 0x03, 0x0a, 0x01, 0x00]);
        assert!(message.contains("no basic OCSP response"), "{message}");
    }
}
